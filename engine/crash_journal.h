// Crash safety for `tickrt run --journal FILE [--snapshot DIR --snapshot-every N]`: the engine's own journal of
// every tick it takes in, and the start-up recovery that rebuilds state from the last snapshot plus that journal.
//
// The ordering that gives the guarantee (engine.cpp does the calls, this file the work):
//   1. each owned, valid tick is appended to the journal buffer as it arrives (its raw topic and FlatBuffer
//      bytes and its receive time: no allocation, the writer's buffer is preallocated);
//   2. before the pipeline steps a wave, commit() write(2)s the buffer: the ticks are in the OS page cache,
//      which survives kill -9 of the process (power loss needs --journal-fsync every-batch);
//   3. only then are their signals published.
//   4. every --snapshot-every N accepted ticks, at a drain end with nothing queued, the pipeline snapshot is
//      written atomically with journal_position = the journal's byte offset after the commit, i.e. exactly the
//      ticks the snapshot's state has seen.
// After a crash, recover() restores nothing itself but replays journal records [snapshot position, end)
// through the same decode -> pipeline path with every signal discarded. So:
//   - no tick that reached the journal is lost to the model: the restarted state equals that of an engine that
//     saw every journaled tick once, in journal order;
//   - no signal is published twice: a replayed tick never publishes, and a tick is journaled once;
//   - the price is at-most-once signals: ticks journaled whose signals had not reached the wire at the kill get
//     none: the wave being stepped (at most one --max-batch drain) plus the signals ZeroMQ still held in its
//     in-process send queue. Re-publishing them would need to know what ZeroMQ had sent, which no marker
//     written after the send can prove; late signals would also be stale by the time a restart could send them.
//   - ticks still in the socket buffers, or read in the drain cut short by the kill (appended but not yet
//     committed), are lost with the process: PUB/SUB has no redelivery, and no signal of them ever left.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/pipeline.h"
#include "feeds/journal_writer.h"

namespace tickrt {

// What start-up recovery did.
struct RecoveryReport {
  uint64_t from_offset = 0;      // where replay started: the snapshot's journal position or the first record
  uint64_t end_offset = 0;       // the journal's end, where live appends continue
  uint64_t records = 0;          // journal records replayed
  uint64_t ticks = 0;            // of them, ticks submitted to the pipeline
  uint64_t rejected = 0;         // records that failed decoding (a journal only holds valid ticks: expect 0)
  uint64_t bytes_truncated = 0;  // torn tail cut off when the journal was reopened (a write cut by the crash)
};

class CrashJournal {
 public:
  // Opens FILE for append, creating it, or validating it and cutting a torn tail. Throws std::runtime_error
  // naming the file when it is not a tick journal or is corrupt before its tail.
  CrashJournal(const std::filesystem::path& file, journal::FsyncPolicy fsync);

  // Start-up, after the snapshot (if any) was restored into `pipeline`: replays the records the snapshot does
  // not cover, publishing nothing. `snapshot_position` is the restored snapshot's journal position;
  // `snapshot_has_state` says whether a snapshot restored any instrument. Without a snapshot the whole journal
  // is replayed. Throws std::runtime_error naming the journal when the snapshot does not fit it (a position
  // past its end or off a record boundary; instruments restored without a position while the journal holds
  // records, so whether they are in the state is unknown). A journal that is empty while the snapshot has a
  // position (it was moved away after a clean stop) is accepted: nothing to replay.
  RecoveryReport recover(Pipeline& pipeline, std::optional<uint64_t> snapshot_position, bool snapshot_has_state);

  // ---- hot path (no allocation, no throw): false means the journal failed (error() says why) and the engine
  // must stop without publishing anything more: what it would publish is no longer covered.
  bool append(int64_t recv_ns, std::string_view topic, std::span<const uint8_t> payload) noexcept;
  // Writes what append() buffered (write(2), fsync per policy). Call before publishing signals of those ticks.
  bool commit() noexcept;

  // Before a snapshot that will name position(): with an fsync policy, makes the journal durable up to it first,
  // so that after a power loss the snapshot never covers bytes the journal lost. False on failure.
  bool make_durable() noexcept;
  // Bytes of the journal once committed (a record boundary): the snapshot's journal position.
  uint64_t position() const noexcept { return writer_.file_offset(); }

  void close();  // commit, fsync unless the policy is none, close; throws naming the file

  const std::string& error() const noexcept { return error_; }
  bool failed() const noexcept { return !error_.empty(); }
  uint64_t records_appended() const noexcept { return writer_.records_appended(); }
  uint64_t fsyncs() const noexcept { return writer_.fsyncs(); }
  const std::string& path() const noexcept { return writer_.path(); }
  journal::FsyncPolicy fsync_policy() const noexcept { return fsync_; }

 private:
  bool fail(const char* what, const std::exception* e) noexcept;

  journal::FsyncPolicy fsync_;
  journal::JournalWriter writer_;
  std::string error_;  // set once, on the first failure
};

// Fsyncs a file and its directory, so a rename that put the file there survives a power loss.
void sync_file_and_directory(const std::filesystem::path& file);

}  // namespace tickrt
