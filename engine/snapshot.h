// Snapshots of per-instrument state (MODEL-SPEC §7): every instrument's raw backend state plus the model hash,
// so a restarted engine continues exactly where it stopped, on the same or another backend.
//
// File format, version 1 (all integers little-endian):
//   magic "TICKSNAP" (8 bytes), u32 version = 1, u32 reserved = 0,
//   u64 model_hash, u64 state_bytes, u64 instrument count n,
//   n x { i32 slot, u32 symbol length, symbol bytes (UTF-8, may be empty),
//         u64 journal position (UINT64_MAX = none), state_bytes bytes of state (kernels/README.md),
//         u32 engine state length m, m bytes of engine state (the pipeline's per-instrument feature state) },
//   u64 FNV-1a 64 of every byte before it.
// Files are written to FILE.tmp and renamed, so a crash never leaves a half-written snapshot under FILE.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace tickrt {

struct SnapshotInstrument {
  int32_t slot = 0;
  std::string symbol;                       // filled by the engine; may be empty
  std::optional<uint64_t> journal_position; // the journal position the state covers, when journaling
  std::vector<std::byte> state;             // [state_bytes] the backend's state
  std::vector<std::byte> engine_state;      // the engine's own per-instrument state (features); may be empty
};

struct Snapshot {
  uint64_t model_hash = 0;
  uint64_t state_bytes = 0;
  std::vector<SnapshotInstrument> instruments;
};

void write_snapshot(const std::filesystem::path& file, const Snapshot& s);
// Reads and verifies magic, version, sizes and the content hash; errors name the file.
Snapshot read_snapshot(const std::filesystem::path& file);

// The state of `slots` (symbols and journal positions left empty for the caller to fill).
Snapshot capture_snapshot(const Backend& backend, uint64_t model_hash, const std::vector<int32_t>& slots);
// Writes every instrument's state into `backend`; refuses a different model hash or state size, or a slot out
// of range, naming `source` (the file) in the error. Nothing is written unless all checks pass.
void restore_snapshot(const Snapshot& s, Backend& backend, uint64_t model_hash, const std::string& source);

}  // namespace tickrt
