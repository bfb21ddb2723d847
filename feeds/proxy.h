// The scale-out proxy (`tickrt proxy`): n engines publish their signals into one XSUB socket (the frontend),
// subscribers connect to one XPUB socket (the backend) and see a single stream. ZeroMQ does the forwarding
// (zmq_proxy_steerable): messages flow frontend -> backend, subscriptions flow backend -> frontend, so an
// engine only sends what somebody subscribed to. An optional capture socket (PUB) gets a copy of every
// message in both directions (signals and subscription messages), for recording or debugging.
//
// Endpoints use the notation of feeds/endpoint.h. The frontend and the backend both bind by default
// (SocketRole::Publisher: the proxy is the stable address engines and subscribers connect to); the capture
// socket binds by default too. Each may connect instead with a '>' prefix.
//
// Threading: construct on any thread, call run() on one thread (it blocks), stop() from any other thread
// (a control message over an inproc PAIR socket makes zmq_proxy_steerable return).
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "feeds/curve_keys.h"
#include "feeds/endpoint.h"

namespace tickrt::feeds {

struct ProxyOptions {
  std::vector<Endpoint> frontend;  // XSUB: engines' PUB sockets (parse_endpoints(..., SocketRole::Publisher))
  std::vector<Endpoint> backend;   // XPUB: subscribers
  std::vector<Endpoint> capture;   // PUB: a copy of all traffic; empty: none
  // CURVE (feeds/curve_keys.h): the frontend is a client of secured engines; the backend may be a server to
  // its own subscribers (its ZAP handler is the caller's: feeds/zap_authenticator.h). Default off.
  CurveOptions frontend_curve, backend_curve;
  int hwm = 1'000'000;             // ZMQ_RCVHWM of the frontend, ZMQ_SNDHWM of backend and capture (messages)
};

class Proxy {
 public:
  // Creates and binds/connects the sockets. Throws std::runtime_error naming the endpoint at fault.
  Proxy(zmq::context_t& context, const ProxyOptions& options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Forwards until stop(). Returns immediately if stop() came first. Throws std::runtime_error when ZeroMQ
  // fails for another reason than a stop.
  void run();
  // Makes run() return (now or as soon as it starts). Any thread, idempotent.
  void stop();

  // Endpoints as ZeroMQ resolved them (a bind to port * shows the port the system chose).
  const std::vector<std::string>& frontend_endpoints() const noexcept { return frontend_resolved_; }
  const std::vector<std::string>& backend_endpoints() const noexcept { return backend_resolved_; }
  const std::vector<std::string>& capture_endpoints() const noexcept { return capture_resolved_; }

 private:
  zmq::socket_t frontend_;  // XSUB
  zmq::socket_t backend_;   // XPUB
  zmq::socket_t capture_;   // PUB, or not created
  zmq::socket_t control_;   // PAIR read by zmq_proxy_steerable (run()'s thread)
  zmq::socket_t stopper_;   // PAIR written by stop(), guarded by stop_mutex_
  std::mutex stop_mutex_;
  bool stop_sent_ = false;
  std::vector<std::string> frontend_resolved_, backend_resolved_, capture_resolved_;
};

}  // namespace tickrt::feeds
