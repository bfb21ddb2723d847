#include "feeds/tick_codec.h"

#include <cmath>
#include <cstring>

namespace tickrt::feeds {

namespace {

constexpr std::array<std::string_view, kRejectReasonCount> kReasonNames = {
    "frame_count", "empty_topic",  "topic_too_long",     "too_short",  "too_large",
    "unknown_identifier", "verify_failed", "bad_enum", "bad_timestamp", "non_finite",
    "non_positive_price", "bad_size", "crossed_book", "absurd_value"};
static_assert(static_cast<std::size_t>(RejectReason::absurd_value) + 1 == kRejectReasonCount);

bool fail(RejectReason& out, RejectReason reason) noexcept {
  out = reason;
  return false;
}

bool valid_event_time(std::int64_t t) noexcept { return t > 0 && t < kMaxTimeNs; }
bool valid_stamp(std::int64_t t) noexcept { return t >= 0 && t < kMaxTimeNs; }  // 0: not stamped

// Checks one side of the book, or a trade's optional book: finite, >= 0 (positivity is the caller's rule).
bool finite_all(std::initializer_list<double> values) noexcept {
  for (double v : values)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

std::string_view reject_reason_name(RejectReason reason) noexcept {
  auto i = static_cast<std::size_t>(reason);
  return i < kReasonNames.size() ? kReasonNames[i] : std::string_view("unknown");
}

std::uint64_t RejectCounters::total() const noexcept {
  std::uint64_t sum = 0;
  for (const auto& c : by_reason) sum += c.load(std::memory_order_relaxed);
  return sum;
}

bool validate_tick(const TickEvent& t, RejectReason& reason) noexcept {
  if (t.kind != TickKind::Quote && t.kind != TickKind::Trade) return fail(reason, RejectReason::bad_enum);
  if (t.side != Side::Unknown && t.side != Side::Buy && t.side != Side::Sell) return fail(reason, RejectReason::bad_enum);
  if (!valid_event_time(t.event_time_ns) || !valid_stamp(t.send_time_ns))
    return fail(reason, RejectReason::bad_timestamp);
  if (!finite_all({t.price, t.size, t.bid_price, t.bid_size, t.ask_price, t.ask_size}))
    return fail(reason, RejectReason::non_finite);
  if (t.kind == TickKind::Trade) {
    if (t.price <= 0) return fail(reason, RejectReason::non_positive_price);
    if (t.size <= 0) return fail(reason, RejectReason::bad_size);
    // The book a trade may carry: absent (0) or plausible.
    if (t.bid_price < 0 || t.ask_price < 0) return fail(reason, RejectReason::non_positive_price);
    if (t.bid_size < 0 || t.ask_size < 0) return fail(reason, RejectReason::bad_size);
  } else {
    if (t.bid_price <= 0 || t.ask_price <= 0) return fail(reason, RejectReason::non_positive_price);
    if (t.bid_size < 0 || t.ask_size < 0) return fail(reason, RejectReason::bad_size);
  }
  if (t.price > kMaxPrice || t.bid_price > kMaxPrice || t.ask_price > kMaxPrice || t.size > kMaxSize ||
      t.bid_size > kMaxSize || t.ask_size > kMaxSize)
    return fail(reason, RejectReason::absurd_value);
  // Locked (bid == ask) happens on real venues for an instant; crossed does not survive a sane feed.
  if (t.bid_price > 0 && t.ask_price > 0 && t.bid_price > t.ask_price) return fail(reason, RejectReason::crossed_book);
  return true;
}

bool validate_signal(const SignalEvent& s, RejectReason& reason) noexcept {
  if (!valid_event_time(s.event_time_ns) || !valid_event_time(s.recv_time_ns) ||
      !valid_event_time(s.publish_time_ns))
    return fail(reason, RejectReason::bad_timestamp);
  for (std::uint32_t i = 0; i < s.prediction_count; ++i)
    if (!std::isfinite(s.prediction[i])) return fail(reason, RejectReason::non_finite);
  return true;
}

MessageDecoder::MessageDecoder() : scratch_(kMaxPayloadBytes / sizeof(std::uint64_t)) {}

Decoded MessageDecoder::reject(RejectReason reason) noexcept {
  rejects_.add(reason);
  Decoded d;
  d.ok = false;
  d.reason = reason;
  return d;
}

Decoded MessageDecoder::decode(std::string_view topic, std::span<const std::uint8_t> payload) noexcept {
  if (topic.empty()) return reject(RejectReason::empty_topic);
  if (topic.size() > kMaxTopicBytes) return reject(RejectReason::topic_too_long);
  if (payload.size() < kMinPayloadBytes) return reject(RejectReason::too_short);
  if (payload.size() > kMaxPayloadBytes) return reject(RejectReason::too_large);

  // FlatBuffers reads scalars in place; ZeroMQ's zero-copy receive hands out frames at any offset of its batch
  // buffer, so a misaligned frame is copied into the (8-byte aligned) scratch buffer first.
  const std::uint8_t* buf = payload.data();
  if (reinterpret_cast<std::uintptr_t>(buf) % alignof(std::uint64_t) != 0) {
    std::memcpy(scratch_.data(), buf, payload.size());
    buf = reinterpret_cast<const std::uint8_t*>(scratch_.data());
  }

  Decoded d;
  // Identifier first: the Verifier needs to know the root type, and these buffers are not size-prefixed.
  if (flatbuffers::BufferHasIdentifier(buf, wire::TickIdentifier())) {
    flatbuffers::Verifier verifier(buf, payload.size());
    if (!wire::VerifyTickBuffer(verifier)) return reject(RejectReason::verify_failed);
    const wire::Tick* t = wire::GetTick(buf);
    TickEvent& e = d.tick;
    e.symbol = topic;
    e.seq = t->seq();
    e.symbol_seq = t->symbol_seq();
    e.event_time_ns = t->event_time_ns();
    e.send_time_ns = t->send_time_ns();
    e.kind = t->kind();
    e.price = t->price();
    e.size = t->size();
    e.side = t->side();
    e.bid_price = t->bid_price();
    e.bid_size = t->bid_size();
    e.ask_price = t->ask_price();
    e.ask_size = t->ask_size();
    RejectReason reason;
    if (!validate_tick(e, reason)) return reject(reason);
    d.kind = PayloadKind::Tick;
  } else if (flatbuffers::BufferHasIdentifier(buf, wire::SignalIdentifier())) {
    flatbuffers::Verifier verifier(buf, payload.size());
    if (!wire::VerifySignalBuffer(verifier)) return reject(RejectReason::verify_failed);
    const wire::Signal* s = wire::GetSignal(buf);
    SignalEvent& e = d.signal;
    e.symbol = topic;
    e.seq = s->seq();
    e.event_time_ns = s->event_time_ns();
    e.recv_time_ns = s->recv_time_ns();
    e.publish_time_ns = s->publish_time_ns();
    if (const auto* p = s->prediction()) {
      e.prediction = p->data();
      e.prediction_count = p->size();
    }
    e.context_age = s->context_age();
    e.model_hash = s->model_hash();
    e.flags = static_cast<std::uint32_t>(s->flags());
    RejectReason reason;
    if (!validate_signal(e, reason)) return reject(reason);
    d.kind = PayloadKind::Signal;
  } else {
    return reject(RejectReason::unknown_identifier);
  }
  d.ok = true;
  return d;
}

MessageBuilder::MessageBuilder(std::size_t initial_bytes) : fbb_(initial_bytes) {}

std::span<const std::uint8_t> MessageBuilder::build_tick(const TickEvent& t) {
  fbb_.Clear();  // keeps the allocation
  auto root = wire::CreateTick(fbb_, t.seq, t.event_time_ns, t.send_time_ns, t.kind, t.price, t.size, t.side,
                               t.bid_price, t.bid_size, t.ask_price, t.ask_size, t.symbol_seq);
  wire::FinishTickBuffer(fbb_, root);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

std::span<const std::uint8_t> MessageBuilder::build_signal(const SignalEvent& s) {
  fbb_.Clear();
  auto prediction = fbb_.CreateVector(s.prediction, s.prediction_count);
  auto root = wire::CreateSignal(fbb_, s.seq, s.event_time_ns, s.recv_time_ns, s.publish_time_ns, prediction,
                                 s.context_age, s.model_hash, static_cast<wire::SignalFlags>(s.flags));
  wire::FinishSignalBuffer(fbb_, root);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

}  // namespace tickrt::feeds
