// tickrt subscribe: a reference client. Prints ticks and signals (told apart by their file identifier) as a
// table or as JSON lines, verifies each, and at exit reports per-symbol counts and rejected messages by reason.
#include <fmt/core.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "feeds/endpoint.h"
#include "feeds/tick_codec.h"
#include "feeds/zmq_source.h"
#include "tools/command_registry.h"
#include "tools/curve_cli.h"

namespace {

using namespace tickrt::feeds;

struct SubscribeOptions {
  std::vector<std::string> sub;
  std::vector<std::string> topics;
  bool json = false;
  bool quiet = false;
  std::uint64_t count = 0;
  double timeout_s = 0;
  int receive_hwm = 1'000'000;
  tickrt::cli::CurveClientFiles curve;
};

struct SymbolStats {
  std::uint64_t quotes = 0, trades = 0, signals = 0;
  std::uint64_t first_seq = 0, last_seq = 0;
};

// "14:30:00.123456789" (UTC time of day) for the table.
std::string time_of_day(std::int64_t ns) {
  const std::int64_t s = ns / 1'000'000'000;
  return fmt::format("{:02}:{:02}:{:02}.{:09}", (s / 3600) % 24, (s / 60) % 60, s % 60, ns % 1'000'000'000);
}

std::string_view side_name(Side s) { return s == Side::Buy ? "buy" : s == Side::Sell ? "sell" : "-"; }

class Printer final : public FeedHandler {
 public:
  Printer(const SubscribeOptions& o, boost::asio::io_context& io) : o_(o), io_(io) {}

  void on_tick(const TickEvent& t) override {
    auto& st = stats_for(t.symbol, t.seq);
    (t.kind == TickKind::Trade ? st.trades : st.quotes)++;
    if (!o_.quiet) o_.json ? print_json(t) : print_table(t);
    count_one();
  }

  void on_signal(const SignalEvent& s) override {
    stats_for(s.symbol, s.seq).signals++;
    if (!o_.quiet) o_.json ? print_json(s) : print_table(s);
    count_one();
  }

  void set_source(ZmqSource* source) { source_ = source; }
  bool count_reached() const { return o_.count > 0 && valid_ >= o_.count; }
  std::uint64_t valid() const { return valid_; }

  // Per-symbol table and the sequence check; to `out`.
  void summary(std::FILE* out) const {
    fmt::print(out, "{:<10} {:>10} {:>10} {:>10} {:>12} {:>12}\n", "symbol", "quotes", "trades", "signals",
               "first_seq", "last_seq");
    for (const auto& [sym, st] : per_symbol_)
      fmt::print(out, "{:<10} {:>10} {:>10} {:>10} {:>12} {:>12}\n", sym, st.quotes, st.trades, st.signals,
                 st.first_seq, st.last_seq);
    if (valid_ > 0) {
      // Sequence numbers are per publisher, across instruments: without a topic filter, a gap is a loss.
      const std::uint64_t span = max_seq_ - min_seq_ + 1;
      fmt::print(out, "total {} messages, seq {}..{}{}\n", valid_, min_seq_, max_seq_,
                 o_.topics.empty() ? fmt::format(", missing {}", span > valid_ ? span - valid_ : 0) : "");
    }
  }

 private:
  SymbolStats& stats_for(std::string_view symbol, std::uint64_t seq) {
    auto it = per_symbol_.find(symbol);
    if (it == per_symbol_.end()) it = per_symbol_.emplace(std::string(symbol), SymbolStats{}).first;
    auto& st = it->second;
    if (st.first_seq == 0) st.first_seq = seq;
    st.last_seq = seq;
    min_seq_ = valid_ == 0 ? seq : std::min(min_seq_, seq);
    max_seq_ = std::max(max_seq_, seq);
    return st;
  }

  void count_one() {
    ++valid_;
    if (count_reached()) {
      if (source_) source_->stop();  // ends the drain now: not one message more than asked for
      io_.stop();
    }
  }

  void print_table(const TickEvent& t) {
    if (header_ != 1) {
      fmt::print("{:>10} {:<8} {:<5} {:<18} {:>8} {:>12} {:>12} {:>8} {:>12} {:>8} {:<4} {:>10}\n", "seq", "symbol",
                 "kind", "event_time", "bid_sz", "bid", "ask", "ask_sz", "price", "size", "side", "latency_us");
      header_ = 1;
    }
    const bool trade = t.kind == TickKind::Trade;
    fmt::print("{:>10} {:<8} {:<5} {:<18} {:>8} {:>12.4f} {:>12.4f} {:>8} {:>12} {:>8} {:<4} {:>10.1f}\n", t.seq,
               t.symbol, trade ? "trade" : "quote", time_of_day(t.event_time_ns), t.bid_size, t.bid_price,
               t.ask_price, t.ask_size, trade ? fmt::format("{:.4f}", t.price) : "", trade ? fmt::format("{}", t.size) : "",
               side_name(t.side), t.send_time_ns > 0 ? (t.recv_time_ns - t.send_time_ns) * 1e-3 : 0.0);
  }

  void print_table(const SignalEvent& s) {
    if (header_ != 2) {
      fmt::print("{:>10} {:<8} {:<18} {:>6} {:>5} {:>10}  {}\n", "seq", "symbol", "event_time", "age", "flags",
                 "latency_us", "prediction");
      header_ = 2;
    }
    std::string pred;
    for (std::uint32_t i = 0; i < s.prediction_count; ++i) pred += fmt::format("{}{:+.5f}", i ? " " : "", s.prediction[i]);
    fmt::print("{:>10} {:<8} {:<18} {:>6} {:>5} {:>10.1f}  {}\n", s.seq, s.symbol, time_of_day(s.event_time_ns),
               s.context_age, s.flags, (s.local_recv_time_ns - s.publish_time_ns) * 1e-3, pred);
  }

  void print_json(const TickEvent& t) {
    nlohmann::json j = {{"type", "tick"},
                        {"symbol", t.symbol},
                        {"seq", t.seq},
                        {"event_time_ns", t.event_time_ns},
                        {"send_time_ns", t.send_time_ns},
                        {"recv_time_ns", t.recv_time_ns},
                        {"kind", t.kind == TickKind::Trade ? "trade" : "quote"},
                        {"price", t.price},
                        {"size", t.size},
                        {"side", t.side == Side::Buy ? "buy" : t.side == Side::Sell ? "sell" : "unknown"},
                        {"bid_price", t.bid_price},
                        {"bid_size", t.bid_size},
                        {"ask_price", t.ask_price},
                        {"ask_size", t.ask_size}};
    fmt::print("{}\n", j.dump());
  }

  void print_json(const SignalEvent& s) {
    nlohmann::json j = {{"type", "signal"},
                        {"symbol", s.symbol},
                        {"seq", s.seq},
                        {"event_time_ns", s.event_time_ns},
                        {"recv_time_ns", s.recv_time_ns},
                        {"publish_time_ns", s.publish_time_ns},
                        {"local_recv_time_ns", s.local_recv_time_ns},
                        {"prediction", std::vector<float>(s.prediction, s.prediction + s.prediction_count)},
                        {"context_age", s.context_age},
                        {"model_hash", s.model_hash},
                        {"flags", s.flags}};
    fmt::print("{}\n", j.dump());
  }

  const SubscribeOptions& o_;
  boost::asio::io_context& io_;
  ZmqSource* source_ = nullptr;
  std::map<std::string, SymbolStats, std::less<>> per_symbol_;
  std::uint64_t valid_ = 0, min_seq_ = 0, max_seq_ = 0;
  int header_ = 0;  // which table header was printed last: 1 ticks, 2 signals
};

int run_subscribe(const SubscribeOptions& o) {
  boost::asio::io_context io;
  zmq::context_t context(1);
  Printer printer(o, io);
  ZmqSourceOptions so;
  so.endpoints = parse_endpoints(o.sub, SocketRole::Subscriber);
  so.topics = o.topics;
  so.receive_hwm = o.receive_hwm;
  so.curve = tickrt::cli::curve_client_options(o.curve);
  so.max_batch = 1024;
  ZmqSource source(io, context, so, printer);
  printer.set_source(&source);
  source.start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) io.stop();
  });
  bool timed_out = false;
  boost::asio::steady_timer timer(io);
  if (o.timeout_s > 0) {
    timer.expires_after(std::chrono::microseconds(static_cast<long>(o.timeout_s * 1e6)));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) {
        timed_out = true;
        io.stop();
      }
    });
  }
  io.run();
  source.stop();
  std::fflush(stdout);

  // The summary goes to stderr in JSON mode so that stdout stays one JSON document per line.
  std::FILE* out = o.json ? stderr : stdout;
  printer.summary(out);
  const auto& rejects = source.rejects();
  if (rejects.total() > 0) {
    std::string by_reason;
    for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
      auto r = static_cast<RejectReason>(i);
      if (rejects[r] > 0) by_reason += fmt::format(" {}={}", reject_reason_name(r), rejects[r]);
    }
    fmt::print(stderr, "subscribe: rejected {} malformed message(s):{}\n", rejects.total(), by_reason);
  }
  if (o.count > 0 && !printer.count_reached()) {
    fmt::print(stderr, "subscribe: {} after {} s with {} of {} messages\n", timed_out ? "timed out" : "stopped",
               o.timeout_s, printer.valid(), o.count);
    return 2;
  }
  return 0;
}

tickrt::cli::Registration reg("subscribe", "print ticks or signals as they arrive (a reference client)", [](CLI::App& app) {
  auto o = std::make_shared<SubscribeOptions>();
  app.add_option("--sub", o->sub, "endpoint to read (> connects, @ binds; default connects); repeatable")->required();
  app.add_option("--topic", o->topics, "symbol prefix to subscribe to; repeatable (default: everything)");
  app.add_flag("--json", o->json, "one JSON object per line instead of a table");
  app.add_flag("--quiet", o->quiet, "print nothing per message, only the summary");
  app.add_option("--count", o->count, "exit after N valid messages (exit code 2 if the timeout comes first)");
  app.add_option("--timeout", o->timeout_s, "exit after S seconds");
  app.add_option("--hwm", o->receive_hwm, "ZMQ_RCVHWM")->capture_default_str();
  tickrt::cli::add_curve_client_options(app, o->curve);
  app.footer(
      "Example:\n"
      "  tickrt subscribe --sub tcp://127.0.0.1:5556 --topic SYM001 --topic SYM002\n"
      "  tickrt subscribe --sub '>ipc:///tmp/ticks' --json --count 1000 --timeout 10 > ticks.jsonl\n"
      "  tickrt subscribe --sub tcp://10.0.0.5:5556 --curve-key me.key --curve-server engine.pub   # CURVE\n"
      "At exit: per-symbol counts and sequence range; rejected messages by reason on stderr.");
  return [o] { return run_subscribe(*o); };
});

}  // namespace
