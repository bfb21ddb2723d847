// The in-process backtest: journal -> verify -> the live engine's Pipeline (slot, features, batched step in
// waves) -> signals, with no sockets and no wall clock, so a backtest is deterministic and gives exactly the
// predictions `tickrt run` publishes for the same ticks. `--mode sequence` runs each instrument's ticks through
// the backend's sequence form instead (matrix-matrix shaped, MODEL-SPEC §8 tolerance, not bit-identical).
#include "engine/backtest.h"

#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "engine/feature_spec.h"
#include "engine/journal_replay.h"
#include "engine/npy.h"
#include "engine/pipeline.h"
#include "engine/tick_adapter.h"
#include "feeds/journal.h"
#include "kernels/tick_math.h"

namespace tickrt {

namespace {

// One signal of the backtest, kept in memory until the end (offline: allocation is fine here).
struct Row {
  int32_t slot;
  uint64_t seq;
  int64_t event_ns;
  uint32_t context_age, flags;
};

// Signals come out of a flush in wave order; the file keeps the journal's order (each flush's signals are put
// back at their ticks' submit positions).
struct Collector final : SignalSink {
  std::vector<Row> rows;
  std::vector<float> preds;  // [rows, H]
  int H = 0;
  size_t base = 0;           // rows written before the current flush
  void begin_flush(int pending) {
    base = rows.size();
    rows.resize(base + pending);
    preds.resize((base + pending) * H);
  }
  void on_signal(const SignalOut& s) override {
    const size_t at = base + static_cast<size_t>(s.queue_index);
    rows[at] = {s.slot, s.seq, s.event_ns, s.context_age, s.flags};
    std::copy_n(s.prediction, s.n_outputs, &preds[at * H]);
  }
};

void write_csv(const std::string& path, const Collector& c, const Pipeline& p, const ModelConfig& cfg) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write signals", path));
  out << "symbol,seq,event_time_ns";
  for (const auto& name : cfg.outputs) out << ',' << name;
  out << ",context_age,flags\n";
  const size_t H = cfg.outputs.size();
  for (size_t i = 0; i < c.rows.size(); ++i) {
    const Row& r = c.rows[i];
    out << p.instruments().symbol(r.slot) << ',' << r.seq << ',' << r.event_ns;
    for (size_t h = 0; h < H; ++h) out << ',' << fmt::format("{:.9g}", c.preds[i * H + h]);
    out << ',' << r.context_age << ',' << r.flags << '\n';
  }
}

// OUT.npy: predictions [N, H]; beside it OUT.seq.npy, OUT.time_ns.npy, OUT.instrument.npy [N] (int64).
void write_npy(const std::filesystem::path& path, const Collector& c, int H) {
  const int64_t N = static_cast<int64_t>(c.rows.size());
  write_npy_f32(path, c.preds.data(), {N, H});
  std::vector<int64_t> seq(N), time(N), inst(N);
  for (int64_t i = 0; i < N; ++i) {
    seq[i] = static_cast<int64_t>(c.rows[i].seq);
    time[i] = c.rows[i].event_ns;
    inst[i] = c.rows[i].slot;
  }
  auto beside = [&](const char* what) {
    return path.parent_path() / (path.stem().string() + "." + what + ".npy");
  };
  write_npy_i64(beside("seq"), seq.data(), {N});
  write_npy_i64(beside("time_ns"), time.data(), {N});
  write_npy_i64(beside("instrument"), inst.data(), {N});
}

// Sequence mode: every accepted tick's features first, then each instrument's segments (split at resets)
// through Backend::sequence, scattered back into journal order.
void run_sequence_mode(Pipeline& p, const std::vector<TickIn>& ticks, const ModelConfig& cfg, Collector& out) {
  const int F = cfg.n_features, H = cfg.n_outputs();
  const FeatureSpec& spec = p.feature_spec();
  const double gap = cfg.session_gap_s.value_or(0.0);
  std::vector<float> raw(kFeatureCount);
  std::vector<std::vector<size_t>> rows_of;   // per slot: indices into out.rows
  std::vector<std::vector<float>> x_of;       // per slot: [n, F]
  std::vector<int64_t> since_reset;           // per slot: t of the next tick
  for (const TickIn& in : ticks) {
    const int32_t slot = p.instruments().slot_for(in.symbol);
    if (slot < 0) continue;
    if (static_cast<size_t>(slot) >= rows_of.size()) {
      rows_of.resize(slot + 1);
      x_of.resize(slot + 1);
      since_reset.resize(slot + 1, 0);
    }
    const FeatureOutcome f = compute_features(p.feature_state(slot), in.tick, gap, raw.data());
    if (f.reject != FeatureReject::none) continue;
    if (f.session_reset) since_reset[slot] = 0;
    const int64_t t = since_reset[slot]++;
    uint32_t age = 0;
    for (const auto& l : cfg.layers)
      if (l.type == LayerType::attention) {
        const int64_t rho = math::attn_refresh_tick(t, cfg.attention.refresh_every, cfg.attention.refresh_lag);
        age = static_cast<uint32_t>(t - rho);  // t + 1 before the first refresh, as the step form reports
      }
    out.rows.push_back({slot, in.seq, in.tick.event_time_ns, age, f.session_reset ? kFlagStateReset : 0u});
    rows_of[slot].push_back(out.rows.size() - 1);
    const size_t at = x_of[slot].size();
    x_of[slot].resize(at + F);
    spec.normalise(raw.data(), &x_of[slot][at]);
  }
  out.preds.assign(out.rows.size() * H, 0.0f);
  std::vector<float> y;
  for (size_t slot = 0; slot < rows_of.size(); ++slot) {
    const auto& idx = rows_of[slot];
    size_t begin = 0;
    while (begin < idx.size()) {  // one segment per session: state reset at its first tick
      size_t end = begin + 1;
      while (end < idx.size() && !(out.rows[idx[end]].flags & kFlagStateReset)) ++end;
      p.backend().reset(static_cast<int32_t>(slot));
      const int64_t n = static_cast<int64_t>(end - begin);
      y.resize(static_cast<size_t>(n) * H);
      p.backend().sequence(static_cast<int32_t>(slot), &x_of[slot][begin * F], n, y.data());
      for (size_t i = begin; i < end; ++i) std::copy_n(&y[(i - begin) * H], H, &out.preds[idx[i] * H]);
      begin = end;
    }
  }
}

}  // namespace

int run_backtest(const BacktestOptions& o) {
  const Model model = Model::load(o.model_dir);
  const FeatureSpec spec = FeatureSpec::load(std::filesystem::path(o.model_dir) / "features.json");
  if (o.mode != "step" && o.mode != "sequence")
    throw std::runtime_error(fmt::format("--mode must be step or sequence, got '{}'", o.mode));
  const std::string ext = std::filesystem::path(o.signals_out).extension().string();
  if (ext != ".csv" && ext != ".npy")
    throw std::runtime_error(fmt::format("--signals {}: the file name must end in .csv or .npy", o.signals_out));
  auto backend = make_backend(o.backend, model, o.max_instruments, o.max_batch);
  PipelineOptions po;
  po.max_instruments = o.max_instruments;
  po.max_batch = o.max_batch;
  po.session_gap_s = model.config.session_gap_s.value_or(0.0);
  Pipeline pipeline(model, spec, *backend, po);

  journal::ReaderOptions ro;
  ro.skip_corrupt = o.skip_corrupt;
  ro.expect_schema = journal::kTickSchema;
  journal::JournalReader reader(o.journal, ro);
  feeds::MessageDecoder decoder;
  Collector out;
  out.H = model.config.n_outputs();
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t ticks = 0;
  journal::RecordView rec;
  if (o.mode == "step") {
    auto step = [&] {
      out.begin_flush(pipeline.pending());
      pipeline.flush(out);
    };
    ticks = step_journal_ticks(reader, decoder, pipeline, step).ticks;
  } else {
    std::vector<TickIn> all;  // symbols view the memory-mapped journal, alive as long as the reader
    while (reader.next(rec)) {
      const feeds::Decoded d = decoder.decode(rec.topic, rec.payload);
      if (!d.ok || d.kind != feeds::PayloadKind::Tick) continue;
      ++ticks;
      all.push_back(to_tick_in(d.tick, rec.recv_ns));
    }
    run_sequence_mode(pipeline, all, model.config, out);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ext == ".csv") write_csv(o.signals_out, out, pipeline, model.config);
  else write_npy(o.signals_out, out, model.config.n_outputs());

  const auto& st = reader.stats();
  fmt::print("backtest {}: {} records, {} ticks -> {} signals ({} instruments) in {:.3f} s: {:.0f} ticks/s "
             "[{} mode, {} backend]\n",
             o.journal, st.records, ticks, out.rows.size(), pipeline.instruments().size(), seconds,
             seconds > 0 ? ticks / seconds : 0.0, o.mode, backend->name());
  if (decoder.rejects().total() || !st.clean())
    fmt::print("  rejected {} messages at decode; journal bytes skipped {}\n", decoder.rejects().total(),
               st.bytes_skipped);
  fmt::print("  wrote {}\n", o.signals_out);
  return 0;
}

}  // namespace tickrt
