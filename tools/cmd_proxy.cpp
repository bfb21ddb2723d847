// tickrt proxy: the scale-out XSUB/XPUB proxy that n engines publish into and subscribers read one stream from.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <thread>

#include "feeds/proxy.h"
#include "feeds/zap_authenticator.h"
#include "tools/command_registry.h"
#include "tools/curve_cli.h"

namespace {

struct ProxyCli {
  std::vector<std::string> frontend, backend, capture;
  int hwm = 1'000'000;
  tickrt::cli::CurveClientFiles curve;  // frontend: a CURVE client of the engines
  std::string curve_clients;            // backend: a CURVE server admitting these subscriber keys
};

int run_proxy(const ProxyCli& cli) {
  // SIGINT/SIGTERM are blocked in every thread (ZeroMQ's I/O threads too, hence before the context) and taken
  // by one waiting thread, which stops the proxy through its control socket.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  tickrt::feeds::ProxyOptions o;
  using tickrt::feeds::SocketRole;
  o.frontend = tickrt::feeds::parse_endpoints(cli.frontend, SocketRole::Publisher);  // default bind
  o.backend = tickrt::feeds::parse_endpoints(cli.backend, SocketRole::Publisher);    // default bind
  if (!cli.capture.empty()) o.capture = tickrt::feeds::parse_endpoints(cli.capture, SocketRole::Publisher);
  o.hwm = cli.hwm;
  zmq::context_t context(1);
  std::unique_ptr<tickrt::feeds::ZapAuthenticator> auth;  // before the proxy: it must outlive the sockets
  if (!cli.curve.server.empty()) o.frontend_curve = tickrt::cli::curve_client_options(cli.curve);
  if (!cli.curve_clients.empty()) {
    if (cli.curve.key.empty()) throw std::runtime_error("proxy --curve-clients: needs --curve-key");
    o.backend_curve = tickrt::feeds::curve_server_options(cli.curve.key);
    auth = std::make_unique<tickrt::feeds::ZapAuthenticator>(context,
                                                             tickrt::feeds::read_curve_public_keys(cli.curve_clients));
  }
  if (!cli.curve.key.empty() && cli.curve.server.empty() && cli.curve_clients.empty())
    throw std::runtime_error("proxy --curve-key: give --curve-server (engines) and/or --curve-clients (subscribers)");
  tickrt::feeds::Proxy proxy(context, o);
  if (auth) auth->start();

  std::atomic<bool> done{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    if (!done.load()) fmt::print(stderr, "tickrt proxy: signal {}, stopping\n", sig);
    proxy.stop();
  });
  fmt::print(stderr, "tickrt proxy: frontend (XSUB) {}, backend (XPUB) {}{}\n", fmt::join(proxy.frontend_endpoints(), ","),
             fmt::join(proxy.backend_endpoints(), ","),
             proxy.capture_endpoints().empty() ? std::string()
                                               : fmt::format(", capture {}", fmt::join(proxy.capture_endpoints(), ",")));
  int rc = 0;
  try {
    proxy.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "tickrt proxy: {}\n", e.what());
    rc = 1;
  }
  done.store(true);
  pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if no signal came
  waiter.join();
  fmt::print(stderr, "tickrt proxy: stopped\n");
  return rc;
}

tickrt::cli::Registration reg("proxy", "scale-out proxy: n engines publish into one XSUB, subscribers read one XPUB",
                              [](CLI::App& app) {
  auto o = std::make_shared<ProxyCli>();
  app.add_option("--frontend", o->frontend,
                 "XSUB endpoint(s) the engines' --pub connect to (default bind; > connects)")
      ->required();
  app.add_option("--backend", o->backend, "XPUB endpoint(s) subscribers connect to (default bind; > connects)")
      ->required();
  app.add_option("--capture", o->capture, "PUB endpoint(s) that get a copy of all traffic (default bind)");
  app.add_option("--hwm", o->hwm, "high-water mark of each socket (messages)")->capture_default_str();
  tickrt::cli::add_curve_client_options(app, o->curve);
  app.add_option("--curve-clients", o->curve_clients,
                 "DIR of subscriber *.pub keys: the backend becomes a CURVE server admitting only those")
      ->check(CLI::ExistingPath)
      ->group("CURVE (encrypted, authenticated; see tickrt keygen)");
  app.footer(
      "Example (3 engines, one stream for subscribers):\n"
      "  tickrt proxy --frontend tcp://127.0.0.1:5560 --backend tcp://127.0.0.1:5561 &\n"
      "  for i in 0 1 2; do tickrt run --model models/default --sub tcp://127.0.0.1:5555 \\\n"
      "      --pub '>tcp://127.0.0.1:5560' --shard $i/3 --snapshot snap/$i & done\n"
      "  tickrt subscribe --sub tcp://127.0.0.1:5561\n"
      "With CURVE: --curve-key proxy.key --curve-server engine.pub (engines' --curve-clients holds proxy.pub),\n"
      "and --curve-clients DIR to admit only those subscribers on the backend. The capture socket stays plain.");
  return [o] { return run_proxy(*o); };
});

}  // namespace
