// A MessageSink that appends every message to a `.ticks` journal (feeds/journal_writer.h), the message's
// time_ns becoming the record's receive timestamp. Optionally rotates to a new file by size or by time.
//
// Rotation naming: with rotation on, FILE itself is never written; the parts are numbered from 000001 in
// write order. FILE "cap.ticks" gives "cap.000001.ticks", "cap.000002.ticks", …; a FILE without the
// ".ticks" extension gets it appended ("cap" -> "cap.000001.ticks"). Lexicographic order of the names is
// write order. Parts that already exist are kept: numbering continues after the highest existing one.
//  - by size: a record goes to a new part when it would take the current part past rotate_bytes (a part
//    always takes at least one record, so a record larger than the limit gets a part of its own);
//  - by time: a record goes to a new part when its time_ns is rotate_ns or more after the current part's
//    first record (message time, not wall time: a quiet stream creates no empty parts).
//
// publish() copies into the writer's buffer; I/O happens when the buffer fills and on flush(), so a caller
// that must bound what a crash can lose calls flush() on a timer.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "feeds/journal_writer.h"
#include "feeds/message_sink.h"

namespace tickrt::feeds {

struct JournalSinkOptions {
  std::string path;                // FILE (see the naming above when rotating)
  journal::WriterOptions writer;   // schema, fsync policy, buffer; truncate applies to FILE / each new part
  std::uint64_t rotate_bytes = 0;  // 0: no size rotation
  std::int64_t rotate_ns = 0;      // 0: no time rotation
};

struct JournalSinkCounters {
  std::atomic<std::uint64_t> written{0};    // records appended
  std::atomic<std::uint64_t> bytes{0};      // journal bytes appended (record framing included)
  std::atomic<std::uint64_t> too_large{0};  // refused by the writer (topic > 65535 bytes or record > 16 MiB)
  std::atomic<std::uint64_t> errors{0};     // I/O failures (first message: JournalSink::error())
};

class JournalSink final : public MessageSink {
 public:
  // Opens FILE, or the first part when rotating. Throws std::runtime_error naming the file when it cannot be
  // opened or holds a journal of another schema or corrupt before its tail.
  explicit JournalSink(JournalSinkOptions options);
  ~JournalSink() override;  // close(), errors swallowed

  // Appends one record; false when refused (too large) or on an I/O error (counted; error() says which).
  bool publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept override;

  void flush();  // write(2) what is buffered (fsync per policy); throws on I/O errors naming the file
  void close();  // flush, fsync unless the policy is none, close. Idempotent.

  // The name of part `index` (1-based) for FILE `path`.
  static std::string part_path(const std::string& path, std::uint64_t index);

  const JournalSinkCounters& counters() const noexcept { return counters_; }
  const std::vector<std::string>& files() const noexcept { return files_; }  // every file written, in order
  const journal::OpenReport& first_open_report() const noexcept { return first_open_report_; }
  const std::string& error() const noexcept { return error_; }
  bool rotating() const noexcept { return options_.rotate_bytes > 0 || options_.rotate_ns > 0; }

 private:
  void open_next_part();
  bool needs_rotation(std::size_t record_bytes, std::int64_t time_ns) const noexcept;

  JournalSinkOptions options_;
  std::unique_ptr<journal::JournalWriter> writer_;
  std::vector<std::string> files_;
  std::uint64_t next_part_ = 1;
  std::uint64_t part_records_ = 0;       // records in the current part
  std::int64_t part_first_time_ns_ = 0;  // time_ns of the current part's first record
  journal::OpenReport first_open_report_;
  std::string error_;
  JournalSinkCounters counters_;
};

}  // namespace tickrt::feeds
