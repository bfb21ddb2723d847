// The engine's signal sink for the wire: turns each SignalOut into a Signal FlatBuffer (one reused builder)
// and hands it to a feeds::MessageSink (the ZeroMQ PUB socket live; a journal or a vector elsewhere), stamping
// the publish time. Never blocks: a full subscriber queue is a counted drop (the sink counts it).
#pragma once
#include <cstdint>

#include "engine/pipeline.h"
#include "feeds/message_sink.h"
#include "feeds/tick_codec.h"

namespace tickrt {

// Called after each signal is handed to the sink, with its stamps (latency recording, tests).
class SignalObserver {
 public:
  virtual ~SignalObserver() = default;
  virtual void on_published(const SignalOut& s, int64_t publish_ns, bool sent) = 0;
};

class SignalPublisher final : public SignalSink {
 public:
  SignalPublisher(feeds::MessageSink& sink, uint64_t model_hash, SignalObserver* observer = nullptr);
  void on_signal(const SignalOut& s) override;
  uint64_t published() const { return published_; }
  uint64_t dropped() const { return dropped_; }

 private:
  feeds::MessageSink& sink_;
  uint64_t model_hash_;
  SignalObserver* observer_;
  feeds::MessageBuilder builder_;
  uint64_t published_ = 0, dropped_ = 0;
};

}  // namespace tickrt
