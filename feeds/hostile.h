// Invalid messages mixed into a feed, for soak and robustness runs (`tickrt gen --hostile-every N`). Every one
// of them is something the receiving decoder (feeds/tick_codec.h) must refuse and count: none is a tick, so
// mixing them in consumes no sequence number and changes no instrument's state.
//
// HostileMix wraps the feed's sink: it forwards every valid message unchanged and, after every N-th, sends one
// hostile message on the same socket, cycling through the kinds below (modelled on the message just sent, so
// they look like the feed: same topic, same FlatBuffer layout).
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "feeds/message_sink.h"
#include "feeds/tick_codec.h"

namespace tickrt::feeds {

enum class HostileKind : std::uint8_t {
  garbage,           // random bytes where the FlatBuffer should be -> unknown_identifier
  wrong_identifier,  // a real tick with its file identifier overwritten -> unknown_identifier
  truncated,         // the first half of a real tick -> verify_failed
  nan_price,         // a quote whose bid is NaN -> non_finite
  absurd_size,       // a quote whose bid size is 1e300 -> absurd_value
  long_topic,        // a real tick under a 200-byte topic -> topic_too_long
  empty_frames,      // two empty frames -> empty_topic
  three_frames,      // topic, tick, and a third frame -> frame_count
  one_frame,         // the topic alone -> frame_count
  oversized,         // a 100 KiB payload -> too_large
  count
};
inline constexpr std::size_t kHostileKindCount = static_cast<std::size_t>(HostileKind::count);
std::string_view hostile_kind_name(HostileKind kind) noexcept;

// The frames of one hostile message of `kind`, modelled on a valid tick message (topic, payload).
// `rng` supplies the garbage bytes.
std::vector<std::string> make_hostile(HostileKind kind, std::string_view topic, std::span<const std::uint8_t> payload,
                                      std::mt19937_64& rng);

class HostileMix final : public MessageSink {
 public:
  // `inner` gets every valid message; hostile ones go straight to `socket` (the socket behind `inner`, or any
  // socket the receiver reads). every >= 1.
  HostileMix(MessageSink& inner, zmq::socket_t& socket, std::uint64_t every, std::uint64_t seed);

  bool publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept override;

  std::uint64_t hostile_sent() const noexcept { return sent_; }
  std::uint64_t hostile_dropped() const noexcept { return dropped_; }  // refused by the socket (send HWM)
  const std::array<std::uint64_t, kHostileKindCount>& sent_by_kind() const noexcept { return by_kind_; }

 private:
  bool send_frames(const std::vector<std::string>& frames) noexcept;

  MessageSink& inner_;
  zmq::socket_t& socket_;
  std::uint64_t every_;
  std::mt19937_64 rng_;
  std::uint64_t valid_ = 0, sent_ = 0, dropped_ = 0;
  std::array<std::uint64_t, kHostileKindCount> by_kind_{};
};

}  // namespace tickrt::feeds
