#include "engine/metrics_server.h"

#include <fmt/core.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace tickrt {

namespace http = boost::beast::http;
using boost::asio::ip::tcp;

namespace {

tcp::endpoint parse_host_port(const std::string& s) {
  std::string host = "127.0.0.1", port = s;
  if (auto colon = s.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw std::runtime_error(fmt::format("--metrics {}: '{}' is not an IP address", s, host));
  int p = -1;
  try {
    size_t used = 0;
    p = std::stoi(port, &used);
    if (used != port.size()) p = -1;
  } catch (const std::exception&) {
  }
  if (p < 0 || p > 65535) throw std::runtime_error(fmt::format("--metrics {}: bad port '{}'", s, port));
  return {addr, static_cast<uint16_t>(p)};
}

// One connection: read requests, answer each, until the peer closes.
struct Session : std::enable_shared_from_this<Session> {
  Session(tcp::socket s, const MetricsRegistry& r) : socket(std::move(s)), registry(r) {}
  tcp::socket socket;
  const MetricsRegistry& registry;
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::response<http::string_body> response;

  void read() {
    request = {};
    http::async_read(socket, buffer, request, [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (!ec) self->answer();
    });
  }
  void answer() {
    response = {};
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    if (request.method() == http::verb::get && (request.target() == "/metrics" || request.target() == "/")) {
      response.result(http::status::ok);
      response.set(http::field::content_type, "text/plain; version=0.0.4");
      response.body() = registry.render_prometheus();
    } else {
      response.result(http::status::not_found);
      response.set(http::field::content_type, "text/plain");
      response.body() = "tickrt serves GET /metrics\n";
    }
    response.prepare_payload();
    http::async_write(socket, response, [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) return;
      if (self->response.keep_alive()) self->read();
      else self->socket.shutdown(tcp::socket::shutdown_send, ec);
    });
  }
};

}  // namespace

MetricsServer::MetricsServer(boost::asio::io_context& io, const std::string& host_port,
                             const MetricsRegistry& registry)
    : acceptor_(io), registry_(registry) {
  const tcp::endpoint ep = parse_host_port(host_port);
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(16, ec);
  if (ec) throw std::runtime_error(fmt::format("--metrics {}: cannot listen: {}", host_port, ec.message()));
  accept();
}

MetricsServer::~MetricsServer() { close(); }

uint16_t MetricsServer::port() const { return acceptor_.local_endpoint().port(); }

std::string MetricsServer::address() const {
  const tcp::endpoint ep = acceptor_.local_endpoint();
  const std::string host = ep.address().to_string();
  return ep.address().is_v6() ? fmt::format("[{}]:{}", host, ep.port()) : fmt::format("{}:{}", host, ep.port());
}

bool MetricsServer::loopback() const { return acceptor_.local_endpoint().address().is_loopback(); }

void MetricsServer::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) std::make_shared<Session>(std::move(socket), registry_)->read();
    accept();
  });
}

}  // namespace tickrt
