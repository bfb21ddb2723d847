// End to end through the real binary: `tickrt gen` publishing, `tickrt subscribe --json` reading, as processes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "feeds/generator.h"
#include "tests/test_util.h"

#include <zmq.hpp>

using namespace tickrt;

namespace {

// A tcp port that was free a moment ago: bind to port 0 (ZeroMQ's "*"), read it back, close.
int free_tcp_port() {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::pub);
  s.set(zmq::sockopt::linger, 0);
  s.bind("tcp://127.0.0.1:*");
  std::string ep = s.get(zmq::sockopt::last_endpoint);
  return std::stoi(ep.substr(ep.rfind(':') + 1));
}

}  // namespace

TEST_CASE("feeds: tickrt gen publishes and tickrt subscribe --json prints every tick", "[feeds][cli]") {
  test::TempDir dir;
  const int port = free_tcp_port();
  const std::string bin = test::tickrt_binary();
  const std::uint64_t count = 3000;
  const std::string cmd = fmt::format(
      "{{ {0} subscribe --sub '>tcp://127.0.0.1:{1}' --json --count {2} --timeout 30 > {3} 2> {4} & sub=$!; "
      "{0} gen --pub '@tcp://127.0.0.1:{1}' --instruments 10 --rate 20000 --count {2} --seed 7 "
      "--wait-subscribers 1 --wait-timeout 20; gen_rc=$?; wait $sub; echo \"rc gen=$gen_rc sub=$?\"; }}",
      bin, port, count, dir / "ticks.jsonl", dir / "sub.err");
  auto r = test::run_command(cmd);
  INFO(r.output);
  CHECK(r.output.find("rc gen=0 sub=0") != std::string::npos);
  CHECK(r.output.find(fmt::format("gen: sent {} dropped 0", count)) != std::string::npos);

  // The same seed in-process gives the ticks the subscriber must have seen, in order.
  feeds::GeneratorConfig gc;
  gc.instruments = 10;
  gc.rate = 20000;
  gc.seed = 7;
  feeds::TickGenerator reference(gc);
  std::ifstream in(dir / "ticks.jsonl");
  std::string line;
  std::uint64_t n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    feeds::TickEvent e;
    reference.next(e);
    ++n;
    INFO(line);
    REQUIRE(j.at("type") == "tick");
    REQUIRE(j.at("seq").get<std::uint64_t>() == n);
    CHECK(j.at("symbol").get<std::string>() == e.symbol);
    CHECK(j.at("event_time_ns").get<std::int64_t>() == e.event_time_ns);
    CHECK(j.at("bid_price").get<double>() == e.bid_price);
    CHECK(j.at("ask_price").get<double>() == e.ask_price);
    CHECK(j.at("kind").get<std::string>() == (e.kind == feeds::TickKind::Trade ? "trade" : "quote"));
    CHECK(j.at("recv_time_ns").get<std::int64_t>() >= j.at("send_time_ns").get<std::int64_t>() - 1'000'000);
  }
  CHECK(n == count);
  std::ifstream err(dir / "sub.err");
  std::stringstream summary;
  summary << err.rdbuf();
  INFO(summary.str());
  CHECK(summary.str().find(fmt::format("total {} messages, seq 1..{}, missing 0", count, count)) != std::string::npos);
  CHECK(summary.str().find("SYM009") != std::string::npos);
  CHECK(summary.str().find("rejected") == std::string::npos);
}

TEST_CASE("feeds: tickrt gen and subscribe refuse bad arguments with a reason", "[feeds][cli]") {
  const std::string bin = test::tickrt_binary();
  auto out = test::run_command(bin + " gen --out /nonexistent-dir/x.ticks --count 10");
  CHECK(out.exit_code != 0);
  CHECK(out.output.find("/nonexistent-dir/x.ticks") != std::string::npos);
  auto none = test::run_command(bin + " gen --count 10");
  CHECK(none.exit_code != 0);
  CHECK(none.output.find("--pub") != std::string::npos);
  auto bad_ep = test::run_command(bin + " gen --pub 'tcp:/nowhere' --count 10");
  CHECK(bad_ep.exit_code != 0);
  CHECK(bad_ep.output.find("tcp:/nowhere") != std::string::npos);
  auto timeout = test::run_command(bin + " subscribe --sub tcp://127.0.0.1:1 --count 5 --timeout 0.2");
  CHECK(timeout.exit_code == 2);
  CHECK(timeout.output.find("timed out") != std::string::npos);
  auto help = test::run_command(bin + " subscribe --help");
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("Example") != std::string::npos);
}
