#include "feeds/endpoint.h"

#include <fmt/core.h>

#include <array>
#include <stdexcept>

namespace tickrt::feeds {

namespace {

// The transports libzmq 4.3 understands (zmq_bind(3), zmq_connect(3)).
constexpr std::array<std::string_view, 8> kTransports = {"tcp", "ipc", "inproc", "pgm", "epgm", "tipc", "vmci", "udp"};

bool known_transport(std::string_view transport) {
  for (auto t : kTransports)
    if (t == transport) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Endpoint parse_endpoint(std::string_view spec, SocketRole role) {
  spec = trim(spec);
  Endpoint ep;
  ep.spec = std::string(spec);
  std::string_view address = spec;
  if (!address.empty() && (address.front() == '@' || address.front() == '>')) {
    ep.action = address.front() == '@' ? EndpointAction::Bind : EndpointAction::Connect;
    address.remove_prefix(1);
  } else {
    ep.action = role == SocketRole::Subscriber ? EndpointAction::Connect : EndpointAction::Bind;
  }
  if (address.empty()) throw std::runtime_error(fmt::format("endpoint '{}': empty address", spec));
  auto sep = address.find("://");
  if (sep == std::string_view::npos || sep == 0)
    throw std::runtime_error(
        fmt::format("endpoint '{}': expected transport://address, e.g. tcp://127.0.0.1:5555 or ipc:///tmp/feed", spec));
  auto transport = address.substr(0, sep);
  if (!known_transport(transport))
    throw std::runtime_error(fmt::format("endpoint '{}': unknown transport '{}'", spec, transport));
  if (sep + 3 == address.size())
    throw std::runtime_error(fmt::format("endpoint '{}': nothing after '{}://'", spec, transport));
  ep.address = std::string(address);
  return ep;
}

std::vector<Endpoint> parse_endpoints(const std::vector<std::string>& specs, SocketRole role) {
  std::vector<Endpoint> out;
  for (const auto& value : specs) {
    std::string_view rest = value;
    while (true) {
      auto comma = rest.find(',');
      out.push_back(parse_endpoint(rest.substr(0, comma), role));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (out.empty()) throw std::runtime_error("no endpoint given");
  return out;
}

std::vector<std::string> apply_endpoints(zmq::socket_t& socket, const std::vector<Endpoint>& endpoints) {
  std::vector<std::string> resolved;
  resolved.reserve(endpoints.size());
  for (const auto& ep : endpoints) {
    const bool bind = ep.action == EndpointAction::Bind;
    int rc = bind ? zmq_bind(socket.handle(), ep.address.c_str()) : zmq_connect(socket.handle(), ep.address.c_str());
    if (rc != 0)
      throw std::runtime_error(fmt::format("cannot {} endpoint '{}': {}", bind ? "bind" : "connect", ep.spec,
                                           zmq_strerror(zmq_errno())));
    resolved.push_back(bind ? socket.get(zmq::sockopt::last_endpoint) : ep.address);
  }
  return resolved;
}

std::string to_string(const Endpoint& endpoint) {
  return (endpoint.action == EndpointAction::Bind ? "@" : ">") + endpoint.address;
}

}  // namespace tickrt::feeds
