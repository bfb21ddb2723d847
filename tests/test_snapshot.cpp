// Snapshots: take, write, read, restore into a fresh backend and continue == an uninterrupted run, bit for bit;
// refusals (other model, other state size, corrupt file) name the file.
#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "engine/snapshot.h"
#include "tests/backend_test_models.h"
#include "tests/test_util.h"

using json = nlohmann::json;

namespace {
tickrt::Model mixed_model(uint64_t seed) {
  return tickrt::test::small_model(
      tickrt::test::small_config(json::array({{{"type", "mamba"}},
                                              {{"type", "megalodon"}},
                                              {{"type", "attention"}, {"ffn", "moe"}}}),
                                 {{"attention", {{"refresh_every", 3}, {"refresh_lag", 2}}}}),
      seed);
}
}  // namespace

TEST_CASE("snapshot: restore and continue equals an uninterrupted run bit for bit", "[snapshot]") {
  tickrt::test::TempDir dir;
  const auto model = mixed_model(1);
  const int F = model.config.n_features, H = model.config.n_outputs();
  const std::vector<int32_t> slots{4, 1, 6};
  const auto x = tickrt::test::random_features(200, F * 3, 2);  // [200, 3 instruments x F]
  auto run = [&](tickrt::Backend& b, int64_t from, int64_t to) {
    std::vector<float> y(static_cast<size_t>((to - from) * 3 * H));
    for (int64_t t = from; t < to; ++t) b.step(slots.data(), 3, x.data() + t * 3 * F, y.data() + (t - from) * 3 * H, nullptr);
    return y;
  };
  auto uninterrupted = tickrt::make_backend("cpu", model, 8, 3);
  run(*uninterrupted, 0, 120);
  const auto expect = run(*uninterrupted, 120, 200);

  auto first = tickrt::make_backend("cpu", model, 8, 3);
  run(*first, 0, 120);
  auto snap = tickrt::capture_snapshot(*first, model.hash, slots);
  snap.instruments[0].symbol = "EURUSD";
  snap.instruments[1].journal_position = 12345;
  tickrt::write_snapshot(dir / "state.snap", snap);

  auto second = tickrt::make_backend("cpu", model, 8, 3);
  const auto read = tickrt::read_snapshot(dir / "state.snap");
  CHECK(read.instruments.size() == 3);
  CHECK(read.instruments[0].symbol == "EURUSD");
  CHECK(read.instruments[1].journal_position == std::optional<uint64_t>(12345));
  CHECK_FALSE(read.instruments[2].journal_position.has_value());
  tickrt::restore_snapshot(read, *second, model.hash, dir / "state.snap");
  CHECK(run(*second, 120, 200) == expect);
}

TEST_CASE("snapshot: refuses another model, another state size and corrupt files, naming the file", "[snapshot]") {
  tickrt::test::TempDir dir;
  const auto model = mixed_model(1);
  auto b = tickrt::make_backend("cpu", model, 2, 1);
  const std::string file = dir / "s.snap";
  tickrt::write_snapshot(file, tickrt::capture_snapshot(*b, model.hash, {0, 1}));
  const auto snap = tickrt::read_snapshot(file);
  CHECK_THROWS_WITH(tickrt::restore_snapshot(snap, *b, model.hash + 1, file),
                    Catch::Contains(file) && Catch::Contains("model hash"));
  const auto other = tickrt::test::small_model(tickrt::test::small_config(json::array({{{"type", "mamba"}}})));
  auto ob = tickrt::make_backend("cpu", other, 2, 1);
  CHECK_THROWS_WITH(tickrt::restore_snapshot(snap, *ob, model.hash, file),
                    Catch::Contains(file) && Catch::Contains("bytes"));
  auto small = tickrt::make_backend("cpu", model, 1, 1);
  CHECK_THROWS_WITH(tickrt::restore_snapshot(snap, *small, model.hash, file), Catch::Contains("slot 1"));
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  CHECK_THROWS_WITH(tickrt::read_snapshot(file), Catch::Contains(file) && Catch::Contains("hash mismatch"));
  CHECK_THROWS_WITH(tickrt::read_snapshot(dir / "missing.snap"), Catch::Contains("missing.snap"));
}
