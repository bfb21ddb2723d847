// tickrt demo: the main job on embedded defaults. The bundled real EUR/USD and NZD/USD quotes of one FXCM day
// (or, with --synthetic, the generator) are replayed over real ZeroMQ tcp sockets into the live engine running
// the bundled model; a subscriber prints a live table of prices and predictions, and the run ends with the
// engine's per-stage latency and the end-to-end latency (publisher send -> subscriber receive).
#include <fmt/core.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/engine.h"
#include "engine/hdr_histogram.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/import.h"
#include "feeds/journal.h"
#include "feeds/open_loop.h"
#include "feeds/replay.h"
#include "feeds/zmq_sink.h"
#include "tools/command_registry.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct DemoOptions {
  std::string model;
  std::string day = "20140508";
  double seconds = 30;
  bool synthetic = false;
  int instruments = 20;
  double rate = 5000;
};

fs::path find_model(const std::string& given) {
  if (!given.empty()) return given;
  for (const fs::path& p : {fs::path("models/default"), fs::path(TICKRT_SOURCE_DIR) / "models/default"})
    if (fs::exists(p / "model.safetensors")) return p;
  throw std::runtime_error("no bundled model found at models/default (run from the repository root, or --model DIR)");
}

// What the demo's subscriber saw, per symbol (guarded by a mutex: this is the demo's display, not the engine).
struct Board {
  struct Row {
    double mid = 0;
    std::vector<float> prediction;
    uint32_t context_age = 0;
    uint64_t ticks = 0, signals = 0;
  };
  std::mutex mu;
  std::map<std::string, Row> rows;
  std::vector<int64_t> send_ns;  // [seq] the tick's publisher send time
  tickrt::HdrHistogram e2e{1, 60'000'000'000, 3};
  uint64_t ticks = 0, signals = 0;
};

void subscriber(zmq::context_t& ctx, const std::vector<std::string>& endpoints, Board& board,
                const std::atomic<bool>& stop) {
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "");
  sub.set(zmq::sockopt::rcvhwm, 0);
  sub.set(zmq::sockopt::rcvtimeo, 50);
  for (const auto& ep : endpoints) sub.connect(ep);
  tickrt::feeds::MessageDecoder dec;
  while (!stop.load()) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sub, std::back_inserter(parts)) || parts.size() != 2) continue;
    const int64_t now = tickrt::feeds::realtime_ns();
    const auto d = dec.decode(parts[0].to_string_view(), {static_cast<const uint8_t*>(parts[1].data()), parts[1].size()});
    if (!d.ok) continue;
    std::lock_guard lock(board.mu);
    if (d.kind == tickrt::feeds::PayloadKind::Tick) {
      auto& row = board.rows[std::string(d.tick.symbol)];
      row.mid = 0.5 * (d.tick.bid_price + d.tick.ask_price);
      ++row.ticks;
      ++board.ticks;
      if (board.send_ns.size() <= d.tick.seq) board.send_ns.resize(d.tick.seq + 1 + 4096, 0);
      board.send_ns[d.tick.seq] = d.tick.send_time_ns;
    } else {
      auto& row = board.rows[std::string(d.signal.symbol)];
      row.prediction.assign(d.signal.prediction, d.signal.prediction + d.signal.prediction_count);
      row.context_age = d.signal.context_age;
      ++row.signals;
      ++board.signals;
      if (d.signal.seq < board.send_ns.size() && board.send_ns[d.signal.seq] > 0)
        board.e2e.record(now - board.send_ns[d.signal.seq]);
    }
  }
}

void print_board(Board& board, const std::vector<std::string>& outputs, double progress) {
  std::lock_guard lock(board.mu);
  fmt::print("\n{:>5.1f}%  ticks {}  signals {}  end-to-end p50 {:.1f} us  p99 {:.1f} us\n", progress * 100,
             board.ticks, board.signals, board.e2e.value_at_percentile(50) / 1e3,
             board.e2e.value_at_percentile(99) / 1e3);
  std::string header = fmt::format("{:<10} {:>12} {:>8}", "symbol", "mid", "signals");
  for (const auto& o : outputs) header += fmt::format(" {:>10}", o);
  fmt::print("{} {:>5}\n", header, "age");
  int shown = 0;
  for (const auto& [sym, row] : board.rows) {
    if (++shown > 12) break;
    std::string line = fmt::format("{:<10} {:>12.6g} {:>8}", sym, row.mid, row.signals);
    for (size_t i = 0; i < outputs.size(); ++i)
      line += i < row.prediction.size() ? fmt::format(" {:>+10.4f}", row.prediction[i]) : fmt::format(" {:>10}", "-");
    fmt::print("{} {:>5}\n", line, row.context_age);
  }
}

int run_demo(const DemoOptions& o) {
  const fs::path model_dir = find_model(o.model);
  const tickrt::Model model = tickrt::Model::load(model_dir);
  const bool trained = fs::exists(model_dir / "train_log.json");
  fmt::print("tickrt demo: model {} ({}, {} parameters, hash {:016x})\n", model_dir.string(),
             trained ? "trained by tools/train/train_default.sh; report: " + (model_dir / "report.md").string()
                     : "UNTRAINED: random weights from init-model",
             model.parameter_count(), model.hash);
  const fs::path scratch = fs::temp_directory_path() / fmt::format("tickrt-demo-{}", ::getpid());
  fs::create_directories(scratch);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
  } cleanup{scratch};

  std::string journal_path;
  if (!o.synthetic) {
    tickrt::import::ImportOptions io;
    io.format = tickrt::import::Format::Fxcm;
    const std::string data = TICKRT_SHARED_DATA;
    io.inputs = {fmt::format("{}/fxcm_eurusd_{}_quote.csv", data, o.day), fmt::format("{}/fxcm_nzdusd_{}_quote.csv", data, o.day)};
    io.out = (scratch / "feed.ticks").string();
    const auto summary = tickrt::import::import_files(io);
    fmt::print("tickrt demo: feed: real FXCM quotes of {} (EUR/USD, NZD/USD; {} rows -> {})\n", o.day, summary.rows,
               io.out);
    journal_path = io.out;
  } else {
    fmt::print("tickrt demo: feed: synthetic, {} instruments at {} ticks/s for {} s\n", o.instruments, o.rate, o.seconds);
  }

  zmq::context_t ctx(1);
  tickrt::feeds::ZmqSinkOptions so;
  so.endpoints = tickrt::feeds::parse_endpoints({"@tcp://127.0.0.1:*"}, tickrt::feeds::SocketRole::Publisher);
  so.send_hwm = 0;
  tickrt::feeds::ZmqSink ticks(ctx, so);
  tickrt::EngineOptions eo;
  eo.model_dir = model_dir;
  eo.sub = {">" + ticks.endpoints().at(0)};
  eo.pub = {"@tcp://127.0.0.1:*"};
  eo.max_instruments = std::max(64, o.instruments * 2);
  eo.handle_signals = false;
  eo.quiet = true;
  eo.zmq_context = &ctx;
  tickrt::Engine engine(eo);
  fmt::print("tickrt demo: ticks on {}, signals on {}\n", ticks.endpoints().at(0), engine.pub_endpoints().at(0));

  Board board;
  std::atomic<bool> stop_sub{false};
  std::thread sub([&] { subscriber(ctx, {ticks.endpoints().at(0), engine.pub_endpoints().at(0)}, board, stop_sub); });
  if (!engine.wait_for_subscribers(1, 5s) || !ticks.wait_for_subscriptions(2, 5s))
    throw std::runtime_error("demo: the engine and the subscriber did not connect within 5 s");
  std::thread loop([&] { engine.run(); });

  uint64_t sent = 0;
  auto last_print = std::chrono::steady_clock::now();
  if (!o.synthetic) {
    tickrt::journal::JournalReader reader(journal_path);
    tickrt::journal::RecordView first, rec;
    int64_t t0 = 0, t1 = 0;
    if (reader.next(first)) t0 = t1 = first.recv_ns;
    while (reader.next(rec)) t1 = rec.recv_ns;
    reader.rewind();
    tickrt::feeds::ReplayOptions ro;
    ro.speed = std::max(1.0, (t1 - t0) / 1e9 / o.seconds);
    ro.stamp = true;
    ro.progress_interval_ns = 1'000'000'000;
    const auto report = tickrt::feeds::replay_journal(reader, ticks, ro, nullptr, [&](const auto& p) {
      print_board(board, model.config.outputs, p.fraction);
    });
    sent = report.sent;
  } else {
    tickrt::feeds::GeneratorConfig gc;
    gc.instruments = o.instruments;
    gc.rate = o.rate;
    tickrt::feeds::TickGenerator gen(gc);
    std::atomic<bool> done{false};
    std::thread printer([&] {
      while (!done.load()) {
        std::this_thread::sleep_for(50ms);
        if (std::chrono::steady_clock::now() - last_print > 1s) {
          last_print = std::chrono::steady_clock::now();
          print_board(board, model.config.outputs, std::min(1.0, double(board.ticks) / (o.rate * o.seconds)));
        }
      }
    });
    tickrt::feeds::OpenLoopOptions ol;
    ol.duration_s = o.seconds;
    const auto report = tickrt::feeds::run_open_loop(gen, ticks, ol);
    done = true;
    printer.join();
    sent = report.sent;
  }
  // Let the last signals arrive, then stop everything.
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(board.mu);
      if (board.signals >= engine.counters().accepted && engine.counters().submitted >= sent) break;
    }
    std::this_thread::sleep_for(30ms);
  }
  engine.request_stop();
  loop.join();
  stop_sub = true;
  sub.join();
  print_board(board, model.config.outputs, 1.0);

  const auto& c = engine.counters();
  fmt::print("\ntickrt demo: sent {} ticks; engine accepted {}, rejected {}; signals received {}\n", sent, c.accepted,
             c.submitted - c.accepted, board.signals);
  fmt::print("\nengine latency per stage (received -> decoded -> features -> model -> published), us:\n{}",
             engine.latencies().summary());
  fmt::print("end to end (publisher send -> subscriber receive over tcp), us: p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  "
             "p99.9 {:.1f}  max {:.1f}\n",
             board.e2e.value_at_percentile(50) / 1e3, board.e2e.value_at_percentile(90) / 1e3,
             board.e2e.value_at_percentile(99) / 1e3, board.e2e.value_at_percentile(99.9) / 1e3,
             board.e2e.max() / 1e3);
  if (!trained) fmt::print("note: the model is UNTRAINED; its predictions are noise.\n");
  return board.signals == c.accepted ? 0 : 1;
}

tickrt::cli::Registration reg("demo", "the main job on embedded defaults: replay -> engine -> subscriber, live",
                              [](CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  app.add_option("--model", o->model, "model directory (default: the bundled models/default)");
  app.add_option("--day", o->day, "FXCM day of ../shared/data to replay (YYYYMMDD)")->capture_default_str();
  app.add_option("--seconds", o->seconds, "wall time the replay is compressed into")->capture_default_str();
  app.add_flag("--synthetic", o->synthetic, "use the synthetic generator instead of the real sample");
  app.add_option("--instruments", o->instruments, "synthetic: instruments")->capture_default_str();
  app.add_option("--rate", o->rate, "synthetic: ticks per second")->capture_default_str();
  app.footer("Example: tickrt demo            (or: make demo)\n         tickrt demo --synthetic --rate 10000");
  return [o] { return run_demo(*o); };
});

}  // namespace
