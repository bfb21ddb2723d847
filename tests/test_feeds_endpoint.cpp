// Endpoint notation (@ binds, > connects, role default) and applying endpoints to real sockets.
#include <catch2/catch.hpp>

#include "feeds/endpoint.h"
#include "tests/test_util.h"

using namespace tickrt::feeds;

TEST_CASE("feeds: endpoint prefixes and role defaults", "[feeds]") {
  auto b = parse_endpoint("@tcp://127.0.0.1:5555", SocketRole::Subscriber);
  CHECK(b.action == EndpointAction::Bind);
  CHECK(b.address == "tcp://127.0.0.1:5555");
  auto c = parse_endpoint(">ipc:///tmp/x", SocketRole::Publisher);
  CHECK(c.action == EndpointAction::Connect);
  CHECK(c.address == "ipc:///tmp/x");
  CHECK(parse_endpoint("tcp://h:1", SocketRole::Subscriber).action == EndpointAction::Connect);
  CHECK(parse_endpoint("tcp://h:1", SocketRole::Publisher).action == EndpointAction::Bind);
  CHECK(to_string(parse_endpoint(" tcp://h:1 ", SocketRole::Publisher)) == "@tcp://h:1");

  auto list = parse_endpoints({"@tcp://*:1,>tcp://h:2", "ipc:///tmp/y"}, SocketRole::Subscriber);
  REQUIRE(list.size() == 3);
  CHECK(list[0].action == EndpointAction::Bind);
  CHECK(list[1].action == EndpointAction::Connect);
  CHECK(list[2].action == EndpointAction::Connect);
  CHECK(list[2].address == "ipc:///tmp/y");
}

TEST_CASE("feeds: malformed endpoints are rejected with the endpoint named", "[feeds]") {
  for (std::string bad : {"", "@", "localhost:5555", "tcp:/h:1", "tcp://", "http://h:1", "://x"}) {
    INFO(bad);
    try {
      parse_endpoint(bad, SocketRole::Subscriber);
      FAIL("accepted " << bad);
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("endpoint '" + std::string(bad.empty() ? "" : bad)) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(parse_endpoints({}, SocketRole::Publisher), std::runtime_error);
  CHECK_THROWS_AS(parse_endpoints({"tcp://h:1,"}, SocketRole::Publisher), std::runtime_error);
}

TEST_CASE("feeds: apply_endpoints binds, resolves wildcard ports and names the failing endpoint", "[feeds]") {
  zmq::context_t ctx;
  zmq::socket_t a(ctx, zmq::socket_type::pub);
  a.set(zmq::sockopt::linger, 0);
  auto resolved = apply_endpoints(a, parse_endpoints({"@tcp://127.0.0.1:*", tickrt::test::ipc_endpoint("ep")},
                                                     SocketRole::Publisher));
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0].rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK(resolved[0] != "tcp://127.0.0.1:*");
  CHECK(resolved[1] == tickrt::test::ipc_endpoint("ep"));

  zmq::socket_t b(ctx, zmq::socket_type::pub);
  b.set(zmq::sockopt::linger, 0);
  try {
    apply_endpoints(b, {parse_endpoint("@" + resolved[0], SocketRole::Publisher)});
    FAIL("second bind to the same port succeeded");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(resolved[0]) != std::string::npos);
    CHECK(std::string(e.what()).find("bind") != std::string::npos);
  }
  zmq::socket_t c(ctx, zmq::socket_type::sub);
  c.set(zmq::sockopt::linger, 0);
  CHECK(apply_endpoints(c, parse_endpoints({"tcp://127.0.0.1:1"}, SocketRole::Subscriber)) ==
        std::vector<std::string>{"tcp://127.0.0.1:1"});  // connects are lazy: fine before the peer exists
}
