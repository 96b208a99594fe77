// A minimal HTTP/1.1 server for Prometheus: GET (or HEAD) /metrics answers
// the text exposition, anything else 404 or 405. It runs on the main
// io_context, where the data lives; it never blocks: every read and write
// is asynchronous, a connection that is not done within kRequestTimeout is
// closed, and at most kMaxConnections are served at once (more are closed
// at accept). The NTP workers run on their own threads and never wait for
// it. One request per connection (Connection: close).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "lib/net_address.hpp"

namespace gnomon::daemon {

class MetricsServer {
 public:
  // Returns the body of GET /metrics; called on the io_context's thread.
  using Render = std::function<std::string()>;

  static constexpr std::size_t kMaxConnections = 16;
  static constexpr std::size_t kMaxRequestBytes = 8192;
  static constexpr std::chrono::seconds kRequestTimeout{10};

  MetricsServer(boost::asio::io_context& ctx, Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens on `listen` (port 0 = any free port).
  std::error_code open(const SocketAddress& listen);
  // Stops accepting and closes every open connection.
  void close();
  // The bound port (after open).
  [[nodiscard]] std::uint16_t port() const { return port_; }

  struct Shared;
  class Connection;

 private:
  void accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // after a failed accept (e.g. out of descriptors)
  std::shared_ptr<Shared> shared_;
  std::uint16_t port_ = 0;
};

// The HTTP response to one request head ("GET /metrics HTTP/1.1\r\n...").
// `render` is called only for GET/HEAD /metrics. Exposed for tests.
[[nodiscard]] std::string http_response_for(const std::string& request_head, const MetricsServer::Render& render);

}  // namespace gnomon::daemon
