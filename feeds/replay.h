// Replays a `.ticks` journal into a MessageSink (a ZmqSink for `tickrt replay`), open-loop: each record is sent
// at its recorded receive time, relative to the first record and divided by `speed`, on an absolute schedule
// (feeds/pacer.h), or as fast as possible. It never waits for receivers; a sink that cannot take a message
// drops and counts it.
//
// By default the FlatBuffer goes out unchanged, byte for byte as recorded, so a replay recorded again gives the
// same payloads. With `stamp`, each Tick is decoded, verified, given send_time_ns = CLOCK_REALTIME just before
// sending and rebuilt (Tick journals only; a record that fails verification is then skipped and counted).
//
// Loops: loop k+1 starts where loop k's schedule ended (its last record's time), so the first record of the
// next loop goes out right after the last one of the previous.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "feeds/journal_reader.h"
#include "feeds/message_sink.h"
#include "feeds/pacer.h"

namespace tickrt::feeds {

struct ReplayOptions {
  double speed = 1.0;                // > 0: schedule = recorded receive-time offsets / speed
  bool max_speed = false;            // true: no pacing, as fast as the sink takes them
  std::vector<std::string> topics;   // topic prefixes to send; empty: all (like a ZeroMQ subscription)
  std::uint64_t loops = 1;           // passes over the journal, >= 1
  bool stamp = false;                // restamp send_time_ns (rebuilds each Tick; see above)
  std::int64_t progress_interval_ns = 200'000'000;  // how often the progress callback runs (about)
};

struct ReplayProgress {
  double fraction = 0;         // of all loops, by journal bytes read, in [0, 1]
  std::uint64_t attempted = 0; // records handed to the sink so far
  std::uint64_t dropped = 0;
  double elapsed_s = 0;
};

struct ReplayReport {
  std::uint64_t attempted = 0;   // records handed to the sink
  std::uint64_t sent = 0;        // accepted by the sink
  std::uint64_t dropped = 0;     // refused by the sink (e.g. send high-water mark)
  std::uint64_t filtered = 0;    // records whose topic matched no --topic prefix
  std::uint64_t invalid = 0;     // stamp mode: records that failed verification, not sent
  std::uint64_t loops = 0;       // passes completed
  bool stopped = false;          // ended by the stop flag
  PacingStats pacing;            // lateness against the schedule (paced runs)
  double elapsed_s = 0;
  double achieved_rate = 0;      // attempted / elapsed_s
  journal::ReadStats read;       // how the last pass over the journal ended (torn tail, corruption)
};

using ReplayProgressFn = std::function<void(const ReplayProgress&)>;

// Runs until every loop is done or `*stop` becomes true. Throws std::runtime_error when the options are out of
// range or `stamp` is asked of a journal that is not of Ticks.
ReplayReport replay_journal(journal::JournalReader& reader, MessageSink& sink, const ReplayOptions& options,
                            const std::atomic<bool>* stop = nullptr, const ReplayProgressFn& progress = {});

}  // namespace tickrt::feeds
