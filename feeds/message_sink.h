// Where a stream of finished messages goes: a ZeroMQ PUB socket (ZmqSink), a journal file, a test's vector.
// The generator, replay and the engine's publisher write through this interface, so adding a destination is
// one small class.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

namespace tickrt::feeds {

class MessageSink {
 public:
  virtual ~MessageSink() = default;

  // Hands over one message: topic (frame 1) and FlatBuffer bytes (frame 2); both are copied before returning.
  // `time_ns` is the message's local time (a journal records it as the receive timestamp; a socket ignores it).
  // Never blocks. Returns false when the message was dropped (counted by the sink).
  virtual bool publish(std::string_view topic, std::span<const std::uint8_t> payload, std::int64_t time_ns) noexcept = 0;
};

}  // namespace tickrt::feeds
