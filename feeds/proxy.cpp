#include "feeds/proxy.h"

#include <fmt/core.h>

#include <stdexcept>

namespace tickrt::feeds {

namespace {

// A unique inproc address per proxy, so that several proxies may share one context (tests).
std::string control_address(const void* self) { return fmt::format("inproc://tickrt-proxy-control-{}", self); }

}  // namespace

Proxy::Proxy(zmq::context_t& context, const ProxyOptions& o)
    : frontend_(context, zmq::socket_type::xsub),
      backend_(context, zmq::socket_type::xpub),
      control_(context, zmq::socket_type::pair),
      stopper_(context, zmq::socket_type::pair) {
  if (o.frontend.empty()) throw std::runtime_error("proxy: no --frontend endpoint");
  if (o.backend.empty()) throw std::runtime_error("proxy: no --backend endpoint");
  for (zmq::socket_t* s : {&frontend_, &backend_, &control_, &stopper_}) s->set(zmq::sockopt::linger, 0);
  frontend_.set(zmq::sockopt::rcvhwm, o.hwm);
  backend_.set(zmq::sockopt::sndhwm, o.hwm);
  apply_curve(frontend_, o.frontend_curve);
  apply_curve(backend_, o.backend_curve);
  frontend_resolved_ = apply_endpoints(frontend_, o.frontend);
  backend_resolved_ = apply_endpoints(backend_, o.backend);
  if (!o.capture.empty()) {
    capture_ = zmq::socket_t(context, zmq::socket_type::pub);
    capture_.set(zmq::sockopt::linger, 0);
    capture_.set(zmq::sockopt::sndhwm, o.hwm);
    capture_resolved_ = apply_endpoints(capture_, o.capture);
  }
  const std::string address = control_address(this);
  control_.bind(address);
  stopper_.connect(address);
}

Proxy::~Proxy() = default;

void Proxy::run() {
  try {
    zmq::proxy_steerable(frontend_, backend_, capture_ ? zmq::socket_ref(capture_) : zmq::socket_ref(),
                         control_);
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) return;  // the context was closed: a stop too
    throw std::runtime_error(fmt::format("proxy: zmq_proxy_steerable failed: {}", e.what()));
  }
}

void Proxy::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stop_sent_) return;
  stopper_.send(zmq::str_buffer("TERMINATE"), zmq::send_flags::none);
  stop_sent_ = true;
}

}  // namespace tickrt::feeds
