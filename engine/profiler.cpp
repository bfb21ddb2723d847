// The profile run: threads, sockets, probes, drain and the transport floor (engine/profiler.h).
#include "engine/profiler.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include <zmq.hpp>

#include "engine/engine.h"
#include "feeds/clock.h"
#include "feeds/endpoint.h"
#include "feeds/generator.h"
#include "feeds/open_loop.h"
#include "feeds/tick_codec.h"
#include "feeds/zmq_sink.h"

namespace tickrt {

ProfileTransport parse_profile_transport(const std::string& name) {
  if (name == "tcp") return ProfileTransport::tcp;
  if (name == "ipc") return ProfileTransport::ipc;
  if (name == "inproc") return ProfileTransport::inproc;
  throw std::runtime_error(fmt::format("--transport {}: must be tcp, ipc or inproc", name));
}

const char* to_string(ProfileTransport t) {
  switch (t) {
    case ProfileTransport::tcp: return "tcp";
    case ProfileTransport::ipc: return "ipc";
    case ProfileTransport::inproc: return "inproc";
  }
  return "?";
}

const ProfileSeries& ProfileResult::at(const std::string& name) const {
  for (const auto& s : series)
    if (s.name == name) return s;
  throw std::runtime_error(fmt::format("profile: no series named '{}'", name));
}

namespace {

constexpr const char* kProbeSymbol = "PROBE";
using namespace std::chrono_literals;

void pin_thread(int cpu, const char* role) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    throw std::runtime_error(fmt::format("--cpu-{} {}: cannot pin the {} thread to that CPU", role, cpu, role));
}

// Bind addresses of one run: distinct per run so that runs in parallel (tests) never collide.
class Addresses {
 public:
  explicit Addresses(ProfileTransport t) : transport_(t) {
    std::random_device rd;
    tag_ = fmt::format("{}-{:x}", ::getpid(), rd());
    if (t == ProfileTransport::ipc) {
      dir_ = std::filesystem::temp_directory_path() / fmt::format("tickrt-profile-{}", tag_);
      std::filesystem::create_directories(dir_);
    }
  }
  ~Addresses() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  // "@…" bind spec for a socket called `name`.
  std::string bind(const std::string& name) const {
    switch (transport_) {
      case ProfileTransport::tcp: return "@tcp://127.0.0.1:*";
      case ProfileTransport::ipc: return fmt::format("@ipc://{}/{}", dir_.string(), name);
      case ProfileTransport::inproc: return fmt::format("@inproc://tickrt-profile-{}-{}", tag_, name);
    }
    return {};
  }

 private:
  ProfileTransport transport_;
  std::string tag_;
  std::filesystem::path dir_;
};

// Forwards to the publisher's socket and keeps each tick's send stamp by position (the k-th message sent is the
// generator's seq k). Written by the generator thread only, read after it joined. Preallocated: no allocation.
class SendLog final : public feeds::MessageSink {
 public:
  SendLog(feeds::MessageSink& inner, std::vector<int64_t>& send_ns) : inner_(inner), send_ns_(send_ns) {}
  bool publish(std::string_view topic, std::span<const uint8_t> payload, int64_t time_ns) noexcept override {
    const bool ok = inner_.publish(topic, payload, time_ns);
    if (next_ < send_ns_.size()) send_ns_[next_] = ok ? time_ns : -1;  // -1: dropped at the publisher
    ++next_;
    return ok;
  }

 private:
  feeds::MessageSink& inner_;
  std::vector<int64_t>& send_ns_;  // [ticks] send stamp of seq k at k-1; 0: never sent
  size_t next_ = 0;
};

// The subscriber thread's state. recv_ns is written by that thread only and read after it joined.
struct Subscriber {
  std::vector<int64_t> recv_ns;  // [ticks] subscriber receive stamp of seq k at k-1; 0: not (yet) answered
  HdrHistogram wire_out{1, 60'000'000'000, 3};
  std::atomic<uint64_t> received{0};  // distinct measured ticks answered
  std::atomic<bool> probe_seen{false};
  std::atomic<bool> stop{false};
  uint64_t duplicates = 0, unknown = 0;

  void run(zmq::context_t& ctx, const std::string& endpoint, int cpu) {
    pin_thread(cpu, "sub");
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::rcvhwm, 1'000'000);
    sub.set(zmq::sockopt::subscribe, "");
    sub.connect(endpoint);
    feeds::MessageDecoder decoder;
    zmq::message_t topic, payload;
    zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
    while (!stop.load(std::memory_order_relaxed)) {
      if (zmq::poll(&item, 1, 20ms) == 0) continue;
      while (sub.recv(topic, zmq::recv_flags::dontwait)) {
        int frames = 1;
        bool more = topic.more();
        if (more) {
          (void)sub.recv(payload, zmq::recv_flags::none);
          ++frames;
          more = payload.more();
        }
        const int64_t now = feeds::realtime_ns();
        for (zmq::message_t extra; more; ++frames) {  // a malformed message: read its remaining frames
          (void)sub.recv(extra, zmq::recv_flags::none);
          more = extra.more();
        }
        if (frames != 2) {
          ++unknown;
          continue;
        }
        const feeds::Decoded d = decoder.decode(
            std::string_view(static_cast<const char*>(topic.data()), topic.size()),
            std::span<const uint8_t>(static_cast<const uint8_t*>(payload.data()), payload.size()));
        if (!d.ok || d.kind != feeds::PayloadKind::Signal) {
          ++unknown;
          continue;
        }
        if (d.signal.symbol == kProbeSymbol) {
          probe_seen.store(true, std::memory_order_relaxed);
          continue;
        }
        const uint64_t seq = d.signal.seq;
        if (seq == 0 || seq > recv_ns.size()) {
          ++unknown;
          continue;
        }
        if (recv_ns[seq - 1] != 0) {
          ++duplicates;
          continue;
        }
        recv_ns[seq - 1] = now;
        wire_out.record(now - d.signal.publish_time_ns);
        received.store(received.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      }
    }
  }
};

// A REQ/REP round trip over the transport without the engine: request of the Tick's size, reply of the
// Signal's size, both as two frames (topic, payload) like the real messages.
void measure_floor(zmq::context_t& ctx, const Addresses& addr, size_t tick_bytes, size_t signal_bytes,
                   const ProfileOptions& o, HdrHistogram& one_way, HdrHistogram& round_trip) {
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  const auto resolved =
      feeds::apply_endpoints(rep, {feeds::parse_endpoint(addr.bind("floor"), feeds::SocketRole::Publisher)});
  std::exception_ptr echo_error;
  std::thread echo([&] {
    try {
      pin_thread(o.cpu_engine, "engine");
      std::vector<uint8_t> reply(signal_bytes, 0x5a);  // [signal_bytes]
      zmq::message_t topic, payload;
      for (;;) {
        if (!rep.recv(topic, zmq::recv_flags::none)) break;
        if (topic.more()) (void)rep.recv(payload, zmq::recv_flags::none);
        if (topic.size() == 0) break;  // an empty topic ends the echo
        rep.send(zmq::buffer(topic.data(), topic.size()), zmq::send_flags::sndmore);
        rep.send(zmq::buffer(reply), zmq::send_flags::none);
      }
      rep.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (...) {
      echo_error = std::current_exception();
    }
  });
  std::exception_ptr ping_error;
  std::thread ping([&] {
    try {
      pin_thread(o.cpu_gen, "gen");
      zmq::socket_t req(ctx, zmq::socket_type::req);
      req.connect(resolved.at(0));
      std::vector<uint8_t> request(tick_bytes, 0xa5);  // [tick_bytes]
      zmq::message_t topic, payload;
      const int warmup = 500;
      for (int i = 0; i < warmup + o.floor_round_trips; ++i) {
        const int64_t t0 = feeds::realtime_ns();
        req.send(zmq::str_buffer("SYM000"), zmq::send_flags::sndmore);
        req.send(zmq::buffer(request), zmq::send_flags::none);
        (void)req.recv(topic, zmq::recv_flags::none);
        if (topic.more()) (void)req.recv(payload, zmq::recv_flags::none);
        const int64_t rtt = feeds::realtime_ns() - t0;
        if (i >= warmup) {
          round_trip.record(rtt);
          one_way.record(rtt / 2);
        }
      }
      req.send(zmq::str_buffer(""), zmq::send_flags::none);
      (void)req.recv(topic, zmq::recv_flags::none);
    } catch (...) {
      ping_error = std::current_exception();
    }
  });
  ping.join();
  if (ping_error) {
    // The echo thread waits for a request that will not come: closing the context is not ours to do, so
    // unblock it with a last request from a fresh socket.
    zmq::socket_t req(ctx, zmq::socket_type::req);
    req.connect(resolved.at(0));
    req.send(zmq::str_buffer(""), zmq::send_flags::none);
  }
  echo.join();
  if (ping_error) std::rethrow_exception(ping_error);
  if (echo_error) std::rethrow_exception(echo_error);
}

// Counters the engine exposes only through its metrics registry: sums the series of `name` in the text format.
double metric_sum(const std::string& prometheus_text, const std::string& name) {
  std::istringstream in(prometheus_text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// The sizes of a Tick and a Signal as the generator and the engine build them.
void message_sizes(int n_outputs, size_t& tick_bytes, size_t& signal_bytes) {
  feeds::TickGenerator gen(feeds::GeneratorConfig{});
  feeds::TickEvent t;
  gen.next(t);
  t.send_time_ns = feeds::realtime_ns();
  feeds::MessageBuilder b;
  tick_bytes = b.build_tick(t).size();
  std::vector<float> y(static_cast<size_t>(n_outputs), 0.5f);  // [H]
  feeds::SignalEvent s;
  s.seq = 1;
  s.event_time_ns = s.recv_time_ns = s.publish_time_ns = t.send_time_ns;
  s.prediction = y.data();
  s.prediction_count = static_cast<uint32_t>(n_outputs);
  signal_bytes = b.build_signal(s).size();
}

// One probe tick: a valid quote of its own instrument, event time one ms apart.
std::span<const uint8_t> probe_tick(feeds::MessageBuilder& b, uint64_t k) {
  feeds::TickEvent t;
  t.seq = k;
  t.event_time_ns = feeds::GeneratorConfig{}.start_time_ns - 1'000'000'000 + static_cast<int64_t>(k) * 1'000'000;
  t.send_time_ns = feeds::realtime_ns();
  t.kind = feeds::TickKind::Quote;
  t.bid_price = 100.0, t.ask_price = 100.01, t.bid_size = 1, t.ask_size = 1;
  return b.build_tick(t);
}

}  // namespace

ProfileResult run_profile(const ProfileOptions& o) {
  if (o.instruments < 1) throw std::runtime_error("--instruments must be at least 1");
  if (!(o.rate > 0) || !(o.duration_s > 0)) throw std::runtime_error("--rate and --duration must be positive");
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  if (o.model_dir.empty()) throw std::runtime_error("profile: no model directory (see resolve_profile_model)");
  ProfileResult r;
  r.options = o;
  r.model_dir = o.model_dir.string();
  const uint64_t ticks = static_cast<uint64_t>(std::llround(o.rate * o.duration_s));
  if (ticks == 0) throw std::runtime_error("--rate x --duration is less than one tick");
  const int64_t interval_ns = static_cast<int64_t>(1e9 / o.rate);

  zmq::context_t ctx(1);
  Addresses addr(o.transport);

  // Publisher: the generator's socket, bound first so that the engine can connect to it.
  feeds::ZmqSinkOptions so;
  so.endpoints = {feeds::parse_endpoint(addr.bind("ticks"), feeds::SocketRole::Publisher)};
  so.linger_ms = 0;
  feeds::ZmqSink sink(ctx, so);
  r.tick_endpoint = sink.endpoints().at(0);

  EngineOptions eo;
  eo.model_dir = o.model_dir;
  eo.sub = {">" + r.tick_endpoint};
  eo.pub = {addr.bind("signals")};
  eo.backend = o.backend;
  eo.max_instruments = std::max(o.instruments + 1, 16);  // + the probe instrument
  eo.max_batch = o.max_batch;
  eo.cpu = o.cpu_engine;
  eo.log_every_s = 0;
  eo.handle_signals = false;
  eo.quiet = true;
  eo.count_signal_drops = true;  // one subscriber: a drop at the engine's send HWM is counted, costs no one else
  eo.zmq_context = &ctx;
  Engine engine(eo);
  r.signal_endpoint = engine.pub_endpoints().at(0);
  {
    const Model m = Model::load(o.model_dir);
    message_sizes(m.config.n_outputs(), r.tick_bytes, r.signal_bytes);
  }

  Subscriber subscriber;
  subscriber.recv_ns.assign(ticks, 0);
  std::vector<int64_t> send_ns(ticks, 0);  // [ticks]

  std::exception_ptr engine_error, sub_error;
  std::thread engine_thread([&] {
    try {
      engine.run();
    } catch (...) {
      engine_error = std::current_exception();
    }
  });
  std::thread sub_thread([&] {
    try {
      subscriber.run(ctx, r.signal_endpoint, o.cpu_sub);
    } catch (...) {
      sub_error = std::current_exception();
    }
  });
  auto stop_all = [&] {
    engine.request_stop();
    engine_thread.join();
    subscriber.stop = true;
    sub_thread.join();
  };

  // Probes until the whole path (publisher -> engine -> subscriber) has joined.
  {
    feeds::MessageBuilder b;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    bool joined = sink.wait_for_subscriptions(1, 10s);
    while (joined && !subscriber.probe_seen.load()) {
      if (engine_error || sub_error || std::chrono::steady_clock::now() > give_up) {
        joined = false;
        break;
      }
      ++r.counts.probes;
      sink.publish(kProbeSymbol, probe_tick(b, r.counts.probes), 0);
      std::this_thread::sleep_for(5ms);
    }
    if (!joined) {
      stop_all();
      if (engine_error) std::rethrow_exception(engine_error);
      if (sub_error) std::rethrow_exception(sub_error);
      throw std::runtime_error(fmt::format("profile: no signal came back through {} -> engine -> {} within 10 s",
                                           r.tick_endpoint, r.signal_endpoint));
    }
  }
  log(fmt::format("profile: path joined after {} probe(s); sending {} ticks at {:.0f}/s over {} instruments ({})",
                  r.counts.probes, ticks, o.rate, o.instruments, to_string(o.transport)));

  // The measured run: open loop on the generator thread.
  feeds::OpenLoopReport report;
  std::exception_ptr gen_error;
  std::thread gen_thread([&] {
    try {
      pin_thread(o.cpu_gen, "gen");
      feeds::GeneratorConfig gc;
      gc.instruments = static_cast<uint32_t>(o.instruments);
      gc.rate = o.rate;
      gc.seed = o.seed;
      feeds::TickGenerator gen(gc);
      SendLog sends(sink, send_ns);
      feeds::OpenLoopOptions lo;
      lo.count = ticks;
      report = feeds::run_open_loop(gen, sends, lo);
    } catch (...) {
      gen_error = std::current_exception();
    }
  });
  gen_thread.join();
  if (gen_error) {
    stop_all();
    std::rethrow_exception(gen_error);
  }
  r.counts.attempted = report.attempted;
  r.counts.sent = report.sent;
  r.counts.dropped_at_publisher = report.dropped;
  r.pacing = report.pacing;
  r.send_elapsed_s = report.elapsed_s;
  r.achieved_rate = report.achieved_rate;

  // Drain: wait (bounded) until every sent tick has been answered.
  const auto drain_start = std::chrono::steady_clock::now();
  const auto drain_end = drain_start + std::chrono::duration<double>(o.drain_timeout_s);
  while (subscriber.received.load() < r.counts.sent && std::chrono::steady_clock::now() < drain_end && !engine_error &&
         !sub_error)
    std::this_thread::sleep_for(1ms);
  r.drained = subscriber.received.load() >= r.counts.sent;
  r.drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
  engine.request_stop();
  engine_thread.join();
  std::this_thread::sleep_for(50ms);  // signals of the engine's final flush still in flight
  subscriber.stop = true;
  sub_thread.join();
  if (engine_error) std::rethrow_exception(engine_error);
  if (sub_error) std::rethrow_exception(sub_error);
  log(fmt::format("profile: sent {} in {:.2f} s, drained in {:.3f} s; measuring the {} floor", r.counts.sent,
                  r.send_elapsed_s, r.drain_s, to_string(o.transport)));

  // Counts and the reason for anything missing.
  const std::string metrics = engine.metrics().render_prometheus();
  const auto messages = static_cast<uint64_t>(metric_sum(metrics, "tickrt_messages_received_total"));
  r.counts.engine_received = messages >= r.counts.probes ? messages - r.counts.probes : 0;
  r.counts.engine_decode_rejects = static_cast<uint64_t>(metric_sum(metrics, "tickrt_decode_rejects_total"));
  for (uint64_t n : engine.counters().rejects) r.counts.engine_pipeline_rejects += n;
  r.counts.engine_signals_dropped = static_cast<uint64_t>(metric_sum(metrics, "tickrt_signals_dropped_total"));
  r.counts.signals_received = subscriber.received.load();
  r.counts.duplicate_signals = subscriber.duplicates;
  r.counts.unknown_signals = subscriber.unknown;
  r.counts.missing = r.counts.sent > r.counts.signals_received ? r.counts.sent - r.counts.signals_received : 0;
  if (r.counts.missing > 0) {
    std::vector<std::string> why;
    const ProfileCounts& c = r.counts;
    if (c.engine_received < c.sent) why.push_back(fmt::format("{} never read by the engine", c.sent - c.engine_received));
    if (c.engine_decode_rejects) why.push_back(fmt::format("{} rejected by the engine's decoder", c.engine_decode_rejects));
    if (c.engine_pipeline_rejects) why.push_back(fmt::format("{} refused by the pipeline", c.engine_pipeline_rejects));
    if (c.engine_signals_dropped)
      why.push_back(fmt::format("{} signals dropped at the engine's send HWM", c.engine_signals_dropped));
    if (!r.drained) why.push_back(fmt::format("drain timed out after {:.1f} s", o.drain_timeout_s));
    if (why.empty()) why.push_back("lost between the engine's socket and the subscriber");
    r.counts.missing_reason = fmt::format("{}", fmt::join(why, "; "));
  }

  // Series.
  auto add = [&](std::string name, std::string what, bool floor = false) -> HdrHistogram& {
    r.series.push_back(ProfileSeries{std::move(name), std::move(what), floor});
    return r.series.back().hist;
  };
  r.series.reserve(11);
  add("wire_in", "publisher send -> engine receive") = engine.wire_in_latency();
  const StageLatencies& stages = engine.latencies();
  for (size_t i = 0; i < stages.stage_count(); ++i)
    add(stages.stage_name(i), fmt::format("engine stage {}", stages.stage_name(i))) = stages.stage(i);
  add("engine_total", "engine receive -> engine send") = stages.total();
  add("wire_out", "engine send -> subscriber receive") = subscriber.wire_out;
  HdrHistogram& e2e = add("e2e", fmt::format("publisher send -> subscriber receive, CO-corrected ({} ns)", interval_ns));
  HdrHistogram& raw = add("e2e_uncorrected", "publisher send -> subscriber receive, uncorrected");
  for (uint64_t k = 0; k < ticks; ++k) {
    if (send_ns[k] <= 0 || subscriber.recv_ns[k] == 0) continue;
    const int64_t v = subscriber.recv_ns[k] - send_ns[k];
    e2e.record_corrected(v, interval_ns);
    raw.record(v);
  }
  HdrHistogram& one_way = add("floor_one_way", "ZeroMQ REQ/REP round trip / 2, no engine", true);
  HdrHistogram& round_trip = add("floor_round_trip", "ZeroMQ REQ/REP round trip (tick out, signal back)", true);
  measure_floor(ctx, addr, r.tick_bytes, r.signal_bytes, o, one_way, round_trip);
  return r;
}

}  // namespace tickrt
