#include "feeds/hostile.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace tickrt::feeds {

std::string_view hostile_kind_name(HostileKind kind) noexcept {
  switch (kind) {
    case HostileKind::garbage: return "garbage";
    case HostileKind::wrong_identifier: return "wrong_identifier";
    case HostileKind::truncated: return "truncated";
    case HostileKind::nan_price: return "nan_price";
    case HostileKind::absurd_size: return "absurd_size";
    case HostileKind::long_topic: return "long_topic";
    case HostileKind::empty_frames: return "empty_frames";
    case HostileKind::three_frames: return "three_frames";
    case HostileKind::one_frame: return "one_frame";
    case HostileKind::oversized: return "oversized";
    case HostileKind::count: break;
  }
  return "unknown";
}

namespace {

std::string bytes(std::span<const std::uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The valid tick re-encoded with one field spoiled by `spoil`.
template <class Spoil>
std::string spoiled_tick(std::string_view topic, std::span<const std::uint8_t> payload, Spoil spoil) {
  MessageDecoder decoder;
  Decoded d = decoder.decode(topic, payload);
  TickEvent t = d.ok && d.kind == PayloadKind::Tick ? d.tick : TickEvent{};
  if (!d.ok) {  // not a tick to model on: a plain quote will do
    t.event_time_ns = 1'704'205'800'000'000'000;
    t.bid_price = 100;
    t.ask_price = 100.01;
    t.bid_size = t.ask_size = 100;
  }
  if (t.kind == TickKind::Trade) {  // a quote at the print, so the one spoiled field is the only fault
    t.kind = TickKind::Quote;
    t.bid_price = t.ask_price = t.price;
    t.bid_size = t.ask_size = t.size;
    t.price = t.size = 0;
    t.side = Side::Unknown;
  }
  spoil(t);
  MessageBuilder builder;
  return bytes(builder.build_tick(t));
}

}  // namespace

std::vector<std::string> make_hostile(HostileKind kind, std::string_view topic, std::span<const std::uint8_t> payload,
                                      std::mt19937_64& rng) {
  const std::string sym(topic);
  switch (kind) {
    case HostileKind::garbage: {
      std::string junk(8 + rng() % 200, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      std::memcpy(junk.data() + 4, "JUNK", 4);  // random bytes could, once in 2^32, spell an identifier
      return {sym, junk};
    }
    case HostileKind::wrong_identifier: {
      std::string b = bytes(payload);
      if (b.size() < 8) b.resize(8);
      std::memcpy(b.data() + 4, "XXXX", 4);
      return {sym, b};
    }
    case HostileKind::truncated: {
      // At least the identifier survives, so the verifier (not the size or identifier check) refuses it.
      const std::size_t keep = std::max<std::size_t>(kMinPayloadBytes, payload.size() / 2);
      return {sym, bytes(payload.first(std::min(keep, payload.size())))};
    }
    case HostileKind::nan_price:
      return {sym, spoiled_tick(topic, payload, [](TickEvent& t) { t.bid_price = std::numeric_limits<double>::quiet_NaN(); })};
    case HostileKind::absurd_size:
      return {sym, spoiled_tick(topic, payload, [](TickEvent& t) { t.bid_size = 1e300; })};
    case HostileKind::long_topic: return {std::string(200, 'L'), bytes(payload)};
    case HostileKind::empty_frames: return {std::string(), std::string()};
    case HostileKind::three_frames: return {sym, bytes(payload), std::string("surplus")};
    case HostileKind::one_frame: return {sym};
    case HostileKind::oversized: return {sym, std::string(100 * 1024, 'O')};
    case HostileKind::count: break;
  }
  return {sym};
}

HostileMix::HostileMix(MessageSink& inner, zmq::socket_t& socket, std::uint64_t every, std::uint64_t seed)
    : inner_(inner), socket_(socket), every_(every < 1 ? 1 : every), rng_(seed) {}

bool HostileMix::send_frames(const std::vector<std::string>& frames) noexcept {
  void* s = socket_.handle();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const int flags = ZMQ_DONTWAIT | (i + 1 < frames.size() ? ZMQ_SNDMORE : 0);
    if (zmq_send(s, frames[i].data(), frames[i].size(), flags) < 0) return false;  // only the first can fail (HWM)
  }
  return true;
}

bool HostileMix::publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept {
  const bool ok = inner_.publish(topic, payload, time_ns);
  if (++valid_ % every_ != 0) return ok;
  // Setup-grade code on the sender (it allocates); the receiver's hot path is what is under test.
  try {
    const auto kind = static_cast<HostileKind>((valid_ / every_ - 1) % kHostileKindCount);
    if (send_frames(make_hostile(kind, topic, payload, rng_))) {
      ++sent_;
      ++by_kind_[static_cast<std::size_t>(kind)];
    } else {
      ++dropped_;
    }
  } catch (...) {
    ++dropped_;
  }
  return ok;
}

}  // namespace tickrt::feeds
