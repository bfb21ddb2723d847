// The engine's core, shared by the live engine (`tickrt run`), the in-process backtest (`tickrt replay
// --model`) and the profiler: verified tick -> instrument slot -> features -> batched model step -> signal.
// Only the source and the sink differ between them, which is why a backtest gives the numbers live trading
// gives.
//
// Ticks are submitted one by one (submit) and stepped together (flush): all queued ticks go through the
// backend in waves, one batched step per wave, where a second tick of the same instrument goes to the next
// wave, so ticks of one instrument are never reordered. Everything is preallocated at construction; submit()
// and flush() allocate nothing, lock nothing, throw nothing.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/feature_spec.h"
#include "engine/features.h"
#include "engine/instrument_table.h"
#include "engine/refresh_worker.h"
#include "kernels/backend.h"

namespace tickrt {

// One verified tick, as the source hands it over.
struct TickIn {
  std::string_view symbol;  // read during submit() only
  uint64_t seq = 0;         // publisher sequence number
  uint64_t symbol_seq = 0;  // per-instrument sequence number (0: not numbered, not checked)
  int64_t send_ns = 0;      // stamped by the publisher
  int64_t recv_ns = 0;      // engine receive
  int64_t decoded_ns = 0;   // after verification and decoding
  MarketTick tick;
};

// One model output for one tick, as the sink receives it (valid during on_signal only).
struct SignalOut {
  std::string_view symbol;
  int32_t slot = 0;
  uint64_t seq = 0;
  int64_t event_ns = 0, send_ns = 0, recv_ns = 0, decoded_ns = 0, features_ns = 0, model_ns = 0;
  const float* prediction = nullptr;  // [H]
  int n_outputs = 0;
  uint32_t context_age = 0;
  uint32_t flags = 0;  // kFlagStateReset | kFlagLateRefresh (as in schemas/signal.fbs)
  int32_t queue_index = 0;  // position of the tick among those queued since the last flush (submit order)
};

inline constexpr uint32_t kFlagStateReset = 1u << 0;
inline constexpr uint32_t kFlagLateRefresh = 1u << 1;

class SignalSink {
 public:
  virtual ~SignalSink() = default;
  virtual void on_signal(const SignalOut& s) = 0;
};

// Why the pipeline refused a tick (decode-level rejections are counted by the source).
enum class PipelineReject : uint8_t {
  bad_symbol = 0,
  over_capacity,
  time_backwards,
  no_price,
  duplicate_seq,  // symbol_seq at or below the instrument's last one: a repeat would apply a tick twice
  count
};
std::string_view to_string(PipelineReject r);

struct PipelineCounters {
  uint64_t submitted = 0;       // ticks offered to submit()
  uint64_t accepted = 0;        // ticks queued for a model step
  uint64_t signals = 0;         // signals handed to the sink
  uint64_t waves = 0;           // batched backend steps
  uint64_t session_resets = 0;  // instrument states reset by the session gap
  uint64_t seq_gaps = 0;        // jumps in an instrument's symbol_seq (SequenceStats, summed)
  uint64_t seq_missing = 0;     // ticks those jumps skipped
  uint64_t seq_restarts = 0;    // instruments whose publisher started numbering again at 1
  std::array<uint64_t, static_cast<size_t>(PipelineReject::count)> rejects{};
};

// The sequence check of one instrument (TickIn::symbol_seq), applied in submit() before the tick touches state:
//  - symbol_seq 0: the publisher does not number per symbol; nothing checked, nothing counted;
//  - the instrument's first numbered tick since the engine started afresh: accepted, no gap counted, since the
//    engine may join a stream midway (a restored snapshot carries each instrument's SequenceStats, so a restart
//    and a journal replay after kill -9 refuse the repeats the live engine refused);
//  - last + 1: in order; above last + 1: a gap of (symbol_seq - last - 1) missing ticks, the tick accepted;
//  - 1 after last > 1: the publisher restarted and numbers from 1 again: a restart, accepted;
//  - otherwise (<= last): a duplicate or a tick overtaken by a later one: refused as duplicate_seq, because
//    stepping it would apply a tick twice or out of order. Ticks refused later (time, price) still count as
//    delivered: their numbers are not missing.
struct SequenceStats {
  uint64_t last = 0;        // highest symbol_seq accepted (0: none yet)
  uint64_t gaps = 0;        // jumps
  uint64_t missing = 0;     // ticks skipped by the jumps
  uint64_t duplicates = 0;  // refused as duplicate_seq
  uint64_t restarts = 0;    // numbering started again at 1
};

struct PipelineOptions {
  int max_instruments = 1024;
  int max_batch = 256;          // ticks queued before flush() must run
  double session_gap_s = 0;     // 0: never reset by gap (the model config's session_gap_s when set)
};

class Pipeline {
 public:
  // `backend` must have been made for at least opts.max_instruments and opts.max_batch.
  Pipeline(const Model& model, const FeatureSpec& features, Backend& backend, const PipelineOptions& opts);

  // Queues one tick, or refuses it (counted, no state touched). Returns true when queued.
  bool submit(const TickIn& in);
  bool full() const { return pending_ >= max_batch_; }
  int pending() const { return pending_; }
  // Steps every queued tick, in waves, and hands one signal per tick to `sink`, in submit order within each
  // instrument.
  void flush(SignalSink& sink);

  // With deferred refreshes, the worker that receives the jobs of every step (dispatched right after it, so a
  // later wave that needs a refresh never waits for a job nobody has).
  void set_refresh_worker(RefreshWorker* worker) { worker_ = worker; }

  const PipelineCounters& counters() const { return counters_; }
  InstrumentTable& instruments() { return table_; }
  const InstrumentTable& instruments() const { return table_; }
  Backend& backend() { return backend_; }
  const FeatureSpec& feature_spec() const { return spec_; }
  // Feature state of one instrument (snapshots save and restore it beside the model state).
  FeatureState& feature_state(int32_t slot) { return feature_states_[slot]; }
  // Sequence check of one instrument (not snapshotted: a restored engine starts checking afresh).
  const SequenceStats& sequence(int32_t slot) const { return sequence_[slot]; }
  SequenceStats& sequence(int32_t slot) { return sequence_[slot]; }  // snapshots save and restore it
  int n_outputs() const { return n_outputs_; }

 private:
  struct Pending {
    int32_t slot;
    bool reset;
    uint64_t seq;
    int64_t event_ns, send_ns, recv_ns, decoded_ns, features_ns;
  };

  const FeatureSpec& spec_;
  Backend& backend_;
  InstrumentTable table_;
  int max_batch_, n_features_, n_outputs_;
  double session_gap_s_;
  PipelineCounters counters_;
  std::vector<FeatureState> feature_states_;  // [max_instruments]
  std::vector<SequenceStats> sequence_;       // [max_instruments]

  int pending_ = 0;
  std::vector<Pending> queue_;          // [max_batch], submit order
  std::vector<float> queue_x_;          // [max_batch, F] normalised features of each queued tick
  std::vector<int32_t> wave_of_;        // [max_batch] wave index of each queued tick
  std::vector<uint64_t> slot_batch_;    // [max_instruments] flush generation that last saw the slot
  std::vector<int32_t> slot_next_wave_; // [max_instruments] next free wave of the slot in this generation
  uint64_t generation_ = 1;
  int waves_ = 0;                       // waves needed by the queued ticks

  // Per-wave scratch.
  std::vector<int32_t> order_;          // [max_batch] queued ticks sorted by wave (stable)
  std::vector<int32_t> wave_start_;     // [max_batch + 1]
  std::vector<int32_t> step_slots_;     // [max_batch]
  std::vector<float> step_x_;           // [max_batch, F]
  std::vector<float> step_y_;           // [max_batch, H]
  std::vector<StepOutput> step_info_;   // [max_batch]
  std::array<float, kFeatureCount> raw_{};
  RefreshWorker* worker_ = nullptr;

  // Applies the sequence rule (SequenceStats) to one instrument; false: refuse the tick as duplicate_seq.
  bool check_sequence(int32_t slot, uint64_t symbol_seq);
};

}  // namespace tickrt
