// fuzz_make_seeds DIR: writes the seed inputs of every fuzz target into DIR/<target>/ (committed as fuzz/seeds),
// made with the project's own writers so that they are exactly what the real programs produce. Each file is
// named valid-* (the target must accept it) or invalid-* (it must refuse it cleanly); the regression test
// (tests/test_fuzz_regressions.cpp) holds them to that. Built only in the fuzz build (TICKRT_FUZZ=ON).
#include <fmt/core.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/feature_spec.h"
#include "engine/model.h"
#include "engine/model_config.h"
#include "engine/safetensors.h"
#include "engine/snapshot.h"
#include "feeds/journal_writer.h"
#include "feeds/tick_codec.h"

namespace fs = std::filesystem;
using namespace tickrt;

namespace {

fs::path g_out;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream f(g_out / target / name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error(fmt::format("cannot write seed {}/{}", target, name));
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string bytes_of(std::span<const uint8_t> s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

// [topic length][topic][payload]: the layout the decoder targets read.
std::string message(std::string_view topic, std::span<const uint8_t> payload) {
  return std::string(1, static_cast<char>(topic.size())) + std::string(topic) + bytes_of(payload);
}

feeds::TickEvent quote(uint64_t seq, double bid, double ask) {
  feeds::TickEvent t;
  t.seq = seq;
  t.event_time_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(seq) * 1'000'000;
  t.kind = feeds::TickKind::Quote;
  t.bid_price = bid, t.ask_price = ask, t.bid_size = 1.5, t.ask_size = 2.0;
  return t;
}

feeds::TickEvent trade(uint64_t seq) {
  feeds::TickEvent t = quote(seq, 99.5, 100.5);
  t.kind = feeds::TickKind::Trade;
  t.price = 100.0, t.size = 0.25, t.side = feeds::Side::Buy;
  return t;
}

void decoder_seeds() {
  feeds::MessageBuilder b;
  put("tick_decoder", "valid-quote", message("EURUSD", b.build_tick(quote(1, 1.1, 1.2))));
  put("tick_decoder", "valid-trade", message("BTCUSDT", b.build_tick(trade(2))));
  put("tick_decoder", "invalid-crossed-book", message("EURUSD", b.build_tick(quote(3, 1.3, 1.2))));
  const float prediction[3] = {0.5f, -1.25f, 3.0f};  // [H]
  feeds::SignalEvent s;
  s.seq = 7, s.event_time_ns = 1'700'000'000'000'000'000, s.recv_time_ns = s.event_time_ns + 1000;
  s.publish_time_ns = s.recv_time_ns + 5000, s.prediction = prediction, s.prediction_count = 3;
  s.context_age = 12, s.model_hash = 0x1234abcd5678ef90ULL;
  put("signal_decoder", "valid-signal", message("EURUSD", b.build_signal(s)));
  s.event_time_ns = 0;
  put("signal_decoder", "invalid-zero-time", message("EURUSD", b.build_signal(s)));
}

void journal_seeds(const fs::path& tmp) {
  const std::string path = (tmp / "seed.ticks").string();
  {
    journal::JournalWriter w(path, journal::WriterOptions{.truncate = true});
    feeds::MessageBuilder b;
    w.append(1'700'000'000'000'000'100, "EURUSD", b.build_tick(quote(1, 1.1, 1.2)));
    w.append(1'700'000'000'000'000'200, "BTCUSDT", b.build_tick(trade(2)));
    w.append(1'700'000'000'000'000'300, "EURUSD", b.build_tick(quote(3, 1.1, 1.3)));
    w.close();
  }
  const std::string j = slurp(path);
  put("journal_reader", "valid-three-records", std::string(1, '\0') + j);
  put("journal_reader", "valid-fix-crc-skip-corrupt", std::string(1, '\3') + j);
  put("journal_reader", "valid-torn-tail", std::string(1, '\0') + j.substr(0, j.size() - 13));
  std::string middle = j;
  middle[journal::kHeaderSize + 30] ^= 0x5a;  // a flipped byte in the first record: a corrupt middle
  put("journal_reader", "valid-corrupt-middle-skip", std::string(1, '\2') + middle);
  put("journal_reader", "invalid-bad-magic", std::string(1, '\0') + "TICKRTX" + j.substr(7));
}

ModelConfig tiny_config() {
  nlohmann::json j = {{"format", "tickrt-model/1"},
                      {"n_features", 4},
                      {"d_model", 8},
                      {"outputs", {"ret_10t", "ret_5s"}},
                      {"layers", {{{"type", "mamba"}}, {{"type", "attention"}, {"ffn", "moe"}},
                                  {{"type", "megalodon"}}, {{"type", "mamba"}, {"ffn", "mlp"}}}},
                      {"attention", {{"n_heads", 2}, {"window", 16}}},
                      {"moe", {{"n_experts", 2}, {"top_k", 1}}},
                      {"megalodon", {{"chunk_size", 8}, {"cema_ndim", 2}}}};
  return ModelConfig::from_json(j, "tiny config");
}

void model_seeds(const fs::path& tmp) {
  const ModelConfig cfg = tiny_config();
  put("model_config", "valid-tiny", cfg.to_json().dump(1));
  nlohmann::json bad = cfg.to_json();
  bad["d_model"] = -8;
  put("model_config", "invalid-negative-d-model", bad.dump());

  // Two small tensors of the tiny model and some metadata; the whole model would exceed the seed size limit.
  const Model m = init_model(cfg, 42);
  const fs::path st = tmp / "seed.safetensors";
  safetensors::write_f32(st, {{"final_layernorm.weight", &m.weights.at("final_layernorm.weight")},
                              {"head.weight", &m.weights.at("head.weight")}},
                         {{"format", "pt"}, {"producer", "fuzz_make_seeds"}});
  const std::string s = slurp(st);
  put("safetensors", "valid-two-tensors", s);
  put("safetensors", "invalid-truncated", s.substr(0, s.size() - 4));

  put("feature_spec", "valid-defaults", FeatureSpec::defaults().to_json().dump(1));
  put("feature_spec", "valid-untrained", FeatureSpec::untrained(4, {"ret_10t", "ret_5s"}).to_json().dump());
  nlohmann::json fbad = FeatureSpec::defaults().to_json();
  fbad["features"][0]["std"] = 0.0;
  put("feature_spec", "invalid-zero-std", fbad.dump());
}

void snapshot_seeds(const fs::path& tmp) {
  Snapshot s;
  s.model_hash = 0x0123456789abcdefULL;
  s.state_bytes = 16;
  for (int32_t slot = 0; slot < 2; ++slot) {
    SnapshotInstrument in;
    in.slot = slot;
    in.symbol = slot == 0 ? "EURUSD" : "";
    if (slot == 0) in.journal_position = 4096;
    in.state.assign(16, std::byte{static_cast<unsigned char>(0x10 + slot)});
    in.engine_state.assign(static_cast<size_t>(8 * slot), std::byte{0x7f});
    s.instruments.push_back(std::move(in));
  }
  const fs::path p = tmp / "seed.snap";
  write_snapshot(p, s);
  const std::string bytes = slurp(p);
  const std::string body = bytes.substr(0, bytes.size() - 8);  // the target appends the content hash itself
  put("snapshot", "valid-two-instruments", body);
  std::string bad_version = body;
  bad_version[8] = 2;
  put("snapshot", "invalid-version-2", bad_version);
}

// Importer inputs: a control byte (0: skip bad rows; see fuzz_targets.h) and a few rows in each format.
void importer_seeds() {
  const std::string skip(1, '\0'), keep(1, '\1'), fail(1, '\2');
  put("import_fxcm", "valid-rows", skip + "3074,1.38756,1.38758\n7826,1.38755,1.38758\n19317,1.38755,1.38759\n");
  put("import_fxcm", "valid-bad-rows-kept", keep + "3074,1.4,1.3\r\nx,1,2\n99999999,1,2\n5,nan,1\n");
  put("import_fxcm", "invalid-bad-row-fail", fail + "3074,1.38756\n");
  put("import_fxcm", "valid-day-from-input", std::string(1, '\4') + "20140506" + "3074,1.38756,1.38758\n");
  put("import_fxcm", "invalid-day-from-input", std::string(1, '\4') + "20141306" + "3074,1.38756,1.38758\n");
  const std::string trades =
      "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
      "binance-futures,BTCUSDT,1582329602111000,1582329602418379,42377944,buy,9682,0.132\n"
      "binance-futures,BTCUSDT,1582329602116000,1582329602418420,42377945,sell,9682,0.412\n"
      "binance-futures,BTCUSDT,1582329601150000,1582329602421528,42377946,buy,9682.5,0.296\n";
  put("import_tardis_trades", "valid-rows", skip + trades);
  put("import_tardis_trades", "invalid-missing-column", skip + "exchange,symbol,timestamp\nx,BTCUSDT,1\n");
  const std::string quotes =
      "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
      "binance-futures,BTCUSDT,1582329601096000,1582329603502092,0.84,9682,9681.92,0.67\n"
      "binance-futures,BTCUSDT,1582329603401000,1582329603522418,0.84,9682,9681.83,0.003\n"
      "binance-futures,BTCUSDT,1582329603542000,1582329603663688,0.84,9681,9681.44,0.363\n";
  put("import_tardis_quotes", "valid-rows", keep + quotes);
  put("import_tardis_quotes", "invalid-crossed-fail", fail + quotes);
  const std::string raw =
      R"(1723161253937085768 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT","b":[["61737.63","0.0"]],"a":[]}})"
      "\n"
      R"(1723161254087891268 {"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}})"
      "\n"
      R"(1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}})"
      "\n"
      R"(1723161254187896568 {"lastUpdateId":1,"bids":[],"asks":[]})"
      "\n";
  put("import_binance_raw", "valid-local-clock", skip + raw);
  put("import_binance_raw", "valid-exchange-clock", std::string(1, '\4') + raw);
  put("import_binance_raw", "invalid-bad-row-fail", fail + "123 {not json\n");
  // Generic csv: control bits 2 = trade, 3-4 = unit (1: ms), 5 = ';', 6 = --symbol, 7 = optional columns.
  put("import_csv", "valid-quotes-ms",
      std::string(1, '\x88') + "t,r,b,a,bs,as,sym\n1700000000000,1700000000001,1.1,1.2,5,6,EURUSD\n"
                               "1700000000002,1700000000003,1.1,1.25,5,6,EURUSD\n");
  put("import_csv", "valid-trades-s-symbol-option",
      std::string(1, '\xe4') + "t;r;p;q;side\n1700000000.5;1700000000.75;100;0.5;buy\n1700000001.25;1700000001.5;101;0.25;s\n");
  put("import_csv", "invalid-no-time-column", std::string(1, '\0') + "b,a,sym\n1,2,X\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR   (writes DIR/<target>/valid-* and invalid-*)\n");
    return 2;
  }
  g_out = argv[1];
  const fs::path tmp = fs::temp_directory_path() / fmt::format("tickrt-seeds-{}", ::getpid());
  fs::create_directories(tmp);
  try {
    decoder_seeds();
    journal_seeds(tmp);
    model_seeds(tmp);
    snapshot_seeds(tmp);
    importer_seeds();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
