// Reads a `.ticks` journal (format: journal_format.h) through a read-only memory map, one record view at a
// time, without copying. A torn or corrupt tail ends reading cleanly; a corrupt record in the middle either
// stops reading (default) or is skipped by scanning forward to the next valid record (skip_corrupt).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "feeds/journal_format.h"

namespace tickrt::journal {

struct ReaderOptions {
  bool skip_corrupt = false;                // resynchronise after a corrupt record in the middle
  std::optional<SchemaId> expect_schema{};  // when set, a journal of another schema is rejected at open
};

// What reading found so far; final once next() has returned false.
struct ReadStats {
  uint64_t records = 0;          // valid records returned
  uint64_t corrupt_regions = 0;  // corrupt stretches followed by valid records (skipped or stopped at)
  uint64_t bytes_skipped = 0;    // bytes not returned as records: corrupt stretches, the tail, and with
                                 // skip_corrupt=false everything after the first corrupt record
  uint64_t tail_bytes = 0;       // of bytes_skipped: the torn or corrupt tail (no valid record after it)
  bool torn_tail = false;        // the tail is a record cut short (as opposed to bad bytes)
  bool stopped_at_corruption = false;  // reading ended at a corrupt record that has valid records after it
  uint64_t first_bad_offset = 0;       // file offset of the first byte that was not a valid record (0 = none)
  uint64_t end_offset = 0;             // offset just after the last valid record returned

  bool clean() const { return bytes_skipped == 0; }
};

class JournalReader {
 public:
  // Opens and maps `path`; throws std::runtime_error naming the file when it cannot be opened or mapped,
  // its header is invalid, or its schema differs from options.expect_schema.
  explicit JournalReader(const std::string& path, ReaderOptions options = {});
  ~JournalReader();
  JournalReader(const JournalReader&) = delete;
  JournalReader& operator=(const JournalReader&) = delete;

  // The next valid record, or false at the end (stats() then says how reading ended). Never throws.
  bool next(RecordView& out) noexcept;

  // Starts again at the first record, clearing the stats.
  void rewind() noexcept;
  // Starts reading at `offset`, which must be a record boundary a writer or ReadStats::end_offset reported
  // (e.g. the journal position a snapshot covers), clearing the stats. False, and nothing changed, when the
  // offset lies before the first record, past the end of the file or off the 8-byte grid.
  bool seek(uint64_t offset) noexcept;

  const ReadStats& stats() const { return stats_; }
  SchemaId schema() const { return schema_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }

 private:
  std::string path_;
  ReaderOptions options_;
  const uint8_t* base_ = nullptr;  // [size_] the mapped file
  size_t size_ = 0;
  size_t pos_ = kHeaderSize;  // offset of the next record to parse
  bool done_ = false;
  SchemaId schema_{};
  ReadStats stats_;
};

}  // namespace tickrt::journal
