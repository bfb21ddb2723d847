#include "engine/engine.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <pthread.h>
#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.hpp>

#include "engine/crash_journal.h"
#include "engine/metrics_server.h"
#include "engine/pipeline_snapshot.h"
#include "engine/shard.h"
#include "engine/tick_adapter.h"
#include "feeds/clock.h"
#include "feeds/curve_keys.h"
#include "feeds/endpoint.h"
#include "feeds/zmq_sink.h"
#include "feeds/zmq_source.h"

namespace tickrt {

namespace {

FeatureSpec load_feature_spec(const std::filesystem::path& model_dir) {
  const auto file = model_dir / "features.json";
  if (!std::filesystem::exists(file))
    throw std::runtime_error(fmt::format("{}: missing; the engine needs the model's feature list and "
                                         "normalisation (the trainer writes it; init-model writes defaults)",
                                         file.string()));
  return FeatureSpec::load(file);
}

bool has_lagged_attention(const ModelConfig& c) {
  for (const auto& l : c.layers)
    if (l.type == LayerType::attention && c.attention.refresh_lag >= 1) return true;
  return false;
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    throw std::runtime_error(fmt::format("--cpu {}: cannot pin the engine thread to that CPU", cpu));
}

// A symbol as a Prometheus label value: symbols come off the wire, so quotes, backslashes and newlines are
// escaped (the exposition format's three escapes).
std::string label_value(std::string_view symbol) {
  std::string out;
  for (const char c : symbol) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

struct Engine::Impl final : feeds::FeedHandler, SignalObserver {
  EngineOptions opts;
  boost::asio::io_context io;
  std::unique_ptr<zmq::context_t> own_context;
  zmq::context_t& zmq_context;
  Model model;
  FeatureSpec spec;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<RefreshWorker> refresh_worker;
  std::unique_ptr<feeds::ZapAuthenticator> auth;  // CURVE on: admits client keys; outlives the sockets it watches
  feeds::AuthCounters no_auth;                     // what auth_counters() shows when CURVE is off
  std::unique_ptr<feeds::ZmqSink> sink;
  std::unique_ptr<SignalPublisher> publisher;
  std::unique_ptr<feeds::ZmqSource> source;
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> metrics_server;
  boost::asio::signal_set signals{io};
  boost::asio::steady_timer log_timer{io};
  uint64_t unexpected_signals = 0;
  uint64_t not_owned = 0;  // ticks of symbols another shard owns (or not in --symbols)
  SymbolSet own_symbols;   // --symbols; empty: every symbol of the shard
  bool stopping = false;
  StageLatencies latencies{kEngineStages};
  HdrHistogram wire_in{1, 60'000'000'000, 3};
  std::filesystem::path snapshot_file;
  // Crash safety (engine/crash_journal.h): ticks are journaled before their signals leave; snapshots name the
  // journal position they cover.
  std::unique_ptr<CrashJournal> journal;
  feeds::MessageBuilder rebuild;        // re-encodes a tick handed over without its bytes (on_tick)
  uint64_t accepted_at_snapshot = 0;    // pipeline accepted count when the last snapshot was written
  uint64_t snapshots_written = 0;
  uint64_t snapshot_errors = 0;
  uint64_t replayed_on_start = 0;
  bool failed = false;                  // the journal failed: stopped without stepping or snapshotting
  int exit_code = 0;

  static zmq::context_t& context_for(const EngineOptions& o, std::unique_ptr<zmq::context_t>& own) {
    if (o.zmq_context) return *static_cast<zmq::context_t*>(o.zmq_context);
    own = std::make_unique<zmq::context_t>(1);
    return *own;
  }

  explicit Impl(const EngineOptions& o) : opts(o), zmq_context(context_for(o, own_context)) {
    if (opts.shard_count < 1 || opts.shard_index < 0 || opts.shard_index >= opts.shard_count)
      throw std::runtime_error(fmt::format("shard {}/{}: expected i/n with 0 <= i < n", opts.shard_index,
                                           opts.shard_count));
    own_symbols = SymbolSet(opts.symbols);
    model = Model::load(opts.model_dir);
    spec = load_feature_spec(opts.model_dir);
    backend = make_backend(opts.backend, model, opts.max_instruments, opts.max_batch);
    PipelineOptions po;
    po.max_instruments = opts.max_instruments;
    po.max_batch = opts.max_batch;
    po.session_gap_s = model.config.session_gap_s.value_or(0.0);
    pipeline = std::make_unique<Pipeline>(model, spec, *backend, po);
    if (has_lagged_attention(model.config)) {
      // MODEL-SPEC §5: refresh_lag >= 1 lets refreshes leave the hot path; the worker runs them.
      backend->set_refresh_mode(opts.late_refresh == LatePolicy::stale ? RefreshMode::deferred_stale
                                                                       : RefreshMode::deferred_wait);
      refresh_worker = std::make_unique<RefreshWorker>(*backend, static_cast<size_t>(opts.max_batch) * 8,
                                                       opts.refresh_cpu);
      pipeline->set_refresh_worker(refresh_worker.get());
    }
    RestoreResult restored;
    if (!opts.snapshot_dir.empty()) {
      std::filesystem::create_directories(opts.snapshot_dir);
      snapshot_file = opts.snapshot_dir / "state.snap";
      if (std::filesystem::exists(snapshot_file)) {
        restored = restore_pipeline_snapshot(snapshot_file, *pipeline, model.hash);
        if (!opts.quiet)
          fmt::print(stderr, "tickrt run: restored {} instruments from {}\n", restored.instruments,
                     snapshot_file.string());
      }
    }
    if (opts.snapshot_every > 0 && snapshot_file.empty())
      throw std::runtime_error("--snapshot-every: needs --snapshot DIR to write to");
    // Before the sockets exist: by the time a subscription is seen the engine is live with the rebuilt state.
    if (!opts.journal_file.empty()) recover_from_journal(restored);

    const feeds::CurveOptions curve = start_curve();
    feeds::ZmqSinkOptions so;
    so.curve = curve;
    so.endpoints = feeds::parse_endpoints(opts.pub, feeds::SocketRole::Publisher);
    so.send_hwm = opts.send_hwm;
    so.linger_ms = 200;
    // PUB semantics unless asked: with XPUB_NODROP one stalled subscriber at its high-water mark makes every
    // send fail, so the healthy subscribers would lose the signals too. Without it ZeroMQ drops only for the
    // full subscriber, and never reports it (engine/README.md, "Back-pressure").
    so.count_drops = opts.count_signal_drops;
    sink = std::make_unique<feeds::ZmqSink>(zmq_context, so);
    publisher = std::make_unique<SignalPublisher>(*sink, model.hash, this);

    feeds::ZmqSourceOptions src;
    src.endpoints = feeds::parse_endpoints(opts.sub, feeds::SocketRole::Subscriber);
    src.topics = opts.topics.empty() ? opts.symbols : opts.topics;  // ZeroMQ prefix filter; exact check in on_tick
    src.receive_hwm = opts.receive_hwm;
    src.max_batch = static_cast<size_t>(opts.max_batch);
    src.busy_poll = opts.busy_poll;
    src.curve = curve;
    source = std::make_unique<feeds::ZmqSource>(io, zmq_context, src, *this);
    if (auth) {
      auth->watch(sink->socket());
      auth->watch(source->socket());
      auth->start();
    }

    register_metrics();
    register_crash_metrics();
    if (!opts.metrics.empty()) {
      metrics_server = std::make_unique<MetricsServer>(io, opts.metrics, registry);
      if (!metrics_server->loopback() && !opts.quiet)
        fmt::print(stderr, "tickrt run: warning: /metrics is served on {}, not a loopback address: anyone who can "
                   "reach it can read the engine's counters\n", metrics_server->address());
    }
  }

  // CURVE: reads the key files and starts the ZAP handler before any socket binds or connects (without a
  // handler libzmq would admit every CURVE client). Off when no key file is given.
  feeds::CurveOptions start_curve() {
    if (opts.curve_key.empty()) {
      if (!opts.curve_clients.empty())
        throw std::runtime_error(fmt::format("--curve-clients {}: needs --curve-key", opts.curve_clients.string()));
      return {};
    }
    if (opts.curve_clients.empty())
      throw std::runtime_error(fmt::format("--curve-key {}: needs --curve-clients DIR (the client keys to admit)",
                                           opts.curve_key.string()));
    feeds::CurveOptions curve = feeds::curve_server_options(opts.curve_key);
    auth = std::make_unique<feeds::ZapAuthenticator>(zmq_context, feeds::read_curve_public_keys(opts.curve_clients));
    return curve;
  }

  // ---- hot path: called by the source on the loop thread -------------------------------------------
  bool owned(std::string_view symbol) const noexcept {
    if (!own_symbols.empty() && !own_symbols.contains(symbol)) return false;
    return owns(symbol, opts.shard_index, opts.shard_count);
  }
  void on_tick_message(const feeds::TickEvent& e, std::string_view topic,
                       std::span<const uint8_t> payload) override {
    if (!owned(e.symbol)) {  // another shard's instrument: no slot, no features, no state, not journaled
      ++not_owned;
      return;
    }
    if (journal && !journal->append(e.recv_time_ns, topic, payload)) return fail_stop();
    if (pipeline->full()) {
      step_wave();
      if (failed) return;
    }
    pipeline->submit(to_tick_in(e, feeds::realtime_ns()));
  }
  // ZmqSource hands ticks over with their bytes (above); a tick without them is journaled re-encoded.
  void on_tick(const feeds::TickEvent& e) override {
    on_tick_message(e, e.symbol, journal ? rebuild.build_tick(e) : std::span<const uint8_t>{});
  }
  void on_signal(const feeds::SignalEvent&) override { ++unexpected_signals; }
  void on_drain_end(std::size_t) override {
    if (failed) return;  // fail_stop() during the drain
    step_wave();
    if (opts.snapshot_every > 0 && pipeline->counters().accepted - accepted_at_snapshot >= opts.snapshot_every)
      write_snapshot();
  }
  // The queued ticks reach the journal (write(2): the page cache survives kill -9) before any of their signals
  // is published: every signal that ever left belongs to a journaled tick.
  void step_wave() {
    if (journal && !journal->commit()) return fail_stop();
    pipeline->flush(*publisher);
  }
  void on_published(const SignalOut& s, int64_t publish_ns, bool) override {
    const int64_t stamps[5] = {s.recv_ns, s.decoded_ns, s.features_ns, s.model_ns, publish_ns};
    latencies.record(stamps);
    if (s.send_ns > 0) wire_in.record(s.recv_ns - s.send_ns);
  }

  // ---- setup and control ----------------------------------------------------------------------------
  void register_metrics() {
    const PipelineCounters& c = pipeline->counters();
    registry.counter("tickrt_ticks_submitted_total", "Verified ticks offered to the pipeline", "",
                     [&c] { return double(c.submitted); });
    registry.counter("tickrt_ticks_accepted_total", "Ticks that reached a model step", "",
                     [&c] { return double(c.accepted); });
    registry.counter("tickrt_signals_total", "Signals produced (one per accepted tick)", "",
                     [&c] { return double(c.signals); });
    registry.counter("tickrt_waves_total", "Batched model steps", "", [&c] { return double(c.waves); });
    registry.counter("tickrt_session_resets_total", "Instrument states reset by the session gap", "",
                     [&c] { return double(c.session_resets); });
    for (size_t r = 0; r < c.rejects.size(); ++r)
      registry.counter("tickrt_pipeline_rejects_total", "Ticks refused by the pipeline, by reason",
                       fmt::format("reason=\"{}\"", to_string(static_cast<PipelineReject>(r))),
                       [&c, r] { return double(c.rejects[r]); });
    register_sequence_metrics();
    const feeds::ZmqSource& s = *source;
    for (size_t r = 0; r < feeds::kRejectReasonCount; ++r)
      registry.counter("tickrt_decode_rejects_total", "Messages refused by the decoder, by reason",
                       fmt::format("reason=\"{}\"", feeds::reject_reason_name(static_cast<feeds::RejectReason>(r))),
                       [&s, r] { return double(s.rejects()[static_cast<feeds::RejectReason>(r)]); });
    registry.counter("tickrt_messages_received_total", "Messages read from the SUB socket", "",
                     [&s] { return double(s.counters().messages.load()); });
    registry.counter("tickrt_wakeups_total", "Receive drains started", "",
                     [&s] { return double(s.counters().wakeups.load()); });
    registry.counter("tickrt_not_owned_total", "Ticks of instruments this engine does not own (--shard, --symbols)",
                     "", [this] { return double(not_owned); });
    registry.counter("tickrt_unexpected_signals_total", "Signal messages received on the tick socket", "",
                     [this] { return double(unexpected_signals); });
    const feeds::ZmqSink& k = *sink;
    registry.counter("tickrt_signals_sent_total", "Signals accepted by the PUB socket", "",
                     [&k] { return double(k.counters().sent.load()); });
    registry.counter("tickrt_signals_dropped_total",
                     "Signals refused at a subscriber's high-water mark (counted only with count_signal_drops)", "",
                     [&k] { return double(k.counters().dropped.load() + k.counters().errors.load()); });
    auto quantiles = [](const HdrHistogram& h) {
      Quantiles q;
      q.count = double(h.total_count());
      q.sum = h.mean() * double(h.total_count());
      for (double p : {0.5, 0.9, 0.99, 0.999}) q.values.emplace_back(p, double(h.value_at_percentile(p * 100)));
      q.values.emplace_back(1.0, double(h.max()));
      return q;
    };
    for (size_t i = 0; i < latencies.stage_count(); ++i)
      registry.summary("tickrt_stage_latency_ns", "Per-stage latency inside the engine, ns",
                       fmt::format("stage=\"{}\"", latencies.stage_name(i)),
                       [this, i, quantiles] { return quantiles(latencies.stage(i)); });
    registry.summary("tickrt_stage_latency_ns", "Per-stage latency inside the engine, ns", "stage=\"recv_to_sent\"",
                     [this, quantiles] { return quantiles(latencies.total()); });
    registry.summary("tickrt_wire_in_latency_ns", "Publisher send to engine receive, ns (same host clock)", "",
                     [this, quantiles] { return quantiles(wire_in); });
    registry.counter("tickrt_late_refreshes_total", "Ticks that used an older refresh (stale policy)", "",
                     [this] { return double(backend->late_refreshes()); });
    registry.counter("tickrt_refreshes_deferred_total", "Attention refreshes handed to the refresh thread", "",
                     [this] { return refresh_worker ? double(refresh_worker->dispatched()) : 0.0; });
    const feeds::AuthCounters& a = auth ? auth->counters() : no_auth;
    registry.counter("tickrt_auth_accepted_total", "CURVE clients admitted by the ZAP handler", "",
                     [&a] { return double(a.accepted.load()); });
    registry.counter("tickrt_auth_denied_total", "CURVE clients refused by the ZAP handler (key not allowed)", "",
                     [&a] { return double(a.denied.load()); });
    registry.counter("tickrt_handshake_failures_total", "Peers whose handshake failed, by kind", "reason=\"protocol\"",
                     [&a] { return double(a.failed_protocol.load()); });  // e.g. a wrong mechanism (a plain peer)
    registry.counter("tickrt_handshake_failures_total", "Peers whose handshake failed, by kind", "reason=\"auth\"",
                     [&a] { return double(a.failed_auth.load()); });
    registry.counter("tickrt_handshake_failures_total", "Peers whose handshake failed, by kind", "reason=\"other\"",
                     [&a] { return double(a.failed_other.load()); });  // cut short: a plain peer hanging up, a wrong server key
    registry.gauge("tickrt_instruments", "Instruments holding a slot", "",
                   [this] { return double(pipeline->instruments().size()); });
    registry.gauge("tickrt_instrument_capacity", "Slots available (--max-instruments)", "",
                   [this] { return double(opts.max_instruments); });
  }

  // Start-up: replays the journal past what the snapshot covers (engine/crash_journal.h), publishing nothing.
  void recover_from_journal(const RestoreResult& restored) {
    journal = std::make_unique<CrashJournal>(opts.journal_file, opts.journal_fsync);
    const RecoveryReport r = journal->recover(*pipeline, restored.journal_position, restored.instruments > 0);
    if (refresh_worker) refresh_worker->drain();
    replayed_on_start = r.ticks;
    if (!opts.quiet)
      fmt::print(stderr, "tickrt run: replayed {} ticks from {} at offset {} (journal ends at {}{})\n", r.ticks,
                 opts.journal_file.string(), r.from_offset, r.end_offset,
                 r.bytes_truncated ? fmt::format(", cut a torn tail of {} bytes", r.bytes_truncated) : "");
    accepted_at_snapshot = pipeline->counters().accepted;
  }

  // At a drain end (nothing queued, journal committed): the state and the journal position it covers. Writing
  // allocates and does file I/O on the engine thread, once per --snapshot-every ticks; a failure is counted
  // and the previous snapshot stays (the journal still covers everything after it).
  void write_snapshot() {
    accepted_at_snapshot = pipeline->counters().accepted;
    if (refresh_worker) refresh_worker->drain();
    std::optional<uint64_t> position;
    if (journal) {
      if (!journal->make_durable()) return fail_stop();
      position = journal->position();
    }
    try {
      save_pipeline_snapshot(snapshot_file, *pipeline, model.hash, position);
      if (journal && journal->fsync_policy() != journal::FsyncPolicy::None) sync_file_and_directory(snapshot_file);
      ++snapshots_written;
    } catch (const std::exception& e) {
      if (snapshot_errors++ == 0 && !opts.quiet) fmt::print(stderr, "tickrt run: snapshot failed: {}\n", e.what());
    }
  }

  // The journal failed: stop now, as a crash would, without stepping what is queued (its signals would not be
  // covered) and without a snapshot; a restart recovers from the last snapshot and what the journal holds.
  void fail_stop() {
    if (failed) return;
    failed = stopping = true;
    exit_code = 1;
    source->stop();
    if (!opts.quiet) fmt::print(stderr, "tickrt run: stopping: {}\n", journal->error());
    signals.cancel();
    log_timer.cancel();
    if (metrics_server) metrics_server->close();
    io.stop();
  }

  void register_crash_metrics() {
    registry.counter("tickrt_snapshots_written_total", "Snapshots written (--snapshot-every, shutdown)", "",
                     [this] { return double(snapshots_written); });
    registry.counter("tickrt_snapshot_errors_total", "Snapshot writes that failed (the previous one stays)", "",
                     [this] { return double(snapshot_errors); });
    if (!journal) return;
    registry.counter("tickrt_journal_records_total", "Ticks journaled by this process (--journal)", "",
                     [this] { return double(journal->records_appended()); });
    registry.gauge("tickrt_journal_bytes", "Size of the journal, bytes", "",
                   [this] { return double(journal->position()); });
    registry.counter("tickrt_journal_fsyncs_total", "Journal fsyncs (--journal-fsync)", "",
                     [this] { return double(journal->fsyncs()); });
    registry.counter("tickrt_replayed_on_start_total", "Journaled ticks replayed at start (no signals published)",
                     "", [this] { return double(replayed_on_start); });
  }

  // Per instrument, only instruments with something to show (scrape time, off the hot path). Families so that
  // sum(tickrt_sequence_gaps_total) is the engine's total.
  void register_sequence_metrics() {
    auto family = [this](const char* name, const char* help, uint64_t SequenceStats::*field) {
      registry.counter_family(name, help, [this, field] {
        MetricsRegistry::LabelledValues v;
        const InstrumentTable& table = pipeline->instruments();
        for (int32_t slot = 0; slot < table.size(); ++slot)
          if (const uint64_t n = pipeline->sequence(slot).*field; n > 0)
            v.emplace_back(fmt::format("symbol=\"{}\"", label_value(table.symbol(slot))), double(n));
        return v;
      });
    };
    family("tickrt_sequence_gaps_total", "Jumps in an instrument's per-symbol sequence number", &SequenceStats::gaps);
    family("tickrt_sequence_missing_ticks_total", "Ticks the sequence jumps skipped (lost before the engine)",
           &SequenceStats::missing);
    family("tickrt_sequence_duplicates_total", "Ticks refused for a sequence number already seen",
           &SequenceStats::duplicates);
    family("tickrt_sequence_restarts_total", "Publisher numbering that started again at 1", &SequenceStats::restarts);
  }

  void arm_log_timer() {
    if (opts.log_every_s <= 0 || opts.quiet) return;
    log_timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(opts.log_every_s * 1000)));
    log_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      fmt::print(stderr, "tickrt run: {}\n", registry.render_line());
      arm_log_timer();
    });
  }

  void shutdown() {
    if (stopping) return;
    stopping = true;
    source->stop();                 // stop intake
    step_wave();                    // finish the current wave(s), journal first
    if (failed) return;             // the journal failed in that step: fail_stop() took over
    if (refresh_worker) refresh_worker->drain();
    if (!snapshot_file.empty()) {
      const uint64_t written_before = snapshots_written;
      write_snapshot();
      if (failed) return;  // the journal could not be made durable: fail_stop() took over
      if (!opts.quiet && snapshots_written > written_before)
        fmt::print(stderr, "tickrt run: wrote {} instruments to {}\n", pipeline->instruments().size(),
                   snapshot_file.string());
    }
    if (journal) journal->close();
    signals.cancel();
    log_timer.cancel();
    if (metrics_server) metrics_server->close();
    io.stop();
  }
};

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Engine::~Engine() = default;

int Engine::run() {
  Impl& m = *impl_;
  if (m.opts.cpu >= 0) pin_to_cpu(m.opts.cpu);
  set_ftz_daz();
  if (m.opts.handle_signals) {
    m.signals.add(SIGINT);
    m.signals.add(SIGTERM);
    m.signals.async_wait([&m](boost::system::error_code ec, int) {
      if (!ec) m.shutdown();
    });
  }
  m.arm_log_timer();
  m.source->start();
  if (!m.opts.quiet)
    fmt::print(stderr, "tickrt run: model {} ({:016x}), backend {}, sub {}, pub {}, shard {}/{}{}{}\n",
               m.opts.model_dir.string(), m.model.hash, m.backend->name(), fmt::join(m.source->endpoints(), ","),
               fmt::join(m.sink->endpoints(), ","), m.opts.shard_index, m.opts.shard_count,
               m.opts.symbols.empty() ? std::string() : fmt::format(", {} listed symbols", m.opts.symbols.size()),
               m.auth ? fmt::format(", CURVE on ({} client keys)", m.auth->allowed_count()) : std::string());
  m.io.run();
  if (!m.opts.quiet) {
    fmt::print(stderr, "tickrt run: stopped: {}\n", m.registry.render_line());
    fmt::print(stderr, "tickrt run: latency (us)\n{}", m.latencies.summary());
  }
  return m.exit_code;
}

void Engine::request_stop() {
  boost::asio::post(impl_->io, [m = impl_.get()] { m->shutdown(); });
}

bool Engine::wait_for_subscribers(uint64_t n, std::chrono::milliseconds timeout) {
  return impl_->sink->wait_for_subscriptions(n, timeout);
}

std::vector<std::string> Engine::sub_endpoints() const { return impl_->source->endpoints(); }
std::vector<std::string> Engine::pub_endpoints() const { return impl_->sink->endpoints(); }
uint16_t Engine::metrics_port() const { return impl_->metrics_server ? impl_->metrics_server->port() : 0; }
const MetricsRegistry& Engine::metrics() const { return impl_->registry; }
const PipelineCounters& Engine::counters() const { return impl_->pipeline->counters(); }
const feeds::AuthCounters& Engine::auth_counters() const {
  return impl_->auth ? impl_->auth->counters() : impl_->no_auth;
}
const StageLatencies& Engine::latencies() const { return impl_->latencies; }
const HdrHistogram& Engine::wire_in_latency() const { return impl_->wire_in; }

}  // namespace tickrt
