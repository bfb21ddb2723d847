// tickrt profile: a short in-process profile over real sockets answers every tick, its .hgrm files parse back
// with the counts of the summary, and summary.json holds every field. No speed assertions.
#include <catch2/catch.hpp>

#include <fstream>

#include "engine/hdr_histogram.h"
#include "engine/model_config.h"
#include "engine/profiler.h"
#include "tests/test_util.h"

namespace {

using tickrt::ProfileTransport;

void check_profile(ProfileTransport transport, bool plot) {
  tickrt::test::TempDir dir;
  tickrt::ProfileOptions o;
  std::string source;
  o.model_dir = tickrt::resolve_profile_model({}, dir.path, source);
  o.instruments = 10;
  o.rate = 2000;
  o.duration_s = 2;
  o.transport = transport;
  o.max_batch = 64;
  o.floor_round_trips = 2000;
  o.drain_timeout_s = 20;  // a loaded CI box may lag; the count check is what matters
  tickrt::ProfileResult r = tickrt::run_profile(o);
  r.model_source = source;
  INFO(tickrt::format_profile_report(r));

  // Every tick answered.
  REQUIRE(r.counts.sent == 4000);
  CHECK(r.counts.dropped_at_publisher == 0);
  CHECK(r.counts.engine_received == r.counts.sent);
  CHECK(r.counts.signals_received == r.counts.sent);
  CHECK(r.counts.missing == 0);
  CHECK(r.counts.missing_reason.empty());
  CHECK(r.counts.duplicate_signals == 0);
  CHECK(r.counts.unknown_signals == 0);
  CHECK(r.counts.probes >= 1);
  CHECK(r.drained);

  // Histogram counts: one sample per signal (the engine's also hold the probes); the CO-corrected e2e holds at
  // least one per tick; the floor one per round trip.
  const uint64_t engine_samples = r.counts.sent + r.counts.probes;
  for (const char* name : {"wire_in", "decode", "features", "model", "publish", "engine_total"})
    CHECK(static_cast<uint64_t>(r.at(name).hist.total_count()) == engine_samples);
  CHECK(static_cast<uint64_t>(r.at("wire_out").hist.total_count()) == r.counts.sent);
  CHECK(static_cast<uint64_t>(r.at("e2e_uncorrected").hist.total_count()) == r.counts.sent);
  CHECK(static_cast<uint64_t>(r.at("e2e").hist.total_count()) >= r.counts.sent);
  CHECK(r.at("floor_round_trip").hist.total_count() == 2000);
  CHECK(r.at("floor_one_way").hist.total_count() == 2000);
  // The whole path cannot be faster than a stage of it.
  CHECK(r.at("e2e_uncorrected").hist.max() >= r.at("model").hist.min());
  CHECK(r.at("e2e_uncorrected").hist.value_at_percentile(50) >= r.at("engine_total").hist.value_at_percentile(1));

  const auto written = tickrt::write_profile_files(r, dir.path, "test");
  CHECK(written.size() == r.series.size() + 1);
  for (const auto& s : r.series) {
    const tickrt::HgrmFile f = tickrt::read_hgrm((dir.path / (s.name + ".hgrm")).string());
    CHECK(f.total_count == s.hist.total_count());
    CHECK(f.max == Approx(s.hist.max() / 1000.0).epsilon(1e-3));
  }
  std::ifstream in(dir.path / "summary.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const char* key : {"command", "clock", "options", "endpoints", "message_bytes", "series", "counts", "sender",
                          "goals", "machine"})
    CHECK(j.contains(key));
  for (const char* key : {"nproc", "cpu", "kernel", "git_commit"}) CHECK(j["machine"].contains(key));
  CHECK(j["counts"]["sent"] == 4000);
  CHECK(j["counts"]["missing"] == 0);
  CHECK(j["options"]["transport"] == tickrt::to_string(transport));
  REQUIRE(j["series"].size() == r.series.size());
  for (const auto& s : j["series"]) {
    for (const char* key : {"name", "file", "count", "p50", "p90", "p99", "p99.9", "max"}) CHECK(s.contains(key));
    CHECK(s["p50"].get<double>() <= s["p99"].get<double>());
    CHECK(s["p99"].get<double>() <= s["max"].get<double>());
  }
  if (plot) {
    const std::string why = tickrt::plot_profile(dir.path);
    INFO(why);
    CHECK(why.empty());
    CHECK(std::filesystem::file_size(dir.path / "latency.png") > 10'000);
  }
}

}  // namespace

TEST_CASE("profile: inproc run answers every tick, files parse back", "[profile][slow]") {
  check_profile(ProfileTransport::inproc, false);
}

TEST_CASE("profile: tcp run answers every tick, files parse back, plot drawn", "[profile][slow]") {
  check_profile(ProfileTransport::tcp, true);
}

TEST_CASE("profile: built-in default architecture equals models/default.config.json", "[profile]") {
  std::ifstream in(tickrt::test::source_dir() + "/models/default.config.json");
  REQUIRE(in);
  nlohmann::json file = nlohmann::json::parse(in);
  file.erase("comment");
  const auto a = tickrt::ModelConfig::from_json(file, "models/default.config.json").to_json();
  const auto b = tickrt::ModelConfig::from_json(tickrt::builtin_default_model_config(), "built-in").to_json();
  CHECK(a == b);
}

TEST_CASE("profile: bad options are refused with the option named", "[profile]") {
  CHECK_THROWS_WITH(tickrt::parse_profile_transport("udp"), Catch::Contains("--transport udp"));
  tickrt::ProfileOptions o;
  o.model_dir = "/nonexistent-model";
  o.instruments = 0;
  CHECK_THROWS_WITH(tickrt::run_profile(o), Catch::Contains("--instruments"));
  o.instruments = 1;
  CHECK_THROWS_WITH(tickrt::run_profile(o), Catch::Contains("/nonexistent-model"));
}
