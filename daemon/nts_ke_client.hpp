// One NTS-KE exchange as a client (RFC 8915 section 4): TCP connect, TLS 1.3
// with ALPN "ntske/1", the server's certificate verified against the trusted
// certificates (the system store, plus [nts] trusted-certs / chrony.conf's
// ntstrustedcerts) and against the configured name (a DNS name, or an IP
// address for an IP literal), then one request, one response, and the keys
// from the TLS exporter. The whole exchange is bounded by a timeout.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lib/net_address.hpp"
#include "lib/nts_cookie.hpp"

namespace gnomon::daemon {

struct NtsKeRequest {
  SocketAddress server;        // where to connect
  std::string name;            // what the certificate must be for
  std::string trusted_certs;   // extra CA file or directory; "" = system store only
  std::chrono::milliseconds timeout{10000};
};

struct NtsKeOutcome {
  bool ok = false;
  // Why not, for the log: the TLS or verification error, or the protocol
  // error. Never contains key material.
  std::string error;
  // The failure happened in TLS (certificate, name, handshake): retried
  // much later than a failure to connect.
  bool tls_failure = false;
  NtsKeys keys;
  std::vector<std::vector<std::uint8_t>> cookies;
  std::optional<std::string> ntp_server;
  std::optional<std::uint16_t> ntp_port;
};

// Starts the exchange; `done` runs on `ctx` exactly once.
void run_nts_ke(boost::asio::io_context& ctx, const NtsKeRequest& request,
                std::function<void(NtsKeOutcome)> done);

}  // namespace gnomon::daemon
