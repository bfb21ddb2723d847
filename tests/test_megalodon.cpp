// The CPU megalodon block's own consistency: state layout, step vs sequence, sequences split with carried
// state, batches of instruments with different histories, resets, and setup errors (MODEL-SPEC §6-8).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/state_layout.h"
#include "test_megalodon_util.h"

namespace {

using tickrt::test::MegaShape;
using tickrt::test::StateBuf;

struct Block {
  MegaShape shape;
  tickrt::ModelConfig cfg;
  tickrt::Weights weights;
  std::unique_ptr<tickrt::cpu::Layer> layer;
  Block(const MegaShape& s, int max_batch, uint32_t seed = 3)
      : shape(s),
        cfg(tickrt::test::megalodon_config(s)),
        weights(tickrt::test::megalodon_weights(s, seed)),
        layer(tickrt::cpu::make_megalodon_layer(cfg, weights, 0, max_batch)) {}
};

// Steps one instrument through x [T, D] tick by tick; returns the outputs [T, D].
std::vector<float> run_steps(tickrt::cpu::Layer& layer, StateBuf& state, const std::vector<float>& x, int D) {
  std::vector<float> h = x;
  std::byte* st = state.get();
  for (std::size_t t = 0; t * D < h.size(); ++t) layer.step(1, &st, h.data() + t * D);
  return h;
}

// The float parts of a state (TimestepNorm moments, CEMA h, chunk K/V), for comparisons within tolerance;
// the integer parts (counts, chunk position) are compared exactly by `same_counters`.
std::vector<float> state_floats(const tickrt::cpu::MegalodonStateLayout& l, const MegaShape& s,
                                StateBuf& st) {
  std::vector<float> out;
  const auto* groups = reinterpret_cast<const tickrt::cpu::TimestepGroupState*>(st.get() + l.timenorm);
  for (int g = 0; g < s.G; ++g) out.insert(out.end(), {groups[g].mean, groups[g].var});
  const auto* f = reinterpret_cast<const float*>(st.get() + l.cema_h);
  out.insert(out.end(), f, f + (l.total - l.cema_h) / sizeof(float));
  return out;
}

bool same_counters(const tickrt::cpu::MegalodonStateLayout& l, const MegaShape& s, StateBuf& a, StateBuf& b) {
  const auto* ga = reinterpret_cast<const tickrt::cpu::TimestepGroupState*>(a.get() + l.timenorm);
  const auto* gb = reinterpret_cast<const tickrt::cpu::TimestepGroupState*>(b.get() + l.timenorm);
  for (int g = 0; g < s.G; ++g)
    if (ga[g].count != gb[g].count) return false;
  return std::memcmp(a.get() + l.chunk_len, b.get() + l.chunk_len, sizeof(int64_t)) == 0;
}

tickrt::cpu::MegalodonStateLayout layout_of(const Block& b) {
  return tickrt::cpu::MegalodonStateLayout::of(tickrt::cpu::MegalodonDims::from(b.cfg));
}

void check_sequence_matches_step(const MegaShape& s, int64_t T) {
  Block b(s, 1);
  const auto x = tickrt::test::megalodon_inputs(T, s.D, 17);
  StateBuf stepped(b.layer->state_bytes()), sequenced(b.layer->state_bytes());
  const auto want = run_steps(*b.layer, stepped, x, s.D);
  std::vector<float> got = x;
  b.layer->sequence(sequenced.get(), got.data(), T);
  INFO("D " << s.D << " C " << s.C << " heads " << s.heads << " G " << s.G << " swiglu " << s.swiglu);
  CHECK(tickrt::test::max_abs_diff(got, x) > 0.1);  // the block changed its input
  CHECK(tickrt::test::max_abs_diff(got, want) <= 1e-5);
  const auto l = layout_of(b);
  CHECK(same_counters(l, s, stepped, sequenced));
  CHECK(tickrt::test::max_abs_diff(state_floats(l, s, stepped), state_floats(l, s, sequenced)) <= 1e-5);
}

}  // namespace

TEST_CASE("megalodon: state layout is 64-byte aligned, sized by the config, zero at reset", "[megalodon]") {
  MegaShape s;  // D 32, Z 32, V 48, n 8, C 8, G 2
  const auto cfg = tickrt::test::megalodon_config(s);
  const auto l = tickrt::cpu::MegalodonStateLayout::of(tickrt::cpu::MegalodonDims::from(cfg));
  CHECK(l.timenorm == 0);
  CHECK(l.chunk_len == 2 * 16);
  CHECK(l.cema_h == 2 * 16 + 8);
  CHECK(l.keys == l.cema_h + 32 * 8 * 2 * 4);
  CHECK(l.values == l.keys + 8 * 32 * 4);
  CHECK(l.total == (l.values + 8 * 48 * 4 + 63) / 64 * 64);
  CHECK(l.total % 64 == 0);
  CHECK(l.total == tickrt::layer_state_bytes(cfg, 0));
  CHECK(tickrt::cpu::megalodon_state_bytes(cfg) == l.total);
  Block b(s, 4);
  CHECK(b.layer->state_bytes() == l.total);
  CHECK(b.layer->context_age(nullptr) == 0);

  // The size is the shared formula's (engine/state_layout.h) for awkward widths too.
  for (MegaShape odd :
       {MegaShape{8, 6, 3, 3, 3, 5, 4, 8, false}, MegaShape{12, 4, 5, 1, 1, 7, 3, 12, true}}) {
    const auto c = tickrt::test::megalodon_config(odd);
    CHECK(tickrt::cpu::megalodon_state_bytes(c) == tickrt::layer_state_bytes(c, 0));
    Block ob(odd, 2);
    CHECK(ob.layer->state_bytes() == tickrt::layer_state_bytes(c, 0));
  }

  // Defaults (z_dim, value_dim, norm_groups, ffn_hidden = 0) resolve to d_model-based widths.
  tickrt::ModelConfig d = cfg;
  d.megalodon = tickrt::MegalodonConfig{};
  const auto dims = tickrt::cpu::MegalodonDims::from(d);
  CHECK(dims.Z == 32);
  CHECK(dims.V == 32);
  CHECK(dims.G == 1);
  CHECK(dims.F == 128);
  CHECK(dims.C == 64);
  CHECK(dims.n == 16);
}

TEST_CASE("megalodon: sequence matches step over several chunks (C 8, heads 2, groups 2)", "[megalodon]") {
  check_sequence_matches_step(MegaShape{}, 301);
}

TEST_CASE("megalodon: sequence matches step with the default chunk and widths", "[megalodon]") {
  MegaShape s;
  s.D = 64, s.Z = 64, s.V = 64, s.heads = 1, s.n = 16, s.C = 64, s.G = 1, s.F = 256;
  check_sequence_matches_step(s, 320);
}

TEST_CASE("megalodon: sequence matches step without swiglu, 4 heads, 4 groups", "[megalodon]") {
  MegaShape s;
  s.heads = 4, s.G = 4, s.swiglu = false, s.C = 5, s.V = 32;
  check_sequence_matches_step(s, 300);
}

TEST_CASE("megalodon: sequence matches step for odd widths (linear tails, dv 1, one CEMA component)",
          "[megalodon]") {
  check_sequence_matches_step(MegaShape{8, 6, 3, 3, 3, 5, 4, 8, false}, 300);
  check_sequence_matches_step(MegaShape{12, 4, 5, 1, 1, 7, 3, 12, true}, 300);
}

TEST_CASE("megalodon: sequences split at odd points carry state exactly", "[megalodon]") {
  MegaShape s;
  s.C = 16;
  Block b(s, 1);
  const int64_t T = 333;
  const auto x = tickrt::test::megalodon_inputs(T, s.D, 23);
  StateBuf whole_state(b.layer->state_bytes()), split_state(b.layer->state_bytes());
  std::vector<float> whole = x, split = x;
  b.layer->sequence(whole_state.get(), whole.data(), T);
  // Pieces start mid-chunk, end mid-chunk, span several chunks, and include single ticks and an empty one.
  int64_t t = 0;
  for (int64_t len : {37, 1, 0, 16, 5, 64, 37, 3, 100}) {
    REQUIRE(t + len <= T);
    b.layer->sequence(split_state.get(), split.data() + t * s.D, len);
    t += len;
  }
  b.layer->sequence(split_state.get(), split.data() + t * s.D, T - t);
  CHECK(tickrt::test::max_abs_diff(split, whole) <= 1e-5);
  const auto l = layout_of(b);
  CHECK(same_counters(l, s, whole_state, split_state));
  CHECK(tickrt::test::max_abs_diff(state_floats(l, s, whole_state), state_floats(l, s, split_state)) <= 1e-5);
  // The chunk position is ticks since reset mod C; cache rows past it are empty.
  const int64_t pos = *reinterpret_cast<const int64_t*>(whole_state.get() + l.chunk_len);
  CHECK(pos == T % s.C);
  const auto* keys = reinterpret_cast<const float*>(whole_state.get() + l.keys);      // [C, Z]
  const auto* values = reinterpret_cast<const float*>(whole_state.get() + l.values);  // [C, V]
  CHECK(std::all_of(keys + pos * s.Z, keys + s.C * s.Z, [](float v) { return v == 0.0f; }));
  CHECK(std::all_of(values + pos * s.V, values + s.C * s.V, [](float v) { return v == 0.0f; }));
  CHECK(std::any_of(keys, keys + pos * s.Z, [](float v) { return v != 0.0f; }));
}

TEST_CASE("megalodon: test weights have exactly the names and shapes of expected_tensors", "[megalodon]") {
  for (bool swiglu : {true, false}) {
    MegaShape s;
    s.swiglu = swiglu;
    const auto cfg = tickrt::test::megalodon_config(s);
    const auto w = tickrt::test::megalodon_weights(s, 1);
    std::size_t layer_tensors = 0;
    for (const auto& spec : tickrt::expected_tensors(cfg)) {
      if (spec.name.rfind("layers.0.", 0) != 0) continue;
      ++layer_tensors;
      INFO(spec.name);
      REQUIRE(w.tensors.count(spec.name) == 1);
      CHECK(w.tensors.at(spec.name).shape == spec.shape);
    }
    CHECK(layer_tensors == w.tensors.size());
  }
}

TEST_CASE("megalodon: a batch of instruments with different histories equals each stepped alone",
          "[megalodon]") {
  MegaShape s;
  const int k = 6;
  Block batched(s, k), alone(s, 1);
  std::vector<StateBuf> batch_states(k, StateBuf(batched.layer->state_bytes()));
  std::vector<StateBuf> alone_states(k, StateBuf(alone.layer->state_bytes()));
  // Instrument i first sees 7·i + 3 ticks of its own history, so positions inside the chunk all differ.
  for (int i = 0; i < k; ++i) {
    const auto warm = tickrt::test::megalodon_inputs(7 * i + 3, s.D, 100 + i);
    std::vector<float> h1 = warm, h2 = warm;
    batched.layer->sequence(batch_states[i].get(), h1.data(), 7 * i + 3);
    alone.layer->sequence(alone_states[i].get(), h2.data(), 7 * i + 3);
  }
  const int64_t T = 40;
  const auto x = tickrt::test::megalodon_inputs(T * k, s.D, 7);  // [T, k, D]
  std::vector<std::byte*> ptrs(k);
  for (int i = 0; i < k; ++i) ptrs[i] = batch_states[i].get();
  double worst = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> hb(x.begin() + t * k * s.D, x.begin() + (t + 1) * k * s.D);  // [k, D]
    batched.layer->step(k, ptrs.data(), hb.data());
    for (int i = 0; i < k; ++i) {
      std::vector<float> hi(hb.size() / k);
      std::copy_n(x.begin() + (t * k + i) * s.D, s.D, hi.begin());
      std::byte* st = alone_states[i].get();
      alone.layer->step(1, &st, hi.data());
      worst = std::max(worst, tickrt::test::max_abs_diff(
                                  hi, std::vector<float>(hb.begin() + i * s.D, hb.begin() + (i + 1) * s.D)));
    }
  }
  CHECK(worst <= 1e-5);
}

TEST_CASE("megalodon: a zeroed state restarts the instrument exactly", "[megalodon]") {
  MegaShape s;
  Block b(s, 1);
  const auto x = tickrt::test::megalodon_inputs(50, s.D, 31);
  StateBuf fresh(b.layer->state_bytes()), used(b.layer->state_bytes());
  const auto want = run_steps(*b.layer, fresh, x, s.D);
  const auto history = tickrt::test::megalodon_inputs(77, s.D, 32);
  run_steps(*b.layer, used, history, s.D);
  CHECK(tickrt::test::max_abs_diff(run_steps(*b.layer, used, x, s.D), want) > 1e-3);  // history matters
  used.reset();
  run_steps(*b.layer, used, history, s.D);
  used.reset();
  const auto got = run_steps(*b.layer, used, x, s.D);
  CHECK(got == want);  // bit for bit
}

TEST_CASE("megalodon: foreign chunk position in the state is contained", "[megalodon]") {
  MegaShape s;
  Block b(s, 1);
  const auto l = layout_of(b);
  StateBuf st(b.layer->state_bytes());
  for (int64_t bad : {int64_t{-5}, int64_t{s.C}, int64_t{1} << 40}) {
    st.reset();
    std::memcpy(st.get() + l.chunk_len, &bad, sizeof bad);
    auto x = tickrt::test::megalodon_inputs(20, s.D, 9);
    b.layer->sequence(st.get(), x.data(), 20);
    int64_t pos;
    std::memcpy(&pos, st.get() + l.chunk_len, sizeof pos);
    CHECK(pos == 20 % s.C);  // treated as an empty chunk
    for (float v : x) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("megalodon: setup errors name the tensor or field at fault", "[megalodon]") {
  MegaShape s;
  auto cfg = tickrt::test::megalodon_config(s);
  auto w = tickrt::test::megalodon_weights(s, 1);

  auto missing = w;
  missing.tensors.erase("layers.0.mega.cema.theta");
  CHECK_THROWS_WITH(tickrt::cpu::make_megalodon_layer(cfg, missing, 0, 1),
                    Catch::Contains("layers.0.mega.cema.theta"));

  auto misshaped = w;
  misshaped.tensors["layers.0.mega.wv.weight"].shape = {s.D, s.V};
  CHECK_THROWS_WITH(tickrt::cpu::make_megalodon_layer(cfg, misshaped, 0, 1),
                    Catch::Contains("layers.0.mega.wv.weight") && Catch::Contains("expected [48, 32]"));

  auto odd = cfg;
  odd.megalodon.n_heads = 16;  // dz = 2 is fine; 32 heads would give dz = 1
  CHECK_NOTHROW(tickrt::cpu::MegalodonDims::from(odd));
  odd.megalodon.n_heads = 32;
  odd.megalodon.value_dim = 32;
  CHECK_THROWS_WITH(tickrt::cpu::MegalodonDims::from(odd), Catch::Contains("megalodon.z_dim"));
  auto groups = cfg;
  groups.megalodon.norm_groups = 5;
  CHECK_THROWS_WITH(tickrt::cpu::MegalodonDims::from(groups), Catch::Contains("megalodon.norm_groups"));
  auto not_mega = cfg;
  not_mega.layers[0].type = tickrt::LayerType::mamba;
  CHECK_THROWS_WITH(tickrt::cpu::make_megalodon_layer(not_mega, w, 0, 1), Catch::Contains("layers[0]"));
}
