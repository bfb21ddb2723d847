// Serves GET /metrics in the Prometheus text format over HTTP/1.1 (Boost.Beast), on the io_context it is
// given: the engine's own loop, so a scrape reads the engine's plain counters without locks or atomics.
// Binds 127.0.0.1 unless told otherwise: metrics are for the operator's host, not the network.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "engine/metrics.h"

namespace tickrt {

class MetricsServer {
 public:
  // `host_port` is "HOST:PORT" or ":PORT" or "PORT" (host 127.0.0.1); port 0 picks a free one.
  MetricsServer(boost::asio::io_context& io, const std::string& host_port, const MetricsRegistry& registry);
  ~MetricsServer();
  uint16_t port() const;  // the bound port (useful with port 0)
  std::string address() const;  // the bound address, "HOST:PORT"
  bool loopback() const;        // bound to a loopback address (127.0.0.0/8, ::1): unreachable from other hosts
  void close();

 private:
  void accept();
  boost::asio::ip::tcp::acceptor acceptor_;
  const MetricsRegistry& registry_;
};

}  // namespace tickrt
