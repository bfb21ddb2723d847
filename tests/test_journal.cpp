// The `.ticks` journal: round trips, torn tails at every byte, reopening for append, corrupt middles.
#include <catch2/catch.hpp>
#include <flatbuffers/flatbuffers.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "feeds/journal.h"
#include "tests/test_util.h"
#include "tick_generated.h"

namespace {

using namespace tickrt::journal;
namespace wire = tickrt::wire;

struct Expected {
  int64_t recv_ns;
  std::string topic;
  std::vector<uint8_t> payload;
  uint64_t end;  // file offset just after this record
};

// A real Tick FlatBuffer; sizes vary with the values that are left at their defaults.
std::vector<uint8_t> make_tick(uint64_t seq) {
  flatbuffers::FlatBufferBuilder fbb(256);
  wire::TickBuilder tb(fbb);
  tb.add_seq(seq);
  tb.add_event_time_ns(1'700'000'000'000'000'000LL + static_cast<int64_t>(seq) * 1000);
  if (seq % 3 == 0) {
    tb.add_kind(wire::TickKind::Trade);
    tb.add_price(100.0 + static_cast<double>(seq));
    tb.add_size(0.5);
    tb.add_side(wire::Side::Buy);
  } else {
    tb.add_bid_price(99.5);
    tb.add_ask_price(100.5 + static_cast<double>(seq % 5));
  }
  wire::FinishTickBuffer(fbb, tb.Finish());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

std::vector<Expected> write_journal(const std::string& path, int n, WriterOptions opts = {}) {
  std::vector<Expected> out;
  JournalWriter w(path, opts);
  for (int i = 0; i < n; ++i) {
    Expected e{1000 + i * 7, std::string(static_cast<size_t>(1 + i % 11), static_cast<char>('A' + i % 26)),
               make_tick(static_cast<uint64_t>(i + 1)), 0};
    REQUIRE(w.append(e.recv_ns, e.topic, e.payload) == AppendResult::Ok);
    e.end = w.file_offset();
    out.push_back(std::move(e));
  }
  w.close();
  return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
}

// Reads every record and checks it against `expected[first...]` in order; returns how many were read.
size_t read_and_check(JournalReader& r, const std::vector<Expected>& expected, size_t first = 0) {
  RecordView rec;
  size_t i = first;
  while (r.next(rec)) {
    REQUIRE(i < expected.size());
    CHECK(rec.recv_ns == expected[i].recv_ns);
    CHECK(rec.topic == expected[i].topic);
    REQUIRE(rec.payload.size() == expected[i].payload.size());
    CHECK(std::memcmp(rec.payload.data(), expected[i].payload.data(), rec.payload.size()) == 0);
    CHECK(reinterpret_cast<uintptr_t>(rec.payload.data()) % 8 == 0);
    ++i;
  }
  return i - first;
}

}  // namespace

TEST_CASE("journal: round trip of records, read in place and verified", "[journal]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "a.ticks";
  const auto expected = write_journal(path, 500, WriterOptions{.buffer_bytes = 4096});  // many batches
  JournalReader r(path, {.expect_schema = kTickSchema});
  CHECK(r.schema() == kTickSchema);
  RecordView rec;
  size_t n = 0;
  while (r.next(rec)) {
    REQUIRE(n < expected.size());
    CHECK(rec.recv_ns == expected[n].recv_ns);
    CHECK(rec.topic == expected[n].topic);
    REQUIRE(rec.payload.size() == expected[n].payload.size());
    CHECK(std::memcmp(rec.payload.data(), expected[n].payload.data(), rec.payload.size()) == 0);
    // In place: the mapped FlatBuffer verifies (alignment checks included) and reads without a copy.
    flatbuffers::Verifier v(rec.payload.data(), rec.payload.size());
    REQUIRE(wire::VerifyTickBuffer(v));
    CHECK(wire::GetTick(rec.payload.data())->seq() == n + 1);
    ++n;
  }
  CHECK(n == 500);
  CHECK(r.stats().records == 500);
  CHECK(r.stats().clean());
  CHECK(r.stats().end_offset == std::filesystem::file_size(path));
  r.rewind();
  CHECK(read_and_check(r, expected) == 500);

  CHECK_THROWS_WITH(JournalReader(path, {.expect_schema = kSignalSchema}), Catch::Contains("schema 'TICK'"));
  CHECK_THROWS_WITH(JournalReader(dir / "missing.ticks"), Catch::Contains("missing.ticks"));
}

TEST_CASE("journal: signal journals use the same format with schema SGNL", "[journal]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "s.ticks";
  const auto expected = write_journal(path, 10, WriterOptions{.schema = kSignalSchema});
  JournalReader r(path);
  CHECK(r.schema() == kSignalSchema);
  CHECK(read_and_check(r, expected) == 10);
  // Appending with the wrong schema is refused rather than mixing payload kinds.
  CHECK_THROWS_WITH(JournalWriter(path, WriterOptions{.schema = kTickSchema}), Catch::Contains("schema"));
}

TEST_CASE("journal: a journal cut at every byte offset within its last 3 records replays exactly the complete records before the cut",
          "[journal]") {
  tickrt::test::TempDir dir;
  const auto full_path = dir / "full.ticks";
  const auto expected = write_journal(full_path, 12);
  const auto bytes = read_bytes(full_path);
  REQUIRE(bytes.size() == expected.back().end);
  const size_t from = expected[expected.size() - 4].end;  // start of the third-last record
  const auto cut_path = dir / "cut.ticks";
  size_t cuts = 0;
  for (size_t cut = from; cut <= bytes.size(); ++cut) {
    write_bytes(cut_path, bytes.data(), cut);
    size_t complete = 0;
    uint64_t complete_end = kHeaderSize;
    for (const auto& e : expected)
      if (e.end <= cut) {
        ++complete;
        complete_end = e.end;
      }
    JournalReader r(cut_path);
    INFO("cut at " << cut);
    REQUIRE(read_and_check(r, expected) == complete);
    CHECK(r.stats().records == complete);
    CHECK(r.stats().bytes_skipped == cut - complete_end);
    CHECK(r.stats().tail_bytes == cut - complete_end);
    CHECK(r.stats().corrupt_regions == 0);
    CHECK_FALSE(r.stats().stopped_at_corruption);
    ++cuts;
  }
  CHECK(cuts == bytes.size() - from + 1);
}

TEST_CASE("journal: reopening for append truncates a torn tail, then appends cleanly", "[journal]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "a.ticks";
  auto expected = write_journal(path, 20);
  const uint64_t full = expected.back().end;
  const uint64_t cut = expected[18].end + 13;  // 13 bytes into the last record
  std::filesystem::resize_file(path, cut);
  expected.pop_back();

  JournalWriter w(path, WriterOptions{.fsync = FsyncPolicy::EveryBatch});
  CHECK(w.open_report().existed);
  CHECK(w.open_report().records_kept == 19);
  CHECK(w.open_report().bytes_truncated == 13);
  CHECK(std::filesystem::file_size(path) == expected.back().end);
  for (int i = 0; i < 5; ++i) {
    Expected e{5000 + i, "NEW", make_tick(static_cast<uint64_t>(100 + i)), 0};
    REQUIRE(w.append(e.recv_ns, e.topic, e.payload) == AppendResult::Ok);
    expected.push_back(std::move(e));
  }
  w.flush();
  CHECK(w.fsyncs() >= 1);
  w.close();
  CHECK(std::filesystem::file_size(path) > full);

  JournalReader r(path);
  CHECK(read_and_check(r, expected) == 24);
  CHECK(r.stats().clean());

  // A clean journal reopens with nothing truncated; a header cut short is rewritten.
  JournalWriter again(path);
  CHECK(again.open_report().records_kept == 24);
  CHECK(again.open_report().bytes_truncated == 0);
  again.close();
  const auto half = dir / "half.ticks";
  write_bytes(half, read_bytes(path).data(), 11);
  JournalWriter h(half);
  CHECK(h.open_report().bytes_truncated == 11);
  h.close();
  JournalReader hr(half);
  RecordView rec;
  CHECK_FALSE(hr.next(rec));
  CHECK(hr.stats().clean());
  // A file that is not a journal is never overwritten.
  const auto text = dir / "text.ticks";
  write_bytes(text, reinterpret_cast<const uint8_t*>("hello"), 5);
  CHECK_THROWS_WITH(JournalWriter(text), Catch::Contains("not a journal header"));
  CHECK(std::filesystem::file_size(text) == 5);
}

TEST_CASE("journal: a flipped bit in a middle record is caught by the crc", "[journal]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "a.ticks";
  const auto expected = write_journal(path, 30);
  auto bytes = read_bytes(path);
  const size_t bad = 10;  // the 11th record
  const size_t bad_start = expected[bad - 1].end;
  const size_t bad_size = expected[bad].end - bad_start;
  for (size_t flip_at : {bad_start + 30, bad_start + bad_size - 3, bad_start + 9}) {  // topic, payload, recv_ns
    auto copy = bytes;
    copy[flip_at] ^= 0x04;
    const auto cpath = dir / "bad.ticks";
    write_bytes(cpath, copy.data(), copy.size());
    INFO("flipped byte " << flip_at);
    {
      JournalReader r(cpath);  // default: stop at the corruption and say so
      CHECK(read_and_check(r, expected) == bad);
      CHECK(r.stats().stopped_at_corruption);
      CHECK(r.stats().corrupt_regions == 1);
      CHECK(r.stats().first_bad_offset == bad_start);
      CHECK(r.stats().bytes_skipped == copy.size() - bad_start);
      CHECK(r.stats().tail_bytes == 0);
    }
    {
      JournalReader r(cpath, {.skip_corrupt = true});
      RecordView rec;
      std::vector<std::string> topics;
      std::vector<int64_t> times;
      while (r.next(rec)) times.push_back(rec.recv_ns);
      REQUIRE(times.size() == expected.size() - 1);
      for (size_t i = 0, j = 0; i < expected.size(); ++i)
        if (i != bad) CHECK(times[j++] == expected[i].recv_ns);
      CHECK(r.stats().corrupt_regions == 1);
      CHECK(r.stats().bytes_skipped == bad_size);
      CHECK_FALSE(r.stats().stopped_at_corruption);
    }
    // Appending to a journal corrupt in the middle is refused, and the file is left as it was.
    CHECK_THROWS_WITH(JournalWriter(cpath), Catch::Contains("corrupt record at offset"));
    CHECK(std::filesystem::file_size(cpath) == copy.size());
  }
  // A flipped bit in the last record is a corrupt tail: reading ends cleanly, the writer truncates it.
  auto copy = bytes;
  copy[expected[28].end + 20] ^= 0x01;
  const auto tpath = dir / "tail.ticks";
  write_bytes(tpath, copy.data(), copy.size());
  JournalReader r(tpath);
  CHECK(read_and_check(r, expected) == 29);
  CHECK(r.stats().tail_bytes == copy.size() - expected[28].end);
  CHECK_FALSE(r.stats().torn_tail);
  CHECK_FALSE(r.stats().stopped_at_corruption);
  JournalWriter w(tpath);
  CHECK(w.open_report().bytes_truncated == copy.size() - expected[28].end);
}

TEST_CASE("journal: absurd and inconsistent length fields are corruption, not allocations", "[journal]") {
  tickrt::test::TempDir dir;
  const auto path = dir / "a.ticks";
  const auto expected = write_journal(path, 8);
  const auto bytes = read_bytes(path);
  const size_t at = expected[3].end;  // the 5th record
  for (uint32_t length : {0xFFFFFFF4u, static_cast<uint32_t>((16u << 20) + 4), 0u, 5u, 12u}) {
    auto copy = bytes;
    std::memcpy(copy.data() + at, &length, 4);
    const auto cpath = dir / "len.ticks";
    write_bytes(cpath, copy.data(), copy.size());
    INFO("length " << length);
    JournalReader stop(cpath);
    CHECK(read_and_check(stop, expected) == 4);
    CHECK(stop.stats().stopped_at_corruption);
    JournalReader skip(cpath, {.skip_corrupt = true});
    RecordView rec;
    size_t n = 0;
    while (skip.next(rec)) ++n;
    CHECK(n == 7);
    CHECK(skip.stats().bytes_skipped == expected[4].end - at);
  }
  // A huge length in the very last record is a corrupt tail.
  auto copy = bytes;
  const uint32_t huge = 0x7FFFFFFCu;
  std::memcpy(copy.data() + expected[6].end, &huge, 4);
  write_bytes(dir / "tail.ticks", copy.data(), copy.size());
  JournalReader r(dir / "tail.ticks");
  CHECK(read_and_check(r, expected) == 7);
  CHECK(r.stats().tail_bytes == copy.size() - expected[6].end);
  // Oversized appends are rejected and counted, never written.
  JournalWriter w(dir / "big.ticks");
  std::vector<uint8_t> big((16u << 20) + 1);
  CHECK(w.append(1, "X", big) == AppendResult::TooLarge);
  CHECK(w.append(1, std::string(70000, 'T'), expected[0].payload) == AppendResult::TooLarge);
  CHECK(w.rejected() == 2);
  CHECK(w.records_appended() == 0);
}

TEST_CASE("journal: fsync policies sync when they promise to", "[journal]") {
  tickrt::test::TempDir dir;
  const auto payload = make_tick(1);
  {
    JournalWriter w(dir / "rec.ticks", WriterOptions{.fsync = FsyncPolicy::EveryRecord});
    const uint64_t at_open = w.fsyncs();  // the new header is synced too
    for (int i = 0; i < 5; ++i) w.append(i, "A", payload);
    CHECK(w.fsyncs() - at_open == 5);
    CHECK(std::filesystem::file_size(dir / "rec.ticks") == w.file_offset());  // nothing left in the buffer
  }
  {
    JournalWriter w(dir / "int.ticks", WriterOptions{.fsync = FsyncPolicy::Interval, .interval_ms = 0,
                                                     .interval_records = 4});
    const uint64_t at_open = w.fsyncs();
    for (int i = 0; i < 10; ++i) w.append(i, "A", payload);
    CHECK(w.fsyncs() - at_open == 2);
  }
  {
    JournalWriter w(dir / "none.ticks", WriterOptions{.fsync = FsyncPolicy::None});
    for (int i = 0; i < 10; ++i) w.append(i, "A", payload);
    w.flush();
    CHECK(w.fsyncs() == 0);
    CHECK(std::filesystem::file_size(dir / "none.ticks") == w.file_offset());
  }
  CHECK(parse_fsync_policy("every-batch") == FsyncPolicy::EveryBatch);
  CHECK_THROWS_WITH(parse_fsync_policy("sometimes"), Catch::Contains("sometimes"));
}
