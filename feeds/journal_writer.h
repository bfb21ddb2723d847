// Appends records to a `.ticks` journal (format: journal_format.h) through its own buffer, written with
// write(2) in batches, with a chosen fsync policy. Opening an existing journal validates it first and
// truncates a torn or corrupt tail (how many bytes: open_report()); a journal corrupt in the middle is refused.
#pragma once
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "feeds/journal_format.h"

namespace tickrt::journal {

enum class FsyncPolicy : uint8_t {
  None,         // never fsync; the OS writes back when it likes
  Interval,     // fsync once interval_ms have passed or interval_records were appended since the last one
  EveryBatch,   // fsync after every write(2) of the buffer (flush() or a full buffer)
  EveryRecord,  // write(2) and fsync after every record
};

// Parses "none", "interval", "every-batch", "every-record"; throws std::invalid_argument otherwise.
FsyncPolicy parse_fsync_policy(std::string_view name);

struct WriterOptions {
  SchemaId schema = kTickSchema;
  FsyncPolicy fsync = FsyncPolicy::None;
  uint32_t interval_ms = 1000;      // Interval policy: time bound (0 = no time bound)
  uint64_t interval_records = 0;    // Interval policy: record-count bound (0 = no count bound)
  size_t buffer_bytes = 1u << 20;   // write(2) happens when the buffer would overflow, and on flush()
  bool truncate = false;            // start a fresh journal even when the file exists
};

// What opening found in an existing file.
struct OpenReport {
  bool existed = false;          // the file held a journal (or part of a header) before
  uint64_t records_kept = 0;     // valid records found and kept
  uint64_t bytes_truncated = 0;  // torn or corrupt tail cut off
};

enum class AppendResult : uint8_t { Ok, TooLarge };  // TooLarge: topic > 65535 bytes or record > 16 MiB

class JournalWriter {
 public:
  // Creates `path` or opens it for append. Throws std::runtime_error naming the file when it cannot be
  // opened, is not a journal, has another schema, or is corrupt before its tail.
  explicit JournalWriter(const std::string& path, WriterOptions options = {});
  ~JournalWriter();  // close(), errors swallowed: call close() to see them
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Copies one record into the buffer (writing the buffer out first if it is full). Allocation-free once
  // the buffer holds the largest record seen. I/O errors throw std::runtime_error naming the file.
  AppendResult append(int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload);

  void flush();  // write(2) the buffer; fsync per policy (EveryBatch, or Interval when due)
  void sync();   // flush() then fsync regardless of policy
  void close();  // flush(), fsync unless the policy is None, close the file. Idempotent.

  const OpenReport& open_report() const { return open_report_; }
  uint64_t records_appended() const { return records_appended_; }  // by this writer
  uint64_t rejected() const { return rejected_; }                  // TooLarge appends
  uint64_t fsyncs() const { return fsyncs_; }
  uint64_t file_offset() const { return file_offset_ + buffer_.size(); }  // bytes in the journal incl. buffer
  const std::string& path() const { return path_; }

 private:
  void write_buffer();
  void fsync_now();
  void open_existing(uint64_t size);

  std::string path_;
  WriterOptions options_;
  int fd_ = -1;
  std::vector<uint8_t> buffer_;  // [<= buffer_bytes] encoded records not yet written
  uint64_t file_offset_ = 0;     // bytes already written to the file
  OpenReport open_report_;
  uint64_t records_appended_ = 0;
  uint64_t rejected_ = 0;
  uint64_t fsyncs_ = 0;
  uint64_t records_since_sync_ = 0;
  std::chrono::steady_clock::time_point last_sync_;
};

}  // namespace tickrt::journal
