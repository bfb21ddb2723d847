#include "engine/pipeline.h"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

#include "feeds/clock.h"

namespace tickrt {

std::string_view to_string(PipelineReject r) {
  switch (r) {
    case PipelineReject::bad_symbol: return "bad_symbol";
    case PipelineReject::over_capacity: return "over_capacity";
    case PipelineReject::time_backwards: return "time_backwards";
    case PipelineReject::no_price: return "no_price";
    case PipelineReject::duplicate_seq: return "duplicate_seq";
    case PipelineReject::count: break;
  }
  return "unknown";
}

Pipeline::Pipeline(const Model& model, const FeatureSpec& features, Backend& backend, const PipelineOptions& opts)
    : spec_(features),
      backend_(backend),
      table_(opts.max_instruments),
      max_batch_(opts.max_batch),
      n_features_(model.config.n_features),
      n_outputs_(model.config.n_outputs()),
      session_gap_s_(opts.session_gap_s) {
  if (features.n_features() != model.config.n_features)
    throw std::runtime_error(fmt::format("features.json lists {} features but the model's config.json has "
                                         "n_features = {}",
                                         features.n_features(), model.config.n_features));
  if (static_cast<int>(features.outputs.size()) != n_outputs_)
    throw std::runtime_error(fmt::format("features.json defines {} outputs but the model's config.json has {}",
                                         features.outputs.size(), n_outputs_));
  if (opts.max_batch < 1) throw std::runtime_error("--max-batch must be >= 1");
  if (backend.max_instruments() < opts.max_instruments || backend.max_batch() < opts.max_batch)
    throw std::runtime_error("backend was made for fewer instruments or a smaller batch than the pipeline");
  const size_t B = static_cast<size_t>(max_batch_), I = static_cast<size_t>(opts.max_instruments);
  feature_states_.assign(I, FeatureState{});
  sequence_.assign(I, SequenceStats{});
  queue_.resize(B);
  queue_x_.resize(B * n_features_);
  wave_of_.resize(B);
  slot_batch_.assign(I, 0);
  slot_next_wave_.assign(I, 0);
  order_.resize(B);
  wave_start_.resize(B + 1);
  step_slots_.resize(B);
  step_x_.resize(B * n_features_);
  step_y_.resize(B * n_outputs_);
  step_info_.resize(B);
}

bool Pipeline::submit(const TickIn& in) {
  ++counters_.submitted;
  auto reject = [this](PipelineReject r) {
    ++counters_.rejects[static_cast<size_t>(r)];
    return false;
  };
  if (pending_ >= max_batch_) return reject(PipelineReject::over_capacity);  // caller must flush first
  const int32_t slot = table_.slot_for(in.symbol);
  if (slot == InstrumentTable::kBadSymbol) return reject(PipelineReject::bad_symbol);
  if (slot == InstrumentTable::kFull) return reject(PipelineReject::over_capacity);
  if (!check_sequence(slot, in.symbol_seq)) return reject(PipelineReject::duplicate_seq);

  const FeatureOutcome f = compute_features(feature_states_[slot], in.tick, session_gap_s_, raw_.data());
  if (f.reject == FeatureReject::time_backwards) return reject(PipelineReject::time_backwards);
  if (f.reject != FeatureReject::none) return reject(PipelineReject::no_price);

  const int i = pending_++;
  spec_.normalise(raw_.data(), &queue_x_[static_cast<size_t>(i) * n_features_]);
  // A slot's first tick since the engine started runs on zeroed state; a session gap resets it explicitly.
  queue_[i] = {slot,      f.session_reset, in.seq,          in.tick.event_time_ns,
               in.send_ns, in.recv_ns,      in.decoded_ns, feeds::realtime_ns()};
  if (slot_batch_[slot] != generation_) {
    slot_batch_[slot] = generation_;
    slot_next_wave_[slot] = 0;
  }
  wave_of_[i] = slot_next_wave_[slot]++;
  waves_ = std::max(waves_, wave_of_[i] + 1);
  if (f.session_reset) ++counters_.session_resets;
  ++counters_.accepted;
  return true;
}

bool Pipeline::check_sequence(int32_t slot, uint64_t symbol_seq) {
  if (symbol_seq == 0) return true;  // not numbered by this publisher
  SequenceStats& q = sequence_[slot];
  if (q.last == 0 || symbol_seq == q.last + 1) {
    q.last = symbol_seq;
    return true;
  }
  if (symbol_seq > q.last) {
    ++q.gaps;
    q.missing += symbol_seq - q.last - 1;
    ++counters_.seq_gaps;
    counters_.seq_missing += symbol_seq - q.last - 1;
    q.last = symbol_seq;
    return true;
  }
  if (symbol_seq == 1 && q.last > 1) {  // the publisher came back and numbers from the start
    ++q.restarts;
    ++counters_.seq_restarts;
    q.last = 1;
    return true;
  }
  ++q.duplicates;
  return false;
}

void Pipeline::flush(SignalSink& sink) {
  if (pending_ == 0) return;
  // Counting sort of the queued ticks by wave, stable, so each wave keeps submit order.
  std::fill(wave_start_.begin(), wave_start_.begin() + waves_ + 1, 0);
  for (int i = 0; i < pending_; ++i) ++wave_start_[wave_of_[i] + 1];
  for (int w = 0; w < waves_; ++w) wave_start_[w + 1] += wave_start_[w];
  for (int i = 0; i < pending_; ++i) order_[wave_start_[wave_of_[i]]++] = i;
  // wave_start_[w] now holds the end of wave w; wave w spans [end(w-1), end(w)).
  int begin = 0;
  for (int w = 0; w < waves_; ++w) {
    const int end = wave_start_[w];
    const int k = end - begin;
    for (int j = 0; j < k; ++j) {
      const Pending& p = queue_[order_[begin + j]];
      step_slots_[j] = p.slot;
      if (p.reset) backend_.reset(p.slot);
      std::copy_n(&queue_x_[static_cast<size_t>(order_[begin + j]) * n_features_], n_features_,
                  &step_x_[static_cast<size_t>(j) * n_features_]);
    }
    backend_.step(step_slots_.data(), k, step_x_.data(), step_y_.data(), step_info_.data());
    if (worker_) worker_->dispatch();
    ++counters_.waves;
    const int64_t model_ns = feeds::realtime_ns();
    for (int j = 0; j < k; ++j) {
      const Pending& p = queue_[order_[begin + j]];
      SignalOut s;
      s.queue_index = order_[begin + j];
      s.symbol = table_.symbol(p.slot);
      s.slot = p.slot;
      s.seq = p.seq;
      s.event_ns = p.event_ns;
      s.send_ns = p.send_ns;
      s.recv_ns = p.recv_ns;
      s.decoded_ns = p.decoded_ns;
      s.features_ns = p.features_ns;
      s.model_ns = model_ns;
      s.prediction = &step_y_[static_cast<size_t>(j) * n_outputs_];
      s.n_outputs = n_outputs_;
      s.context_age = step_info_[j].context_age;
      s.flags = (p.reset ? kFlagStateReset : 0u) | (step_info_[j].late_refresh ? kFlagLateRefresh : 0u);
      sink.on_signal(s);
      ++counters_.signals;
    }
    begin = end;
  }
  pending_ = 0;
  waves_ = 0;
  ++generation_;
}

}  // namespace tickrt
