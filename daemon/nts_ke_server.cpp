#include "daemon/nts_ke_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <boost/asio/read.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "daemon/asio_nonblocking.hpp"
#include "daemon/socket_util.hpp"
#include "lib/nts_ke_records.hpp"

namespace gnomon::daemon {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

// ALPN wire form of "ntske/1": a length byte, then the name.
constexpr unsigned char kAlpnWire[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};

int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* /*arg*/) {
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  if (SSL_select_next_proto(&selected, &selected_len, kAlpnWire, sizeof kAlpnWire, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  *out = selected;
  *outlen = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

bool alpn_is_ntske(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return len == sizeof kAlpnWire - 1 && std::memcmp(data, kAlpnWire + 1, len) == 0;
}

tcp::endpoint to_endpoint(const SocketAddress& a) {
  if (a.ip.is_v4()) return {asio::ip::address_v4(a.ip.v4_host_order()), a.port};
  asio::ip::address_v6::bytes_type b{};
  std::copy(a.ip.bytes.begin(), a.ip.bytes.end(), b.begin());
  return {asio::ip::address_v6(b), a.port};
}

}  // namespace

// One connection: handshake, one request, one response, close.
class NtsKeServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(NtsKeServer& server, tcp::socket socket)
      : server_(server),
        alive_(server.alive_),
        stream_(std::move(socket), server.tls_),
        timer_(server.ctx_) {
    boost::system::error_code ec;
    const auto ep = stream_.lowest_layer().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~Session() {
    if (alive_.expired()) return;
    --server_.active_;
    if (ok_) {
      ++server_.counters_.completed;
    } else {
      ++server_.counters_.errors;
    }
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(server_.options_.timeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec) return;
      self->fail("timed out");
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
    });
    stream_.async_handshake(ssl::stream_base::server, [self](const boost::system::error_code& ec) {
      self->on_handshake(ec);
    });
  }

 private:
  void fail(const std::string& why) {
    if (failed_) return;
    failed_ = true;
    spdlog::debug("NTS-KE session with {}: {}", peer_, why);
  }

  void on_handshake(const boost::system::error_code& ec) {
    if (ec) {
      fail("TLS handshake failed: " + ec.message());
      return;
    }
    if (!alpn_is_ntske(stream_.native_handle())) {
      fail("client did not negotiate ALPN ntske/1");
      return;
    }
    read_more();
  }

  void read_more() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(chunk_), [self](const boost::system::error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      fail("read failed: " + ec.message());
      return;
    }
    buffer_.insert(buffer_.end(), chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(n));
    const KeFrame frame = frame_ke_message(buffer_);
    switch (frame.status) {
      case KeFrameStatus::NeedMore:
        read_more();
        return;
      case KeFrameStatus::TooLong:
        fail("request longer than 16 KiB");
        return;
      case KeFrameStatus::Malformed: {
        KeRequestDecision bad;
        bad.error = KeError::BadRequest;
        respond(build_ke_response(bad, {}), false);
        return;
      }
      case KeFrameStatus::Complete:
        answer(std::span<const std::uint8_t>(buffer_.data(), frame.length));
        return;
    }
  }

  void answer(std::span<const std::uint8_t> request) {
    if (alive_.expired()) return;
    KeRequestDecision decision = evaluate_ke_request(request);
    KeResponseParams params;
    bool granted = false;
    if (decision.grants_keys()) {
      NtsKeys keys;
      if (!server_.keys_ || server_.keys_->empty() || !export_keys(keys)) {
        decision.error = KeError::InternalServerError;
      } else {
        params.ntp_port = server_.options_.ntp_port;
        for (std::size_t i = 0; i < kNtsCookiesPerExchange; ++i) {
          std::array<std::uint8_t, kCookieLen> cookie{};
          if (!seal_cookie(*server_.keys_, keys, server_.aead_, server_.rng_, cookie)) {
            decision.error = KeError::InternalServerError;
            break;
          }
          params.cookies.emplace_back(cookie.begin(), cookie.end());
        }
        granted = !decision.error;
      }
    }
    if (decision.error) spdlog::debug("NTS-KE session with {}: error {}", peer_, to_string(*decision.error));
    respond(build_ke_response(decision, params), granted);
  }

  bool export_keys(NtsKeys& keys) {
    SSL* ssl = stream_.native_handle();
    const auto c2s = nts_exporter_context(kAeadAesSivCmac256, false);
    const auto s2c = nts_exporter_context(kAeadAesSivCmac256, true);
    return SSL_export_keying_material(ssl, keys.c2s.data(), keys.c2s.size(), kNtsExporterLabel,
                                      std::strlen(kNtsExporterLabel), c2s.data(), c2s.size(), 1) == 1 &&
           SSL_export_keying_material(ssl, keys.s2c.data(), keys.s2c.size(), kNtsExporterLabel,
                                      std::strlen(kNtsExporterLabel), s2c.data(), s2c.size(), 1) == 1;
  }

  void respond(std::vector<std::uint8_t> response, bool granted) {
    response_ = std::move(response);
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(response_),
                      [self, granted](const boost::system::error_code& ec, std::size_t) {
                        if (ec) {
                          self->fail("write failed: " + ec.message());
                          return;
                        }
                        self->ok_ = granted;
                        self->stream_.async_shutdown([self](const boost::system::error_code&) {
                          self->timer_.cancel();
                          boost::system::error_code ignored;
                          self->stream_.lowest_layer().close(ignored);
                        });
                      });
  }

  NtsKeServer& server_;
  std::weak_ptr<bool> alive_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  std::string peer_ = "?";
  std::array<std::uint8_t, 4096> chunk_{};
  std::vector<std::uint8_t> buffer_;
  std::vector<std::uint8_t> response_;
  bool failed_ = false;
  bool ok_ = false;
};

NtsKeServer::NtsKeServer(asio::io_context& ctx, NtsKeServerOptions options)
    : ctx_(ctx), options_(std::move(options)), tls_(ssl::context::tls_server) {}

NtsKeServer::~NtsKeServer() {
  *alive_ = false;
  alive_.reset();
  close();
}

std::error_code NtsKeServer::open(std::string& what) {
  SSL_CTX* native = tls_.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(native, 0);  // no resumption: one exchange per connection
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
  boost::system::error_code ec;
  for (const auto& [file, label] : {std::pair{options_.certificate, "NTS server certificate "},
                                    std::pair{options_.key, "NTS server key "}}) {
    if (::access(file.c_str(), R_OK) != 0) {
      what = label + file;
      return std::error_code(errno, std::generic_category());
    }
  }
  tls_.use_certificate_chain_file(options_.certificate, ec);
  if (ec) {
    what = "NTS server certificate " + options_.certificate + " (not a PEM certificate chain)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  tls_.use_private_key_file(options_.key, ssl::context::pem, ec);
  if (ec) {
    what = "NTS server key " + options_.key + " (not a PEM private key)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    what = "NTS server key " + options_.key + " (does not match the certificate)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  // As with NTP: an address that cannot be opened (IPv6 disabled) is
  // logged and skipped; none at all is an error.
  std::error_code first;
  for (const auto& addr : options_.listen) {
    auto acc = std::make_unique<tcp::acceptor>(ctx_);
    const tcp::endpoint ep = to_endpoint(addr);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && ep.address().is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec && !set_non_blocking(acc->native_handle())) ec.assign(errno, boost::system::system_category());
    if (ec) {
      spdlog::error("Could not open NTS-KE socket on {}: {}", addr.to_string(), ec.message());
      if (!first) {
        first = std::error_code(ec.value(), std::system_category());
        what = "NTS-KE listener " + addr.to_string();
      }
      continue;
    }
    auto listener = std::make_unique<tcp::socket>(ctx_);
    const int fd = acc->release(ec);
    if (!ec) listener->assign(ep.protocol(), fd, ec);
    if (ec) {
      spdlog::error("Could not open NTS-KE socket on {}: {}", addr.to_string(), ec.message());
      continue;
    }
    mark_non_blocking(*listener);
    acceptors_.push_back(std::move(listener));
    listening_.push_back(addr);
  }
  if (!acceptors_.empty()) {
    what.clear();
    return {};
  }
  return first;
}

void NtsKeServer::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) accept(i);
}

void NtsKeServer::close() {
  for (auto& a : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
}

void NtsKeServer::accept(std::size_t i) {
  std::weak_ptr<bool> alive = alive_;
  acceptors_[i]->async_wait(tcp::socket::wait_read, [this, i, alive](boost::system::error_code ec) {
    if (alive.expired()) return;
    if (ec == asio::error::operation_aborted || !acceptors_[i]->is_open()) return;
    tcp::socket socket(ctx_);
    if (!ec) {
      // The peer's address is not needed, but is asked for: some accept()
      // implementations (the clknetsim simulator's) require the buffer.
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof peer;
      const int fd = ::accept(acceptors_[i]->native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_len);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
          accept(i);
          return;
        }
        ec.assign(errno, boost::system::system_category());
      } else {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        socket.assign(acceptors_[i]->local_endpoint(ec).protocol(), fd, ec);
        if (ec) ::close(fd);
      }
    }
    if (!ec) {
      ++counters_.accepted;
      if (active_ >= options_.max_connections) {
        ++counters_.refused;
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        ++active_;
        // Non-blocking by fcntl, and Asio told so (see asio_nonblocking.hpp).
        if (set_non_blocking(socket.native_handle())) mark_non_blocking(socket);
        std::make_shared<Session>(*this, std::move(socket))->start();
      }
    } else if (ec == asio::error::no_descriptors) {
      spdlog::warn("NTS-KE: out of file descriptors ({})", ec.message());
    }
    accept(i);
  });
}

}  // namespace gnomon::daemon
