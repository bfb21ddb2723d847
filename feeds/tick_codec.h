// The wire format of the feed: a ZeroMQ message of two frames, frame 1 the topic (the instrument symbol), frame 2
// a FlatBuffer whose file identifier says what it is ("TICK": schemas/tick.fbs, "SGNL": schemas/signal.fbs).
// Buffers are not size-prefixed.
//
// Decoding verifies each buffer (identifier, flatbuffers::Verifier, then the values) and either yields a plain
// event struct or a RejectReason, counted. Encoding reuses one FlatBufferBuilder so that, once it has grown to
// the largest message, building allocates nothing.
#pragma once
#include <flatbuffers/flatbuffers.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "signal_generated.h"
#include "tick_generated.h"

namespace tickrt::feeds {

using wire::Side;
using wire::TickKind;

// Limits of what the decoder accepts; a message beyond them is rejected, never truncated.
inline constexpr std::size_t kMaxTopicBytes = 64;            // symbols are short; a long topic is garbage
inline constexpr std::size_t kMaxPayloadBytes = 64 * 1024;   // a Tick is < 200 bytes, a Signal 4 bytes/output
inline constexpr std::size_t kMinPayloadBytes = 8;           // root offset + file identifier
inline constexpr double kMaxPrice = 1e12;                    // above this a price is corrupt, not expensive
inline constexpr double kMaxSize = 1e15;
inline constexpr std::int64_t kMaxTimeNs = 4'102'444'800'000'000'000;  // 2100-01-01T00:00:00Z

// One market-data event. A plain value: `symbol` points into the received message (or the caller's storage) and
// is valid only as long as that memory (for ZmqSource: during the handler call).
struct TickEvent {
  std::string_view symbol;
  std::uint64_t seq = 0;
  std::uint64_t symbol_seq = 0;    // per-symbol sequence number, 1, 2, … (0: not numbered; schemas/tick.fbs)
  std::int64_t event_time_ns = 0;  // exchange time, ns since the Unix epoch
  std::int64_t send_time_ns = 0;   // publisher's CLOCK_REALTIME just before sending (0: not stamped)
  std::int64_t recv_time_ns = 0;   // local: CLOCK_REALTIME when the message was read (not on the wire)
  TickKind kind = TickKind::Quote;
  double price = 0;  // trade price (trades)
  double size = 0;   // trade size (trades)
  Side side = Side::Unknown;
  double bid_price = 0, bid_size = 0, ask_price = 0, ask_size = 0;
};

// One model output. `prediction` points into the received message (or the caller's storage), like `symbol`.
struct SignalEvent {
  std::string_view symbol;
  std::uint64_t seq = 0;  // the tick this signal answers
  std::int64_t event_time_ns = 0;
  std::int64_t recv_time_ns = 0;     // when the engine received the tick
  std::int64_t publish_time_ns = 0;  // when the engine published the signal
  const float* prediction = nullptr;  // [prediction_count]
  std::uint32_t prediction_count = 0;
  std::uint32_t context_age = 0;
  std::uint64_t model_hash = 0;
  std::uint32_t flags = 0;  // wire::SignalFlags bits
  std::int64_t local_recv_time_ns = 0;  // local: when this signal message was read (not on the wire)
};

enum class PayloadKind : std::uint8_t { Tick, Signal };

// Why a message was dropped. Policy (documented in feeds/README.md):
//  - quotes need finite bid, ask > 0 and finite sizes >= 0; a crossed book (bid > ask) is rejected as
//    crossed_book, a locked book (bid == ask) is accepted;
//  - trades need finite price > 0 and size > 0; the book they may carry must be finite and >= 0;
//  - event_time_ns must lie in (0, 2100); send_time_ns in [0, 2100) (0 = not stamped);
//  - signals need positive times and finite predictions.
enum class RejectReason : std::uint8_t {
  frame_count,         // not exactly two frames
  empty_topic,
  topic_too_long,      // > kMaxTopicBytes
  too_short,           // payload < kMinPayloadBytes
  too_large,           // payload > kMaxPayloadBytes
  unknown_identifier,  // neither "TICK" nor "SGNL"
  verify_failed,       // flatbuffers::Verifier said no
  bad_enum,            // kind or side out of range
  bad_timestamp,       // times <= 0 or beyond 2100
  non_finite,          // NaN or infinity in a price, size or prediction
  non_positive_price,
  bad_size,            // trade size <= 0, quote size < 0
  crossed_book,        // bid > ask
  absurd_value,        // price > kMaxPrice or size > kMaxSize
};
inline constexpr std::size_t kRejectReasonCount = 14;

// "frame_count", "verify_failed", … (metric label values).
std::string_view reject_reason_name(RejectReason reason) noexcept;

// Rejections by reason. One writer (the thread that decodes), any number of readers (metrics): the counters are
// atomics so that reads are well-defined, written without a locked instruction.
struct RejectCounters {
  std::array<std::atomic<std::uint64_t>, kRejectReasonCount> by_reason{};

  void add(RejectReason r) noexcept {
    auto& c = by_reason[static_cast<std::size_t>(r)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::uint64_t operator[](RejectReason r) const noexcept {
    return by_reason[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
  std::uint64_t total() const noexcept;
};

// Value checks shared by every path that produces ticks (wire, journal, importers). Returns true when valid,
// else sets `reason`.
bool validate_tick(const TickEvent& tick, RejectReason& reason) noexcept;
bool validate_signal(const SignalEvent& signal, RejectReason& reason) noexcept;

// The result of decoding one message: exactly one of tick/signal is meaningful when ok.
struct Decoded {
  bool ok = false;
  RejectReason reason = RejectReason::frame_count;  // when !ok
  PayloadKind kind = PayloadKind::Tick;             // when ok
  TickEvent tick;
  SignalEvent signal;
};

// Decodes and verifies frames; counts every rejection. Holds an aligned scratch buffer so that payloads whose
// address is not 8-byte aligned (FlatBuffers reads doubles in place) are copied, never read misaligned.
// Not thread-safe: one decoder per receiving thread.
class MessageDecoder {
 public:
  MessageDecoder();

  // Decodes topic + payload (frame 1 and frame 2). The returned views point into `payload` (or the scratch
  // buffer) and `topic`, valid until the next call or until that memory goes away.
  Decoded decode(std::string_view topic, std::span<const std::uint8_t> payload) noexcept;

  // Counts a rejection found outside decode() (e.g. the receive loop saw the wrong number of frames).
  Decoded reject(RejectReason reason) noexcept;

  const RejectCounters& rejects() const noexcept { return rejects_; }

 private:
  std::vector<std::uint64_t> scratch_;  // [kMaxPayloadBytes / 8] aligned copy of a misaligned payload
  RejectCounters rejects_;
};

// Builds Tick and Signal buffers in one reused builder. Each build returns the finished bytes, valid until the
// next build. After the first build of the largest message size, building allocates nothing.
class MessageBuilder {
 public:
  explicit MessageBuilder(std::size_t initial_bytes = 1024);

  std::span<const std::uint8_t> build_tick(const TickEvent& tick);      // ignores tick.symbol, recv_time_ns
  std::span<const std::uint8_t> build_signal(const SignalEvent& signal);  // ignores symbol, local_recv_time_ns

 private:
  flatbuffers::FlatBufferBuilder fbb_;
};

}  // namespace tickrt::feeds
