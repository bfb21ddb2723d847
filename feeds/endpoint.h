// ZeroMQ endpoints in CZMQ's notation: "@tcp://host:port" binds, ">tcp://host:port" connects, and an address
// without a prefix takes the default of the socket's role (a subscriber connects, a publisher binds).
// One option value may hold several endpoints separated by commas, and endpoint options may be repeated.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace tickrt::feeds {

// Which default an unprefixed address gets: --sub connects, --pub binds.
enum class SocketRole { Subscriber, Publisher };

enum class EndpointAction { Bind, Connect };

struct Endpoint {
  EndpointAction action = EndpointAction::Connect;
  std::string address;  // without the prefix, e.g. "tcp://127.0.0.1:5555"
  std::string spec;     // as the user wrote it, for error messages

  bool operator==(const Endpoint&) const = default;
};

// Parses one endpoint ("@tcp://…", ">ipc://…", "tcp://…"). Throws std::runtime_error naming the endpoint when
// it is empty, has no "transport://address" form or names a transport ZeroMQ does not know.
Endpoint parse_endpoint(std::string_view spec, SocketRole role);

// Parses every option value, each of which may be a comma-separated list. Throws like parse_endpoint, and
// when the list is empty.
std::vector<Endpoint> parse_endpoints(const std::vector<std::string>& specs, SocketRole role);

// Binds or connects `socket` to each endpoint, in order. Returns the endpoints as ZeroMQ resolved them
// (ZMQ_LAST_ENDPOINT: a bind to "tcp://127.0.0.1:*" comes back with the port the system chose; connects come
// back as given). Throws std::runtime_error naming the endpoint and ZeroMQ's reason on the first failure.
std::vector<std::string> apply_endpoints(zmq::socket_t& socket, const std::vector<Endpoint>& endpoints);

// "@tcp://…" or ">tcp://…": the canonical spelling of an endpoint, prefix included.
std::string to_string(const Endpoint& endpoint);

}  // namespace tickrt::feeds
