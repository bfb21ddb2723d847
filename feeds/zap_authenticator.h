// The ZAP handler (ZeroMQ RFC 27, ZAP 1.0) that decides which CURVE clients a server socket admits: a REP
// socket bound to inproc://zeromq.zap.01 in the server's zmq context, answered on its own small thread, so a
// handshake never waits for the engine's loop and the loop never sees authentication traffic.
//
// A request is admitted (status 200) when its mechanism is CURVE and the client's long-term public key is in
// the allowed set; everything else gets 400 (a malformed request gets 500) and is counted. One exception:
// once a handler exists, libzmq (4.3, ZMQ_ZAP_ENFORCE_DOMAIN off) asks it about every connection in the
// context, also those of plain sockets that never asked for authentication (the proxy's capture socket, a
// test's helper sockets); NULL-mechanism requests outside the guarded domain are answered 200 and not
// counted. The guarded CURVE sockets set ZMQ_ZAP_DOMAIN to that domain (CurveOptions::zap_domain). ZeroMQ consults the
// handler only for peers that speak CURVE: a plain (NULL mechanism) peer fails earlier, at the mechanism
// check, and never reaches it. To count those too, watch() puts a ZeroMQ socket monitor on a server socket
// and the same thread counts its failed handshakes by kind.
//
// Lifetime: construct (binds the handler address: one handler per context; a second one throws), watch()
// the server sockets, start(). Requests that arrive before start() wait in the socket and are answered then.
// Destroy before the context is terminated and after the watched sockets are closed or never used again.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "feeds/curve_keys.h"

namespace tickrt::feeds {

struct AuthCounters {
  std::atomic<std::uint64_t> accepted{0};   // ZAP requests answered 200 (known client key)
  std::atomic<std::uint64_t> denied{0};     // ZAP requests answered 400 (unknown key, other mechanism)
  std::atomic<std::uint64_t> malformed{0};  // ZAP requests that were not ZAP 1.0 (answered 500)
  // From watched sockets' monitors: handshakes that completed, and those that failed by kind.
  std::atomic<std::uint64_t> handshakes{0};
  // A plain (NULL) peer on a CURVE socket shows as protocol (our side saw the mechanism mismatch) or as other
  // (the peer saw it first and hung up mid-handshake); which one is a race.
  std::atomic<std::uint64_t> failed_protocol{0};  // protocol error: wrong mechanism, malformed handshake
  std::atomic<std::uint64_t> failed_auth{0};      // the ZAP handler said no
  std::atomic<std::uint64_t> failed_other{0};     // cut short: a plain peer hanging up, a client with the wrong server key
};

class ZapAuthenticator {
 public:
  // Binds the ZAP endpoint in `context`. Throws std::runtime_error when another handler already has it.
  ZapAuthenticator(zmq::context_t& context, std::vector<CurveKeyBytes> allowed_clients,
                   std::string domain = CurveOptions{}.zap_domain);
  ~ZapAuthenticator();  // stops and joins the thread, closes its sockets
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  // Before start(): counts `socket`'s handshake outcomes (a ZeroMQ monitor, read on the handler's thread).
  void watch(zmq::socket_t& socket);
  void start();

  const AuthCounters& counters() const noexcept { return counters_; }
  std::size_t allowed_count() const noexcept { return allowed_.size(); }

 private:
  void run();
  void answer_one();
  void read_monitor(zmq::socket_t& monitor);

  zmq::context_t& context_;
  std::vector<CurveKeyBytes> allowed_;  // sorted, for binary search
  std::string domain_;                  // the ZAP domain of the sockets this handler guards
  zmq::socket_t handler_;               // REP on inproc://zeromq.zap.01
  std::vector<zmq::socket_t> monitors_;  // PAIR, one per watched socket
  AuthCounters counters_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tickrt::feeds
