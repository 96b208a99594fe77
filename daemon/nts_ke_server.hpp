// The NTS-KE server (RFC 8915 section 4): TLS 1.3 over TCP with ALPN
// "ntske/1", on the [nts] listen addresses. Per connection: handshake, read
// one request message, answer it (keys from the TLS exporter, sealed into 8
// cookies with the current server key), close. At most `max_connections`
// sessions run at once (more are closed at accept), and each one must finish
// within `timeout`. It runs on the main context; a session costs one TLS
// handshake, a few AES-SIV operations and at most 16 KiB of buffer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/crypto_random.hpp"
#include "lib/config.hpp"
#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_cookie.hpp"

namespace gnomon::daemon {

struct NtsKeServerOptions {
  std::vector<SocketAddress> listen;
  std::string certificate;   // PEM chain
  std::string key;           // PEM private key
  // NTPv4 port to announce when it is not 123 (chrony does the same).
  std::optional<std::uint16_t> ntp_port;
  std::size_t max_connections = 100;
  std::chrono::milliseconds timeout{2000};
};

struct NtsKeServerCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;       // over the connection limit
  std::uint64_t completed = 0;     // keys and cookies handed out
  std::uint64_t errors = 0;        // TLS, protocol or timeout failures
};

class NtsKeServer {
 public:
  NtsKeServer(boost::asio::io_context& ctx, NtsKeServerOptions options);
  ~NtsKeServer();
  NtsKeServer(const NtsKeServer&) = delete;
  NtsKeServer& operator=(const NtsKeServer&) = delete;

  // Loads the certificate and key and binds the listeners (before privileges
  // are dropped). On failure, `what` says which step failed.
  std::error_code open(std::string& what);
  void start();
  void close();

  void set_keys(std::shared_ptr<const NtsKeyRing> keys) { keys_ = std::move(keys); }
  // The listen addresses open() could open (the others were logged).
  [[nodiscard]] const std::vector<SocketAddress>& listening() const { return listening_; }
  [[nodiscard]] const NtsKeServerCounters& counters() const { return counters_; }

 private:
  class Session;
  void accept(std::size_t i);

  boost::asio::io_context& ctx_;
  NtsKeServerOptions options_;
  boost::asio::ssl::context tls_;
  // Listening sockets, waited on for readability and accepted with
  // accept(2): Asio's acceptor would re-set O_NONBLOCK with an ioctl that
  // syscall simulators reject (see asio_nonblocking.hpp).
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> acceptors_;
  std::vector<SocketAddress> listening_;
  std::shared_ptr<const NtsKeyRing> keys_;
  AesSivCmac256 aead_;
  CryptoRandom rng_;
  std::size_t active_ = 0;
  NtsKeServerCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace gnomon::daemon
