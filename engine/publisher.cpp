#include "engine/publisher.h"

#include "feeds/clock.h"

namespace tickrt {

SignalPublisher::SignalPublisher(feeds::MessageSink& sink, uint64_t model_hash, SignalObserver* observer)
    : sink_(sink), model_hash_(model_hash), observer_(observer) {}

void SignalPublisher::on_signal(const SignalOut& s) {
  feeds::SignalEvent e;
  e.seq = s.seq;
  e.event_time_ns = s.event_ns;
  e.recv_time_ns = s.recv_ns;
  e.prediction = s.prediction;
  e.prediction_count = static_cast<uint32_t>(s.n_outputs);
  e.context_age = s.context_age;
  e.model_hash = model_hash_;
  e.flags = s.flags;
  e.publish_time_ns = feeds::realtime_ns();
  const bool sent = sink_.publish(s.symbol, builder_.build_signal(e), e.publish_time_ns);
  if (sent) ++published_;
  else ++dropped_;
  if (observer_) observer_->on_published(s, e.publish_time_ns, sent);
}

}  // namespace tickrt
