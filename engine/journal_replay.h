// Steps a journal's ticks through a pipeline: the one loop behind the backtest (`tickrt replay --model`, step
// mode) and the crash journal's start-up replay, so both see a journal exactly as the live engine saw its ticks.
#pragma once
#include <cstdint>

#include "engine/pipeline.h"
#include "engine/tick_adapter.h"
#include "feeds/journal_reader.h"
#include "feeds/tick_codec.h"

namespace tickrt {

struct JournalStepCounts {
  uint64_t records = 0;  // records read from the reader's position to its end
  uint64_t ticks = 0;    // of them, valid ticks submitted (the rest failed decoding, counted by the decoder)
};

// Reads `reader` from its position to its end and submits every valid tick to `pipeline`, stamped with the
// journal's receive time (never the wall clock: a replay is deterministic). `flush()` must step the queue
// (pipeline.flush(sink), plus whatever the sink needs first); it is called whenever the queue is full and once
// at the end, so nothing is left queued.
template <class Flush>
JournalStepCounts step_journal_ticks(journal::JournalReader& reader, feeds::MessageDecoder& decoder,
                                     Pipeline& pipeline, Flush&& flush) {
  JournalStepCounts n;
  journal::RecordView rec;
  while (reader.next(rec)) {
    ++n.records;
    const feeds::Decoded d = decoder.decode(rec.topic, rec.payload);
    if (!d.ok || d.kind != feeds::PayloadKind::Tick) continue;
    feeds::TickEvent e = d.tick;
    e.recv_time_ns = rec.recv_ns;
    if (pipeline.full()) flush();
    pipeline.submit(to_tick_in(e, rec.recv_ns));
    ++n.ticks;
  }
  flush();
  return n;
}

}  // namespace tickrt
