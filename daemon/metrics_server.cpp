#include "daemon/metrics_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

namespace gnomon::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string plain_response(const char* status, std::string_view body, std::string_view extra_headers = {}) {
  std::string r = "HTTP/1.1 ";
  r += status;
  r += "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\nConnection: close\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

}  // namespace

std::string http_response_for(const std::string& request_head, const MetricsServer::Render& render) {
  std::string_view head(request_head);
  std::size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
    return plain_response("400 Bad Request", "bad request\n");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (std::size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return plain_response("405 Method Not Allowed", "only GET and HEAD\n", "Allow: GET, HEAD\r\n");
  }
  if (target == "/") {
    std::string body = "gnomond: metrics are at /metrics\n";
    std::string r = plain_response("200 OK", body);
    if (head_only) r.resize(r.size() - body.size());
    return r;
  }
  if (target != "/metrics") return plain_response("404 Not Found", "not found; try /metrics\n");
  std::string body = render ? render() : std::string{};
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\nConnection: close\r\n\r\n";
  if (!head_only) r += body;
  return r;
}

struct MetricsServer::Shared {
  Render render;
  bool open = true;
  std::vector<std::weak_ptr<Connection>> connections;

  [[nodiscard]] std::size_t active() {
    std::erase_if(connections, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
    return connections.size();
  }
};

class MetricsServer::Connection : public std::enable_shared_from_this<MetricsServer::Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<Shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->stop();
    });
    read();
  }

  void stop() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

 private:
  void read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buf_.data() + used_, buf_.size() - used_),
                            [self](const boost::system::error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      stop();
      return;
    }
    used_ += n;
    std::string_view seen(buf_.data(), used_);
    if (seen.find("\r\n\r\n") != std::string_view::npos || seen.find("\n\n") != std::string_view::npos) {
      if (!shared_->open) {
        stop();
        return;
      }
      respond(http_response_for(std::string(seen), shared_->render));
      return;
    }
    if (used_ == buf_.size()) {
      respond(plain_response("431 Request Header Fields Too Large", "request too large\n"));
      return;
    }
    read();
  }

  void respond(std::string response) {
    response_ = std::move(response);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(response_),
                      [self](const boost::system::error_code&, std::size_t) { self->stop(); });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::shared_ptr<Shared> shared_;
  std::array<char, kMaxRequestBytes> buf_{};
  std::size_t used_ = 0;
  std::string response_;
};

MetricsServer::MetricsServer(asio::io_context& ctx, Render render)
    : acceptor_(ctx), retry_timer_(ctx), shared_(std::make_shared<Shared>()) {
  shared_->render = std::move(render);
}

MetricsServer::~MetricsServer() { close(); }

std::error_code MetricsServer::open(const SocketAddress& listen) {
  boost::system::error_code ec;
  asio::ip::address ip = asio::ip::make_address(listen.ip.to_string(), ec);
  if (ec) return std::make_error_code(std::errc::invalid_argument);
  tcp::endpoint ep(ip, listen.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ip.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return {ec.value(), std::system_category()};
  }
  port_ = acceptor_.local_endpoint(ec).port();
  shared_->open = true;
  accept();
  return {};
}

void MetricsServer::accept() {
  acceptor_.async_accept([this, shared = shared_](const boost::system::error_code& ec, tcp::socket socket) {
    if (!shared->open || ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (shared->active() >= kMaxConnections) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto c = std::make_shared<Connection>(std::move(socket), shared);
        shared->connections.push_back(c);
        c->start();
      }
      accept();
      return;
    }
    // Out of descriptors and the like: retry later rather than spin.
    spdlog::debug("Metrics: accept failed: {}", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(200));
    retry_timer_.async_wait([this, shared](const boost::system::error_code& tec) {
      if (!tec && shared->open) accept();
    });
  });
}

void MetricsServer::close() {
  shared_->open = false;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  for (auto& w : shared_->connections) {
    if (auto c = w.lock()) c->stop();
  }
  shared_->connections.clear();
}

}  // namespace gnomon::daemon
