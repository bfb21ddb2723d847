// The wire codec: round trips, every rejection reason, misaligned frames, allocation-free rebuilding.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "feeds/tick_codec.h"

using namespace tickrt::feeds;

namespace {

TickEvent sample_quote() {
  TickEvent t;
  t.seq = 42;
  t.symbol_seq = 17;
  t.event_time_ns = 1'704'205'800'000'000'123;
  t.send_time_ns = 1'704'205'800'000'100'000;
  t.kind = TickKind::Quote;
  t.bid_price = 100.25;
  t.bid_size = 300;
  t.ask_price = 100.27;
  t.ask_size = 500;
  return t;
}

TickEvent sample_trade() {
  TickEvent t = sample_quote();
  t.kind = TickKind::Trade;
  t.price = 100.27;
  t.size = 200;
  t.side = Side::Buy;
  return t;
}

std::vector<std::uint8_t> bytes_of(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }

RejectReason reason_of(MessageDecoder& d, std::string_view topic, const std::vector<std::uint8_t>& payload) {
  auto r = d.decode(topic, payload);
  REQUIRE_FALSE(r.ok);
  return r.reason;
}

}  // namespace

TEST_CASE("feeds: tick and signal round trip through builder and decoder", "[feeds]") {
  MessageBuilder builder;
  MessageDecoder decoder;
  for (const TickEvent& in : {sample_quote(), sample_trade()}) {
    auto payload = bytes_of(builder.build_tick(in));
    auto d = decoder.decode("SYM001", payload);
    REQUIRE(d.ok);
    REQUIRE(d.kind == PayloadKind::Tick);
    const TickEvent& out = d.tick;
    CHECK(out.symbol == "SYM001");
    CHECK(out.seq == in.seq);
    CHECK(out.symbol_seq == in.symbol_seq);
    CHECK(out.event_time_ns == in.event_time_ns);
    CHECK(out.send_time_ns == in.send_time_ns);
    CHECK(out.kind == in.kind);
    CHECK(out.price == in.price);
    CHECK(out.size == in.size);
    CHECK(out.side == in.side);
    CHECK(out.bid_price == in.bid_price);
    CHECK(out.bid_size == in.bid_size);
    CHECK(out.ask_price == in.ask_price);
    CHECK(out.ask_size == in.ask_size);
  }
  std::vector<float> pred = {0.5f, -1.25f, 3.0f};
  SignalEvent s;
  s.seq = 7;
  s.event_time_ns = 1'704'205'800'000'000'000;
  s.recv_time_ns = s.event_time_ns + 10;
  s.publish_time_ns = s.event_time_ns + 20;
  s.prediction = pred.data();
  s.prediction_count = 3;
  s.context_age = 4;
  s.model_hash = 0xdeadbeefcafef00dULL;
  s.flags = static_cast<std::uint32_t>(tickrt::wire::SignalFlags::LateRefresh);
  auto payload = bytes_of(builder.build_signal(s));
  auto d = decoder.decode("SYM002", payload);
  REQUIRE(d.ok);
  REQUIRE(d.kind == PayloadKind::Signal);
  CHECK(d.signal.symbol == "SYM002");
  CHECK(d.signal.seq == 7);
  CHECK(d.signal.publish_time_ns == s.publish_time_ns);
  REQUIRE(d.signal.prediction_count == 3);
  CHECK(d.signal.prediction[1] == -1.25f);
  CHECK(d.signal.context_age == 4);
  CHECK(d.signal.model_hash == s.model_hash);
  CHECK(d.signal.flags == s.flags);
  CHECK(decoder.rejects().total() == 0);
}

TEST_CASE("feeds: decoder reads a misaligned frame through its aligned copy", "[feeds]") {
  MessageBuilder builder;
  MessageDecoder decoder;
  auto payload = bytes_of(builder.build_tick(sample_trade()));
  std::vector<std::uint64_t> storage(payload.size() / 8 + 2);
  auto* misaligned = reinterpret_cast<std::uint8_t*>(storage.data()) + 3;  // frames land anywhere in ZeroMQ's buffer
  std::memcpy(misaligned, payload.data(), payload.size());
  auto d = decoder.decode("SYM001", {misaligned, payload.size()});
  REQUIRE(d.ok);
  CHECK(d.tick.price == 100.27);
  CHECK(d.tick.seq == 42);
}

TEST_CASE("feeds: every rejection reason is detected and counted", "[feeds]") {
  MessageBuilder builder;
  MessageDecoder decoder;
  auto tick_with = [&](auto edit) {
    TickEvent t = sample_trade();
    edit(t);
    return bytes_of(builder.build_tick(t));
  };
  const auto good = bytes_of(builder.build_tick(sample_trade()));
  const double nan = std::numeric_limits<double>::quiet_NaN();

  CHECK(reason_of(decoder, "", good) == RejectReason::empty_topic);
  CHECK(reason_of(decoder, std::string(kMaxTopicBytes + 1, 'A'), good) == RejectReason::topic_too_long);
  CHECK(reason_of(decoder, "S", {1, 2, 3, 4}) == RejectReason::too_short);
  CHECK(reason_of(decoder, "S", std::vector<std::uint8_t>(kMaxPayloadBytes + 1, 0)) == RejectReason::too_large);
  auto wrong_ident = good;
  std::memcpy(wrong_ident.data() + 4, "XXXX", 4);
  CHECK(reason_of(decoder, "S", wrong_ident) == RejectReason::unknown_identifier);
  auto truncated = good;
  truncated.resize(good.size() - 12);
  CHECK(reason_of(decoder, "S", truncated) == RejectReason::verify_failed);
  auto bad_root = good;
  bad_root[0] = 0xff;  // root table offset far outside the buffer
  bad_root[1] = 0xff;
  CHECK(reason_of(decoder, "S", bad_root) == RejectReason::verify_failed);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.kind = static_cast<TickKind>(7); })) ==
        RejectReason::bad_enum);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.side = static_cast<Side>(9); })) == RejectReason::bad_enum);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.event_time_ns = 0; })) == RejectReason::bad_timestamp);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.send_time_ns = -5; })) == RejectReason::bad_timestamp);
  CHECK(reason_of(decoder, "S", tick_with([&](TickEvent& t) { t.price = nan; })) == RejectReason::non_finite);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.ask_size = INFINITY; })) == RejectReason::non_finite);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.price = 0; })) == RejectReason::non_positive_price);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.size = -100; })) == RejectReason::bad_size);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.size = 0; })) == RejectReason::bad_size);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.kind = TickKind::Quote; t.bid_price = 0; })) ==
        RejectReason::non_positive_price);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.kind = TickKind::Quote; t.bid_size = -1; })) ==
        RejectReason::bad_size);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.bid_price = 101; t.ask_price = 100; })) ==
        RejectReason::crossed_book);
  CHECK(reason_of(decoder, "S", tick_with([](TickEvent& t) { t.price = 2e12; })) == RejectReason::absurd_value);
  CHECK(decoder.reject(RejectReason::frame_count).reason == RejectReason::frame_count);

  const auto& r = decoder.rejects();
  CHECK(r[RejectReason::empty_topic] == 1);
  CHECK(r[RejectReason::topic_too_long] == 1);
  CHECK(r[RejectReason::too_short] == 1);
  CHECK(r[RejectReason::too_large] == 1);
  CHECK(r[RejectReason::unknown_identifier] == 1);
  CHECK(r[RejectReason::verify_failed] == 2);
  CHECK(r[RejectReason::bad_enum] == 2);
  CHECK(r[RejectReason::bad_timestamp] == 2);
  CHECK(r[RejectReason::non_finite] == 2);
  CHECK(r[RejectReason::non_positive_price] == 2);
  CHECK(r[RejectReason::bad_size] == 3);
  CHECK(r[RejectReason::crossed_book] == 1);
  CHECK(r[RejectReason::absurd_value] == 1);
  CHECK(r[RejectReason::frame_count] == 1);
  CHECK(r.total() == 21);

  // A locked book (bid == ask) is accepted, and rejections left the decoder usable.
  auto locked = tick_with([](TickEvent& t) { t.kind = TickKind::Quote; t.bid_price = t.ask_price = 100; });
  CHECK(decoder.decode("S", locked).ok);
  CHECK(decoder.decode("S", good).ok);
  CHECK(r.total() == 21);
}

TEST_CASE("feeds: reject reasons have distinct metric names", "[feeds]") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) names.insert(reject_reason_name(static_cast<RejectReason>(i)));
  CHECK(names.size() == kRejectReasonCount);
  CHECK(names.count("unknown") == 0);
  CHECK(reject_reason_name(RejectReason::crossed_book) == "crossed_book");
}

TEST_CASE("feeds: builder reuses its buffer after warm-up", "[feeds]") {
  MessageBuilder builder;
  std::vector<float> pred(16, 0.25f);
  SignalEvent s;
  s.event_time_ns = s.recv_time_ns = s.publish_time_ns = 1'704'205'800'000'000'000;
  s.prediction = pred.data();
  s.prediction_count = 16;
  builder.build_signal(s);  // warm-up: the largest message
  const std::uint8_t* first = builder.build_tick(sample_trade()).data();
  for (int i = 0; i < 1000; ++i) {
    TickEvent t = sample_trade();
    t.seq = i + 1;
    CHECK(builder.build_tick(t).data() == first);  // same message size, same storage: nothing reallocated
  }
  auto sig = builder.build_signal(s);
  CHECK(sig.data() + sig.size() == first + builder.build_tick(sample_trade()).size());  // builds end at one place
}
