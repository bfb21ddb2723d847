// Metrics rendering and the Prometheus endpoint over a real loopback HTTP connection.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "engine/metrics.h"
#include "engine/metrics_server.h"

using namespace tickrt;

TEST_CASE("metrics: Prometheus text format", "[metrics]") {
  MetricsRegistry r;
  uint64_t received = 41;
  r.counter("tickrt_ticks_received_total", "Ticks received", "", [&] { return double(received); });
  r.counter("tickrt_rejects_total", "Rejected messages", "reason=\"nan_price\"", [] { return 3.0; });
  r.counter("tickrt_rejects_total", "Rejected messages", "reason=\"truncated\"", [] { return 0.0; });
  r.summary("tickrt_latency_ns", "Stage latency", "stage=\"model\"", [] {
    Quantiles q;
    q.count = 10;
    q.sum = 1000;
    q.values = {{0.5, 90}, {0.99, 200}};
    return q;
  });
  ++received;
  const std::string text = r.render_prometheus();
  CHECK(text.find("# TYPE tickrt_ticks_received_total counter\ntickrt_ticks_received_total 42\n") != std::string::npos);
  CHECK(text.find("tickrt_rejects_total{reason=\"nan_price\"} 3\n") != std::string::npos);
  CHECK(text.find("# HELP tickrt_rejects_total") == text.rfind("# HELP tickrt_rejects_total"));
  CHECK(text.find("tickrt_latency_ns{stage=\"model\",quantile=\"0.99\"} 200\n") != std::string::npos);
  CHECK(text.find("tickrt_latency_ns_count{stage=\"model\"} 10\n") != std::string::npos);
  CHECK(r.render_line() == "tickrt_ticks_received_total=42 tickrt_rejects_total{reason=\"nan_price\"}=3");
}

TEST_CASE("metrics: served over HTTP on loopback", "[metrics]") {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  MetricsRegistry r;
  r.gauge("tickrt_instruments", "Instruments with a slot", "", [] { return 7.0; });
  MetricsServer server(io, "127.0.0.1:0", r);
  const uint16_t port = server.port();
  REQUIRE(port != 0);
  std::thread loop([&] { io.run(); });

  auto get = [&](const std::string& target) {
    boost::asio::io_context cio;
    boost::asio::ip::tcp::socket s(cio);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return res;
  };
  auto ok = get("/metrics");
  CHECK(ok.result() == http::status::ok);
  CHECK(ok.body().find("tickrt_instruments 7\n") != std::string::npos);
  CHECK(get("/nope").result() == http::status::not_found);
  boost::asio::post(io, [&] { server.close(); io.stop(); });
  loop.join();
  CHECK_THROWS_WITH(MetricsServer(io, "127.0.0.1:notaport", r), Catch::Contains("bad port"));
}
