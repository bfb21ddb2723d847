#include "engine/pipeline_snapshot.h"

#include <fmt/core.h>

#include <cstring>
#include <numeric>
#include <stdexcept>

#include "engine/snapshot.h"

namespace tickrt {

namespace {
constexpr size_t kEngineStateBytes = sizeof(FeatureState) + sizeof(SequenceStats);
}  // namespace

void save_pipeline_snapshot(const std::filesystem::path& file, Pipeline& pipeline, uint64_t model_hash,
                            std::optional<uint64_t> journal_position) {
  if (pipeline.pending() != 0) throw std::logic_error("save_pipeline_snapshot: ticks are still queued");
  std::vector<int32_t> slots(static_cast<size_t>(pipeline.instruments().size()));
  std::iota(slots.begin(), slots.end(), 0);
  Snapshot s = capture_snapshot(pipeline.backend(), model_hash, slots);
  for (auto& in : s.instruments) {
    in.symbol = std::string(pipeline.instruments().symbol(in.slot));
    in.journal_position = journal_position;
    // Engine state: the feature state, then the sequence state, so that a restarted engine (and a journal replay
    // after kill -9) refuses the same repeated numbers the live one did.
    in.engine_state.resize(kEngineStateBytes);
    std::memcpy(in.engine_state.data(), &pipeline.feature_state(in.slot), sizeof(FeatureState));
    std::memcpy(in.engine_state.data() + sizeof(FeatureState), &pipeline.sequence(in.slot), sizeof(SequenceStats));
  }
  write_snapshot(file, s);
}

RestoreResult restore_pipeline_snapshot(const std::filesystem::path& file, Pipeline& pipeline, uint64_t model_hash) {
  const Snapshot s = read_snapshot(file);
  const std::string name = file.string();
  if (pipeline.instruments().size() != 0)
    throw std::logic_error("restore_pipeline_snapshot: the pipeline already has instruments");
  if (static_cast<int>(s.instruments.size()) > pipeline.instruments().capacity())
    throw std::runtime_error(fmt::format("{}: snapshot holds {} instruments, --max-instruments is {}", name,
                                         s.instruments.size(), pipeline.instruments().capacity()));
  for (size_t i = 0; i < s.instruments.size(); ++i) {
    const auto& in = s.instruments[i];
    if (in.slot != static_cast<int32_t>(i))
      throw std::runtime_error(fmt::format("{}: instrument {} is in slot {}, expected {}", name, in.symbol, in.slot, i));
    if (in.engine_state.size() != kEngineStateBytes && in.engine_state.size() != sizeof(FeatureState))
      throw std::runtime_error(fmt::format("{}: instrument {} has {} bytes of engine state, this build keeps {} "
                                           "(or {} without sequence state)", name, in.symbol,
                                           in.engine_state.size(), kEngineStateBytes, sizeof(FeatureState)));
  }
  restore_snapshot(s, pipeline.backend(), model_hash, name);  // checks hash, size and slots before writing
  RestoreResult r;
  for (const auto& in : s.instruments) {
    pipeline.instruments().bind(in.symbol, in.slot);
    std::memcpy(&pipeline.feature_state(in.slot), in.engine_state.data(), sizeof(FeatureState));
    if (in.engine_state.size() == kEngineStateBytes)  // older snapshots: numbering starts afresh
      std::memcpy(&pipeline.sequence(in.slot), in.engine_state.data() + sizeof(FeatureState), sizeof(SequenceStats));
    r.journal_position = in.journal_position;
  }
  r.instruments = s.instruments.size();
  return r;
}

}  // namespace tickrt
