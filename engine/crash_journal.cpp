#include "engine/crash_journal.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "engine/journal_replay.h"
#include "feeds/journal_reader.h"
#include "feeds/tick_codec.h"

namespace tickrt {

namespace {

journal::WriterOptions writer_options(journal::FsyncPolicy fsync) {
  journal::WriterOptions o;
  o.schema = journal::kTickSchema;
  o.fsync = fsync;
  // Interval: at most a second of ticks at risk on power loss (kill -9 loses nothing written).
  o.interval_ms = 1000;
  return o;
}

// Replayed ticks already had their signals published (or belong to the wave the crash cut short): none go out.
struct DiscardSignals final : SignalSink {
  void on_signal(const SignalOut&) override {}
};

void fsync_path(const std::filesystem::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open to fsync: {}", p.string(), std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", p.string(), std::strerror(err)));
}

}  // namespace

CrashJournal::CrashJournal(const std::filesystem::path& file, journal::FsyncPolicy fsync)
    : fsync_(fsync), writer_(file.string(), writer_options(fsync)) {}

RecoveryReport CrashJournal::recover(Pipeline& pipeline, std::optional<uint64_t> snapshot_position,
                                     bool snapshot_has_state) {
  const std::string& file = writer_.path();
  RecoveryReport r;
  r.bytes_truncated = writer_.open_report().bytes_truncated;  // the writer cut the torn tail before we read
  r.end_offset = writer_.file_offset();
  const bool journal_empty = r.end_offset == journal::kHeaderSize;
  r.from_offset = journal::kHeaderSize;
  if (snapshot_position) {
    if (*snapshot_position > r.end_offset) {
      if (!journal_empty)
        throw std::runtime_error(fmt::format(
            "journal {}: the snapshot covers it up to byte {}, but it holds only {} bytes (another journal?); "
            "restore the journal or remove the snapshot",
            file, *snapshot_position, r.end_offset));
      r.from_offset = r.end_offset;  // a fresh journal after a clean stop: the snapshot covers everything before
    } else {
      r.from_offset = *snapshot_position;
    }
  } else if (snapshot_has_state && !journal_empty) {
    throw std::runtime_error(fmt::format(
        "journal {}: holds ticks, but the snapshot has no journal position (written by a run without --journal), "
        "so which of them its state has seen is unknown; remove the journal or the snapshot",
        file));
  }
  if (r.from_offset == r.end_offset) return r;

  journal::JournalReader reader(file, {.skip_corrupt = false, .expect_schema = journal::kTickSchema});
  if (!reader.seek(r.from_offset))
    throw std::runtime_error(
        fmt::format("journal {}: the snapshot's journal position {} is not a record offset", file, r.from_offset));
  feeds::MessageDecoder decoder;
  DiscardSignals discard;
  const JournalStepCounts n = step_journal_ticks(reader, decoder, pipeline, [&] { pipeline.flush(discard); });
  r.records = n.records;
  r.ticks = n.ticks;
  r.rejected = n.records - n.ticks;
  if (reader.stats().end_offset != r.end_offset || !reader.stats().clean())
    throw std::runtime_error(fmt::format(
        "journal {}: replay from the snapshot's position {} ended at byte {}, the journal ends at {}: the "
        "position is not a record boundary of this journal",
        file, r.from_offset, reader.stats().end_offset, r.end_offset));
  return r;
}

bool CrashJournal::fail(const char* what, const std::exception* e) noexcept {
  if (error_.empty()) {
    try {
      error_ = fmt::format("journal {}: {}{}{}", writer_.path(), what, e ? ": " : "", e ? e->what() : "");
    } catch (...) {
      error_ = "journal: failed";  // short enough for the small-string buffer
    }
  }
  return false;
}

bool CrashJournal::append(int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload) noexcept {
  if (failed()) return false;
  try {
    // The source verified the message against the wire limits (64-byte topic, 64 KiB payload), far below the
    // journal's, so TooLarge cannot happen for a tick that reached here.
    if (writer_.append(recv_ns, topic, payload) != journal::AppendResult::Ok) return fail("record too large", nullptr);
    return true;
  } catch (const std::exception& e) {
    return fail("append failed", &e);
  }
}

bool CrashJournal::commit() noexcept {
  if (failed()) return false;
  try {
    writer_.flush();
    return true;
  } catch (const std::exception& e) {
    return fail("write failed", &e);
  }
}

bool CrashJournal::make_durable() noexcept {
  if (failed()) return false;
  if (fsync_ == journal::FsyncPolicy::None) return true;
  try {
    writer_.sync();
    return true;
  } catch (const std::exception& e) {
    return fail("fsync failed", &e);
  }
}

void CrashJournal::close() { writer_.close(); }

void sync_file_and_directory(const std::filesystem::path& file) {
  fsync_path(file, O_RDONLY);
  const auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace tickrt
