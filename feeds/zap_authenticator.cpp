#include "feeds/zap_authenticator.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <zmq_addon.hpp>

namespace tickrt::feeds {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
// How often the thread looks at the stop flag while idle: the most a shutdown waits for it.
constexpr std::chrono::milliseconds kPollInterval{50};

void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

ZapAuthenticator::ZapAuthenticator(zmq::context_t& context, std::vector<CurveKeyBytes> allowed_clients,
                                   std::string domain)
    : context_(context), allowed_(std::move(allowed_clients)), domain_(std::move(domain)),
      handler_(context, zmq::socket_type::rep) {
  std::sort(allowed_.begin(), allowed_.end());
  handler_.set(zmq::sockopt::linger, 0);
  try {
    handler_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error(fmt::format("{}: cannot bind the ZAP handler ({}); one handler per zmq context",
                                         kZapEndpoint, e.what()));
  }
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ZapAuthenticator::watch(zmq::socket_t& socket) {
  if (thread_.joinable()) throw std::logic_error("ZapAuthenticator::watch after start");
  const std::string endpoint =
      fmt::format("inproc://tickrt.auth.monitor.{}.{}", static_cast<const void*>(this), monitors_.size());
  const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), events) != 0)
    throw std::runtime_error(fmt::format("{}: cannot monitor the socket: {}", endpoint, zmq_strerror(zmq_errno())));
  zmq::socket_t& monitor = monitors_.emplace_back(context_, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(endpoint);
}

void ZapAuthenticator::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void ZapAuthenticator::run() {
  // [1 + monitors] poll items: the handler first.
  std::vector<zmq::pollitem_t> items;
  items.push_back({handler_.handle(), 0, ZMQ_POLLIN, 0});
  for (auto& m : monitors_) items.push_back({m.handle(), 0, ZMQ_POLLIN, 0});
  while (!stop_.load(std::memory_order_relaxed)) {
    try {
      if (zmq::poll(items, kPollInterval) == 0) continue;
      if (items[0].revents & ZMQ_POLLIN) answer_one();
      for (std::size_t i = 0; i < monitors_.size(); ++i)
        if (items[i + 1].revents & ZMQ_POLLIN) read_monitor(monitors_[i]);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;  // the context is going away
      // Anything else (EINTR, a peer gone mid-reply) concerns one request; the next poll carries on.
    }
  }
}

// ZAP 1.0 request: version, request id, domain, address, routing id, mechanism, credentials...
// Reply: version, request id, status code, status text, user id, metadata.
void ZapAuthenticator::answer_one() {
  std::vector<zmq::message_t> request;
  if (!zmq::recv_multipart(handler_, std::back_inserter(request), zmq::recv_flags::dontwait)) return;
  std::string_view code = "400", text = "client key not allowed";
  const bool well_formed = request.size() >= 6 && request[0].to_string_view() == "1.0";
  if (!well_formed) {
    code = "500";
    text = "not a ZAP 1.0 request";
    bump(counters_.malformed);
  } else if (request[5].to_string_view() == "NULL" && request[2].to_string_view() != domain_) {
    code = "200";  // a plain socket of this process outside the guarded domain: not ours to judge
    text = "OK";
  } else if (request[5].to_string_view() != "CURVE" || request.size() != 7 ||
             request[6].size() != kCurveKeyBytes) {
    text = "only CURVE clients are admitted";
    bump(counters_.denied);
  } else {
    CurveKeyBytes key;
    std::memcpy(key.data(), request[6].data(), kCurveKeyBytes);
    if (std::binary_search(allowed_.begin(), allowed_.end(), key)) {
      code = "200";
      text = "OK";
      bump(counters_.accepted);
    } else {
      bump(counters_.denied);
    }
  }
  std::vector<zmq::message_t> reply;
  reply.emplace_back(std::string_view("1.0"));
  if (request.size() >= 2) reply.push_back(std::move(request[1]));
  else reply.emplace_back();
  reply.emplace_back(code);
  reply.emplace_back(text);
  reply.emplace_back();  // user id
  reply.emplace_back();  // metadata
  zmq::send_multipart(handler_, reply);
}

// Monitor event (libzmq 4.x): frame 1 = 16-bit event id + 32-bit value, frame 2 = the endpoint.
void ZapAuthenticator::read_monitor(zmq::socket_t& monitor) {
  std::vector<zmq::message_t> event;
  while (zmq::recv_multipart(monitor, std::back_inserter(event), zmq::recv_flags::dontwait)) {
    if (!event.empty() && event[0].size() >= sizeof(std::uint16_t)) {
      std::uint16_t id = 0;
      std::memcpy(&id, event[0].data(), sizeof id);
      switch (id) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: bump(counters_.handshakes); break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: bump(counters_.failed_protocol); break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: bump(counters_.failed_auth); break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: bump(counters_.failed_other); break;
        default: break;
      }
    }
    event.clear();
  }
}

}  // namespace tickrt::feeds
