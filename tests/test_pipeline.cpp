// The pipeline's wave logic with a counting backend: every accepted tick gets exactly one signal, ticks of
// one instrument are never reordered, a second tick of an instrument waits for the next wave, and rejected
// ticks touch no state.
#include <catch2/catch.hpp>

#include <fmt/core.h>

#include <map>

#include "engine/pipeline.h"

using namespace tickrt;

namespace {

// A backend whose "model" counts steps per slot: y[0] = steps so far (after this one), y[1] = x[0].
class CountingBackend : public Backend {
 public:
  CountingBackend(int instruments, int batch) : steps_(instruments, 0), instruments_(instruments), batch_(batch) {}
  std::string name() const override { return "counting"; }
  std::size_t state_bytes() const override { return sizeof(int64_t); }
  int max_instruments() const override { return instruments_; }
  int max_batch() const override { return batch_; }
  void reset(int32_t slot) override { steps_[slot] = 0; }
  void step(const int32_t* slots, int k, const float* x, float* y, StepOutput* info) override {
    batch_sizes.push_back(k);
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < i; ++j) REQUIRE(slots[j] != slots[i]);  // distinct within a wave
      y[i * 2 + 0] = static_cast<float>(++steps_[slots[i]]);
      y[i * 2 + 1] = x[i * n_features];
      if (info) info[i] = {};
    }
  }
  void sequence(int32_t, const float*, int64_t, float*) override {}
  void read_state(int32_t slot, std::byte* out) const override { std::memcpy(out, &steps_[slot], 8); }
  void write_state(int32_t slot, const std::byte* in) override { std::memcpy(&steps_[slot], in, 8); }
  std::vector<int> batch_sizes;
  int n_features = 0;

 private:
  std::vector<int64_t> steps_;
  int instruments_, batch_;
};

struct Recorder : SignalSink {
  std::vector<std::tuple<std::string, uint64_t, float, float, uint32_t>> got;
  void on_signal(const SignalOut& s) override {
    got.emplace_back(std::string(s.symbol), s.seq, s.prediction[0], s.prediction[1], s.flags);
  }
};

Model tiny_model(int F) {
  Model m;
  m.config.n_features = F;
  m.config.d_model = 4;
  m.config.outputs = {"a", "b"};
  return m;
}

TickIn quote(std::string_view sym, uint64_t seq, int64_t t_ns, double mid) {
  TickIn in;
  in.symbol = sym;
  in.seq = seq;
  in.tick.event_time_ns = t_ns;
  in.tick.bid = mid - 0.01;
  in.tick.ask = mid + 0.01;
  return in;
}

}  // namespace

TEST_CASE("pipeline: waves keep per-instrument order and answer every tick once", "[engine]") {
  FeatureSpec spec = FeatureSpec::defaults();
  spec.features.resize(1);  // mid_ret_bp only
  spec.outputs.resize(2);
  Model model = tiny_model(1);
  CountingBackend backend(8, 16);
  backend.n_features = 1;
  Pipeline p(model, spec, backend, {8, 16, 0});
  Recorder rec;
  // A A B A C B: waves {A,B,C}, {A,B}, {A}
  const std::vector<std::string_view> syms = {"A", "A", "B", "A", "C", "B"};
  for (size_t i = 0; i < syms.size(); ++i) REQUIRE(p.submit(quote(syms[i], i + 1, 1000 * (i + 1), 1.0 + i * 0.001)));
  p.flush(rec);
  REQUIRE(rec.got.size() == 6);
  CHECK(backend.batch_sizes == std::vector<int>{3, 2, 1});
  std::map<std::string, std::vector<uint64_t>> seqs;
  std::map<std::string, float> steps;
  for (auto& [sym, seq, y0, y1, flags] : rec.got) {
    seqs[sym].push_back(seq);
    CHECK(y0 == ++steps[sym]);  // the n-th signal of an instrument saw exactly n steps
    (void)y1;
    (void)flags;
  }
  CHECK(seqs["A"] == std::vector<uint64_t>{1, 2, 4});
  CHECK(seqs["B"] == std::vector<uint64_t>{3, 6});
  CHECK(seqs["C"] == std::vector<uint64_t>{5});
  CHECK(p.counters().signals == 6);
  CHECK(p.counters().waves == 3);
}

TEST_CASE("pipeline: rejected ticks are counted and change nothing", "[engine]") {
  FeatureSpec spec = FeatureSpec::defaults();
  spec.features.resize(1);
  spec.outputs.resize(2);
  Model model = tiny_model(1);
  CountingBackend backend(2, 4);
  backend.n_features = 1;
  Pipeline p(model, spec, backend, {2, 4, 0});
  Recorder rec;
  REQUIRE(p.submit(quote("A", 1, 5000, 1.0)));
  CHECK_FALSE(p.submit(quote("A", 2, 4000, 1.0)));  // back in time
  TickIn nan_tick = quote("A", 3, 6000, 1.0);
  nan_tick.tick.bid = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(p.submit(nan_tick));
  REQUIRE(p.submit(quote("B", 4, 6000, 2.0)));
  CHECK_FALSE(p.submit(quote("C", 5, 6000, 3.0)));  // past capacity: never evicts A or B
  CHECK_FALSE(p.submit(quote("", 6, 6000, 3.0)));
  REQUIRE(p.submit(quote("A", 7, 7000, 1.01)));
  p.flush(rec);
  REQUIRE(rec.got.size() == 3);
  const auto& c = p.counters();
  CHECK(c.rejects[size_t(PipelineReject::time_backwards)] == 1);
  CHECK(c.rejects[size_t(PipelineReject::no_price)] == 1);
  CHECK(c.rejects[size_t(PipelineReject::over_capacity)] == 1);
  CHECK(c.rejects[size_t(PipelineReject::bad_symbol)] == 1);
  CHECK(c.accepted == 3);
  // A's second accepted tick sees the mid return from its first accepted tick, unaffected by the rejects.
  CHECK(std::get<3>(rec.got.back()) == Approx(1e4 * std::log(1.01 / 1.0)));
  CHECK(p.instruments().size() == 2);
}

TEST_CASE("pipeline: session gap resets the model state and flags the signal", "[engine]") {
  FeatureSpec spec = FeatureSpec::defaults();
  spec.features.resize(1);
  spec.outputs.resize(2);
  Model model = tiny_model(1);
  CountingBackend backend(2, 4);
  backend.n_features = 1;
  Pipeline p(model, spec, backend, {2, 4, 10.0});
  Recorder rec;
  const int64_t s = 1'000'000'000;
  p.submit(quote("A", 1, 1 * s, 1.0));
  p.submit(quote("A", 2, 2 * s, 1.0));
  p.submit(quote("A", 3, 30 * s, 1.0));  // 28 s gap > 10 s
  p.flush(rec);
  REQUIRE(rec.got.size() == 3);
  CHECK(std::get<2>(rec.got[1]) == 2.0f);
  CHECK(std::get<2>(rec.got[2]) == 1.0f);  // state was reset before the step
  CHECK(std::get<4>(rec.got[2]) == kFlagStateReset);
  CHECK(p.counters().session_resets == 1);
}
