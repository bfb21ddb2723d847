// Security: CURVE key files (round trip, hostile files refused with the file named), an engine with CURVE on
// real tcp loopback sockets (authorised peers served; plain peers and unknown keys refused and counted), the
// /metrics address (loopback unless a host is given, a warning otherwise), and `tickrt keygen` itself.
#include <catch2/catch.hpp>
#include <fmt/core.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine/engine.h"
#include "engine/feature_spec.h"
#include "engine/metrics_server.h"
#include "engine/model_init.h"
#include "feeds/clock.h"
#include "feeds/curve_keys.h"
#include "feeds/zap_authenticator.h"
#include "feeds/zmq_sink.h"
#include "tests/test_feed_util.h"
#include "tests/test_util.h"

using namespace tickrt;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Writes PREFIX.key/.pub under `dir` and returns PREFIX.
std::string make_keys(const test::TempDir& dir, const std::string& name) {
  const std::string prefix = dir / name;
  feeds::write_curve_key_files(prefix, feeds::generate_curve_keypair(), false);
  return prefix;
}

void write_text(const std::string& file, const std::string& text, mode_t mode = 0600) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  REQUIRE(::chmod(file.c_str(), mode) == 0);
}

mode_t file_mode(const std::string& file) {
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A small one-layer model: the security tests need signals, not a particular model.
std::string make_model(const test::TempDir& dir) {
  nlohmann::json c = {{"format", "tickrt-model/1"},
                      {"n_features", kFeatureCount},
                      {"d_model", 8},
                      {"outputs", {"a"}},
                      {"layers", {{{"type", "mamba"}, {"ffn", "mlp"}}}}};
  const std::string out = dir / "model";
  init_model(ModelConfig::from_json(c, "test"), 3).save(out);
  FeatureSpec spec = FeatureSpec::untrained(kFeatureCount, {"a"});
  for (auto& f : spec.features) f.clip = 8.0f;
  spec.save(fs::path(out) / "features.json");
  return out;
}

// Signals read by a subscriber socket until `expected` arrived or `limit` passed; counts per symbol.
struct Collected {
  std::map<std::string, size_t> per_symbol;
  size_t total = 0;
};
Collected collect(zmq::socket_t& sub, size_t expected, std::chrono::milliseconds limit) {
  Collected got;
  feeds::MessageDecoder dec;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (got.total < expected && std::chrono::steady_clock::now() < deadline) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(sub, std::back_inserter(parts))) continue;  // rcvtimeo
    REQUIRE(parts.size() == 2);
    const auto d = dec.decode(parts[0].to_string_view(), {parts[1].data<uint8_t>(), parts[1].size()});
    REQUIRE(d.ok);
    ++got.per_symbol[std::string(d.signal.symbol)];
    ++got.total;
  }
  return got;
}

zmq::socket_t subscriber(zmq::context_t& ctx, const feeds::CurveOptions& curve, const std::string& endpoint) {
  zmq::socket_t s(ctx, zmq::socket_type::sub);
  s.set(zmq::sockopt::subscribe, "");
  s.set(zmq::sockopt::rcvtimeo, 100);
  s.set(zmq::sockopt::linger, 0);
  feeds::apply_curve(s, curve);
  s.connect(endpoint);
  return s;
}

feeds::ZmqSinkOptions publisher_options(const feeds::CurveOptions& curve) {
  feeds::ZmqSinkOptions so;
  so.endpoints = feeds::parse_endpoints({"@tcp://127.0.0.1:*"}, feeds::SocketRole::Publisher);
  so.send_hwm = 0;
  so.linger_ms = 0;
  so.curve = curve;
  return so;
}

void send_ticks(feeds::ZmqSink& sink, const test::Feed& f, const char* symbol_override = nullptr) {
  feeds::MessageBuilder b;
  for (size_t i = 0; i < f.ticks.size(); ++i) {
    feeds::TickEvent e = f.ticks[i];
    if (symbol_override) e.symbol = symbol_override;
    e.send_time_ns = feeds::realtime_ns();
    REQUIRE(sink.publish(e.symbol, b.build_tick(e), 0));
    if (i % 32 == 0) std::this_thread::sleep_for(200us);
  }
}

enum class Intruder { none, plain, unknown_key };

// A plain peer's handshake fails either at our mechanism check (protocol) or, when the peer noticed the
// mismatch first and hung up, as a handshake cut short (other): which one is a race.
uint64_t plain_refusals(const feeds::AuthCounters& a) { return a.failed_protocol.load() + a.failed_other.load(); }

struct SecureRun {
  size_t authorised_signals = 0;
  size_t intruder_symbol_signals = 0;   // signals for the intruder's ticks (must stay 0)
  size_t intruder_received = 0;         // messages the intruding subscriber got (must stay 0)
  uint64_t intruder_pub_subscriptions = 0;  // subscriptions that reached the intruding publisher (must stay 0)
  uint64_t submitted = 0;               // ticks the pipeline was offered
  uint64_t accepted = 0, denied = 0, failed_plain = 0;
};

// An engine with CURVE (engine key, clients = feed + desk) fed by an authorised publisher and read by an
// authorised subscriber; with an intruder, a second publisher and a second subscriber of that kind too. The
// intruder publishes first (symbol INTRUDER), then the authorised feed; everything is counted.
SecureRun run_secure(Intruder intruder, size_t ticks) {
  test::TempDir dir;
  const std::string model = make_model(dir);
  const std::string engine_keys = make_keys(dir, "engine");
  const std::string feed_keys = make_keys(dir, "feed");
  const std::string desk_keys = make_keys(dir, "desk");
  const std::string rogue_keys = make_keys(dir, "rogue");  // a valid pair, not among the clients
  fs::create_directories(dir.path / "clients");
  fs::copy_file(feed_keys + ".pub", dir / "clients/feed.pub");
  fs::copy_file(desk_keys + ".pub", dir / "clients/desk.pub");
  const feeds::CurveOptions feed_curve = feeds::curve_client_options(feed_keys + ".key", engine_keys + ".pub");
  const feeds::CurveOptions desk_curve = feeds::curve_client_options(desk_keys + ".key", engine_keys + ".pub");
  feeds::CurveOptions intruder_curve;  // plain: CURVE off
  if (intruder == Intruder::unknown_key)
    intruder_curve = feeds::curve_client_options(rogue_keys + ".key", engine_keys + ".pub");

  zmq::context_t ctx(1);
  feeds::ZmqSink feed(ctx, publisher_options(feed_curve));
  std::optional<feeds::ZmqSink> intruder_pub;
  EngineOptions eo;
  eo.model_dir = model;
  eo.sub = {">" + feed.endpoints().at(0)};
  if (intruder != Intruder::none) {
    intruder_pub.emplace(ctx, publisher_options(intruder_curve));
    eo.sub.push_back(">" + intruder_pub->endpoints().at(0));
  }
  eo.pub = {"@tcp://127.0.0.1:*"};
  eo.curve_key = engine_keys + ".key";
  eo.curve_clients = dir.path / "clients";
  eo.max_batch = 64;
  eo.handle_signals = false;
  eo.quiet = true;
  Engine engine(eo);  // its own zmq context: the ZAP handler guards the engine's sockets only
  zmq::socket_t desk = subscriber(ctx, desk_curve, engine.pub_endpoints().at(0));
  std::optional<zmq::socket_t> intruder_sub;
  if (intruder != Intruder::none) intruder_sub.emplace(subscriber(ctx, intruder_curve, engine.pub_endpoints().at(0)));

  REQUIRE(engine.wait_for_subscribers(1, 10s));  // desk's subscription went through the handshake
  REQUIRE(feed.wait_for_subscriptions(1, 10s));  // the engine's subscription reached the feed
  // The intruder's two connections (engine -> its publisher, its subscriber -> engine) must have been refused
  // before the feed starts, or a slow refusal could pass for a success.
  const feeds::AuthCounters& auth = engine.auth_counters();
  const auto refused = [&] {
    return intruder == Intruder::plain ? plain_refusals(auth) : auth.denied.load();
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (intruder != Intruder::none && refused() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);

  std::thread loop([&] { engine.run(); });
  SecureRun r;
  if (intruder_pub) {
    send_ticks(*intruder_pub, test::make_feed(2, 200, 99), "INTRUDER");
    std::this_thread::sleep_for(300ms);  // what got through would be queued in the engine by now
  }
  send_ticks(feed, test::make_feed(4, static_cast<int>(ticks), 5));
  Collected got = collect(desk, ticks, 20s);
  for (const auto& [symbol, n] : collect(desk, 1, 300ms).per_symbol) {  // anything beyond the expected shows
    got.per_symbol[symbol] += n;
    got.total += n;
  }
  if (intruder_sub) {
    intruder_sub->set(zmq::sockopt::rcvtimeo, 200);
    r.intruder_received = collect(*intruder_sub, 1, 400ms).total;
  }
  engine.request_stop();
  loop.join();

  r.authorised_signals = got.total;
  r.intruder_symbol_signals = got.per_symbol.count("INTRUDER") ? got.per_symbol.at("INTRUDER") : 0;
  if (intruder_pub) r.intruder_pub_subscriptions = intruder_pub->poll_subscriptions();
  r.submitted = engine.counters().submitted;
  r.accepted = auth.accepted.load();
  r.denied = auth.denied.load();
  r.failed_plain = plain_refusals(auth);
  return r;
}

}  // namespace

TEST_CASE("security: key files round-trip, the secret file is 0600 and never silently replaced", "[security]") {
  test::TempDir dir;
  const feeds::CurveKeyPair keys = feeds::generate_curve_keypair();
  REQUIRE(keys.public_key.size() == 40);
  REQUIRE(keys.secret_key.size() == 40);
  const auto files = feeds::write_curve_key_files(dir / "engine", keys, false);
  CHECK(files.secret_file == dir / "engine.key");
  CHECK(files.public_file == dir / "engine.pub");
  CHECK(file_mode(dir / "engine.key") == 0600);

  const feeds::CurveKeyPair back = feeds::read_curve_secret_file(files.secret_file);
  CHECK(back.public_key == keys.public_key);
  CHECK(back.secret_key == keys.secret_key);
  CHECK(feeds::read_curve_public_file(files.public_file) == keys.public_key);
  CHECK(feeds::read_curve_public_file(files.secret_file) == keys.public_key);  // a .key file holds the public key too
  const auto listed = feeds::read_curve_public_keys(files.public_file);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0] == feeds::decode_curve_key(keys.public_key, "test"));

  // Not replaced without overwrite (neither file touched), replaced with it, mode 0600 again.
  const feeds::CurveKeyPair other = feeds::generate_curve_keypair();
  CHECK_THROWS_WITH(feeds::write_curve_key_files(dir / "engine", other, false),
                    Contains(dir / "engine.key") && Contains("--force"));
  CHECK(feeds::read_curve_public_file(files.public_file) == keys.public_key);
  REQUIRE(::chmod(files.secret_file.c_str(), 0644) == 0);
  feeds::write_curve_key_files(dir / "engine", other, true);
  CHECK(file_mode(dir / "engine.key") == 0600);
  CHECK(feeds::read_curve_secret_file(files.secret_file).secret_key == other.secret_key);

  // A CZMQ zcert secret certificate reads the same (metadata entries, comments, indentation).
  const std::string zcert = dir / "czmq_secret";
  write_text(zcert, fmt::format("#   ****  Generated by CZMQ  ****\n#   ZeroMQ CURVE **Secret** Certificate\n\n"
                                "metadata\n    name = \"desk\"\ncurve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n",
                                keys.public_key, keys.secret_key));
  CHECK(feeds::read_curve_secret_file(zcert).public_key == keys.public_key);
}

TEST_CASE("security: hostile key files are refused with the file named", "[security]") {
  test::TempDir dir;
  const feeds::CurveKeyPair keys = feeds::generate_curve_keypair();
  const feeds::CurveKeyPair other = feeds::generate_curve_keypair();
  const auto key_text = [](const std::string& pub, const std::string& sec) {
    return fmt::format("curve\n    public-key = \"{}\"\n    secret-key = \"{}\"\n", pub, sec);
  };

  const std::string short_key = dir / "short.pub";
  write_text(short_key, "curve\n    public-key = \"abc\"\n", 0644);
  CHECK_THROWS_WITH(feeds::read_curve_public_file(short_key), Contains(short_key + ":2") && Contains("40"));

  const std::string bad_z85 = dir / "bad_z85.pub";
  write_text(bad_z85, fmt::format("public-key = \"{}~\"\n", keys.public_key.substr(0, 39)), 0644);
  CHECK_THROWS_WITH(feeds::read_curve_public_file(bad_z85), Contains(bad_z85) && Contains("Z85"));

  const std::string readable = dir / "readable.key";
  write_text(readable, key_text(keys.public_key, keys.secret_key), 0644);
  CHECK_THROWS_WITH(feeds::read_curve_secret_file(readable), Contains(readable) && Contains("chmod 600"));
  REQUIRE(::chmod(readable.c_str(), 0640) == 0);  // group-readable is refused too
  CHECK_THROWS_WITH(feeds::read_curve_secret_file(readable), Contains(readable));
  REQUIRE(::chmod(readable.c_str(), 0600) == 0);
  CHECK(feeds::read_curve_secret_file(readable).secret_key == keys.secret_key);

  const std::string mismatched = dir / "mismatched.key";
  write_text(mismatched, key_text(other.public_key, keys.secret_key));
  CHECK_THROWS_WITH(feeds::read_curve_secret_file(mismatched), Contains(mismatched) && Contains("public key"));

  const std::string only_public = dir / "only_public.key";  // a .pub file given where the secret one belongs
  write_text(only_public, fmt::format("public-key = \"{}\"\n", keys.public_key));
  CHECK_THROWS_WITH(feeds::read_curve_secret_file(only_public), Contains(only_public) && Contains("no secret-key"));

  const std::string twice = dir / "twice.pub";
  write_text(twice, fmt::format("public-key = \"{}\"\npublic-key = \"{}\"\n", keys.public_key, other.public_key));
  CHECK_THROWS_WITH(feeds::read_curve_public_file(twice), Contains(twice + ":2") && Contains("twice"));

  const std::string garbage = dir / "garbage.pub";
  write_text(garbage, std::string("\x7f" "ELF\x01\x02\n\0\0\0", 9), 0644);
  CHECK_THROWS_WITH(feeds::read_curve_public_file(garbage), Contains(garbage + ":1"));

  const std::string huge = dir / "huge.pub";
  write_text(huge, std::string(200 * 1024, '#'), 0644);
  CHECK_THROWS_WITH(feeds::read_curve_public_file(huge), Contains(huge) && Contains("too large"));

  CHECK_THROWS_WITH(feeds::read_curve_public_file(dir / "missing.pub"), Contains(dir / "missing.pub"));
  fs::create_directories(dir.path / "empty");
  CHECK_THROWS_WITH(feeds::read_curve_public_keys(dir.path / "empty"), Contains(dir / "empty"));
  // A directory is read by its *.pub files only; one bad file refuses the whole set, naming it.
  fs::create_directories(dir.path / "clients");
  write_text(dir / "clients/a.pub", fmt::format("public-key = \"{}\"\n", keys.public_key), 0644);
  write_text(dir / "clients/notes.txt", "not a key", 0644);
  CHECK(feeds::read_curve_public_keys(dir.path / "clients").size() == 1);
  write_text(dir / "clients/b.pub", "public-key = \"short\"\n", 0644);
  CHECK_THROWS_WITH(feeds::read_curve_public_keys(dir.path / "clients"), Contains(dir / "clients/b.pub"));
}

TEST_CASE("security: CURVE engine serves an authorised publisher and subscriber", "[security][sockets]") {
  const SecureRun r = run_secure(Intruder::none, 300);
  CHECK(r.authorised_signals == 300);
  CHECK(r.submitted == 300);
  CHECK(r.accepted >= 2);  // the engine's SUB -> feed, desk -> the engine's XPUB
  CHECK(r.denied == 0);
  CHECK(r.failed_plain == 0);
}

TEST_CASE("security: plain peers are refused: their ticks never reach the model, their subscriber gets nothing",
          "[security][sockets]") {
  const SecureRun r = run_secure(Intruder::plain, 200);
  CHECK(r.failed_plain >= 2);               // both plain connections failed the handshake, counted
  CHECK(r.intruder_pub_subscriptions == 0);  // the engine never subscribed at the plain publisher
  CHECK(r.submitted == 200);                 // only the authorised feed's ticks were offered to the pipeline
  CHECK(r.intruder_symbol_signals == 0);
  CHECK(r.authorised_signals == 200);
  CHECK(r.intruder_received == 0);
}

TEST_CASE("security: a valid key pair not in --curve-clients is refused and counted as denied",
          "[security][sockets]") {
  const SecureRun r = run_secure(Intruder::unknown_key, 200);
  CHECK(r.denied >= 2);  // the rogue publisher (engine's SUB connecting out) and the rogue subscriber
  CHECK(r.accepted >= 2);
  CHECK(r.intruder_pub_subscriptions == 0);
  CHECK(r.submitted == 200);
  CHECK(r.intruder_symbol_signals == 0);
  CHECK(r.authorised_signals == 200);
  CHECK(r.intruder_received == 0);
}

TEST_CASE("security: CURVE options that cannot work are refused at engine setup", "[security]") {
  test::TempDir dir;
  EngineOptions eo;
  eo.model_dir = make_model(dir);
  eo.sub = {">tcp://127.0.0.1:1"};
  eo.pub = {"@tcp://127.0.0.1:*"};
  eo.quiet = true;
  eo.handle_signals = false;
  eo.curve_key = make_keys(dir, "engine") + ".key";
  CHECK_THROWS_WITH(Engine(eo), Contains("--curve-clients"));  // encryption without authorisation: refused
  fs::create_directories(dir.path / "clients");
  eo.curve_clients = dir.path / "clients";
  CHECK_THROWS_WITH(Engine(eo), Contains(dir / "clients") && Contains("no *.pub"));
  ::chmod(eo.curve_key.c_str(), 0604);
  make_keys(dir, "clients/feed");
  CHECK_THROWS_WITH(Engine(eo), Contains(eo.curve_key.string()));
}

TEST_CASE("security: the ZAP handler passes plain sockets outside its domain and answers malformed requests",
          "[security][sockets]") {
  zmq::context_t ctx(1);
  feeds::ZapAuthenticator auth(ctx, {});
  auth.start();
  // Plain sockets in the same context (libzmq asks the handler about them too) still connect.
  zmq::socket_t pub(ctx, zmq::socket_type::pub), sub(ctx, zmq::socket_type::sub);
  pub.bind("tcp://127.0.0.1:*");
  sub.set(zmq::sockopt::subscribe, "");
  sub.set(zmq::sockopt::rcvtimeo, 50);
  sub.connect(pub.get(zmq::sockopt::last_endpoint));
  zmq::message_t msg;
  bool got = false;
  for (int i = 0; i < 100 && !got; ++i) {
    pub.send(zmq::str_buffer("hello"), zmq::send_flags::none);
    got = sub.recv(msg).has_value();
  }
  CHECK(got);
  // A request that is not ZAP 1.0 gets status 500 and is counted, the handler keeps serving.
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::rcvtimeo, 2000);
  req.connect("inproc://zeromq.zap.01");
  req.send(zmq::str_buffer("2.0"), zmq::send_flags::none);
  std::vector<zmq::message_t> reply;
  REQUIRE(zmq::recv_multipart(req, std::back_inserter(reply)));
  REQUIRE(reply.size() == 6);
  CHECK(reply[2].to_string_view() == "500");
  CHECK(auth.counters().malformed.load() == 1);
  CHECK(auth.counters().accepted.load() == 0);
  // A second handler in the same context is refused.
  CHECK_THROWS_WITH(feeds::ZapAuthenticator(ctx, {}), Contains("zeromq.zap.01"));
}

TEST_CASE("security: /metrics binds loopback unless a host is given", "[security][sockets]") {
  boost::asio::io_context io;
  MetricsRegistry registry;
  for (const char* spec : {"0", ":0", "localhost:0", "127.0.0.1:0"}) {
    MetricsServer s(io, spec, registry);
    CHECK(s.loopback());
    CHECK_THAT(s.address(), Catch::Matchers::StartsWith("127.0.0.1:"));
    CHECK(s.port() != 0);
  }
  MetricsServer any(io, "0.0.0.0:0", registry);
  CHECK_FALSE(any.loopback());
  CHECK_THAT(any.address(), Catch::Matchers::StartsWith("0.0.0.0:"));
  CHECK_THROWS_WITH(MetricsServer(io, "example.com:9100", registry), Contains("example.com"));
}

TEST_CASE("security: tickrt run warns when /metrics is not on loopback", "[security][cli]") {
  test::TempDir dir;
  const std::string model = make_model(dir);
  const std::string base = fmt::format("timeout --preserve-status -s TERM 2 {} run --model {} --sub "
                                       "tcp://127.0.0.1:1 --pub '@tcp://127.0.0.1:*' --log-every 0 --metrics ",
                                       test::tickrt_binary(), model);
  const auto open = test::run_command(base + "0.0.0.0:0");
  CHECK(open.exit_code == 0);  // SIGTERM: a clean stop
  CHECK_THAT(open.output, Contains("warning: /metrics is served on 0.0.0.0:"));
  const auto local = test::run_command(base + "0");
  CHECK(local.exit_code == 0);
  CHECK_THAT(local.output, !Contains("warning"));
}

TEST_CASE("security: tickrt keygen writes a usable pair and refuses to overwrite without --force",
          "[security][cli]") {
  test::TempDir dir;
  const std::string cmd = fmt::format("{} keygen --out {}", test::tickrt_binary(), dir / "engine");
  const auto first = test::run_command(cmd);
  REQUIRE(first.exit_code == 0);
  CHECK(file_mode(dir / "engine.key") == 0600);
  const feeds::CurveKeyPair pair = feeds::read_curve_secret_file(dir / "engine.key");
  CHECK(feeds::read_curve_public_file(dir / "engine.pub") == pair.public_key);
  CHECK_THAT(first.output, Contains(pair.public_key));

  const auto again = test::run_command(cmd);
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.output, Contains(dir / "engine.key") && Contains("--force"));
  CHECK(feeds::read_curve_secret_file(dir / "engine.key").secret_key == pair.secret_key);

  REQUIRE(test::run_command(cmd + " --force").exit_code == 0);
  CHECK(feeds::read_curve_secret_file(dir / "engine.key").secret_key != pair.secret_key);
}
