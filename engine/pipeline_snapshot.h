// Snapshots of a whole pipeline: for every instrument with a slot, its symbol, the backend's model state and
// the pipeline's feature state, plus the model hash (engine/snapshot.h has the file format). A restarted
// engine that restores one continues exactly where the old one stopped.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>

#include "engine/pipeline.h"

namespace tickrt {

// Writes atomically (FILE.tmp, then rename). Call between flushes (nothing queued).
void save_pipeline_snapshot(const std::filesystem::path& file, Pipeline& pipeline, uint64_t model_hash,
                            std::optional<uint64_t> journal_position = std::nullopt);

// Restores into a pipeline that has no instruments yet; refuses another model (hash) or state size, naming
// the file. Returns the number of instruments restored and, when the snapshot holds one, the journal position.
struct RestoreResult {
  size_t instruments = 0;
  std::optional<uint64_t> journal_position;
};
RestoreResult restore_pipeline_snapshot(const std::filesystem::path& file, Pipeline& pipeline, uint64_t model_hash);

}  // namespace tickrt
