#include "daemon/nts_ke_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstring>
#include <memory>

#include "lib/nts_ke_records.hpp"

namespace gnomon::daemon {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr unsigned char kAlpnWire[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};

tcp::endpoint to_endpoint(const SocketAddress& a) {
  if (a.ip.is_v4()) return {asio::ip::address_v4(a.ip.v4_host_order()), a.port};
  asio::ip::address_v6::bytes_type b{};
  std::copy(a.ip.bytes.begin(), a.ip.bytes.end(), b.begin());
  return {asio::ip::address_v6(b), a.port};
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class KeSession : public std::enable_shared_from_this<KeSession> {
 public:
  KeSession(asio::io_context& ctx, NtsKeRequest request, std::function<void(NtsKeOutcome)> done)
      : request_(std::move(request)),
        done_(std::move(done)),
        tls_(ssl::context::tls_client),
        stream_(ctx, tls_),
        timer_(ctx) {}

  void start() {
    std::string why;
    if (!configure(why)) {
      finish_error(why, true);
      return;
    }
    auto self = shared_from_this();
    timer_.expires_after(request_.timeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
    });
    stream_.lowest_layer().async_connect(to_endpoint(request_.server),
                                         [self](const boost::system::error_code& ec) { self->on_connect(ec); });
  }

 private:
  bool configure(std::string& why) {
    // The SSL object exists already (made with the stream): settings go on
    // it, except the certificate store, which it shares with the context.
    SSL* s = stream_.native_handle();
    SSL_set_min_proto_version(s, TLS1_3_VERSION);
    SSL_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    boost::system::error_code ec;
    tls_.set_default_verify_paths(ec);
    if (!request_.trusted_certs.empty()) {
      if (is_directory(request_.trusted_certs)) {
        tls_.add_verify_path(request_.trusted_certs, ec);
      } else {
        tls_.load_verify_file(request_.trusted_certs, ec);
      }
      if (ec) {
        why = "cannot load trusted certificates " + request_.trusted_certs + ": " + ec.message();
        return false;
      }
    }
    stream_.set_verify_mode(ssl::verify_peer, ec);
    if (ec) {
      why = "cannot enable certificate verification: " + ec.message();
      return false;
    }
    if (SSL_set_alpn_protos(s, kAlpnWire, sizeof kAlpnWire) != 0) {
      why = "cannot set ALPN";
      return false;
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(s);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (IpAddress::parse(request_.name)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, request_.name.c_str()) != 1) {
        why = "bad address " + request_.name;
        return false;
      }
    } else {
      // SNI (SSL_set_tlsext_host_name, spelled out: the macro has a C cast).
      if (SSL_ctrl(s, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(request_.name.c_str())) != 1 ||
          X509_VERIFY_PARAM_set1_host(param, request_.name.c_str(), request_.name.size()) != 1) {
        why = "bad server name " + request_.name;
        return false;
      }
    }
    return true;
  }

  void on_connect(const boost::system::error_code& ec) {
    if (ec) {
      finish_error(timed_out_ ? "timed out connecting" : "cannot connect: " + ec.message(), false);
      return;
    }
    auto self = shared_from_this();
    stream_.async_handshake(ssl::stream_base::client,
                            [self](const boost::system::error_code& e) { self->on_handshake(e); });
  }

  void on_handshake(const boost::system::error_code& ec) {
    SSL* s = stream_.native_handle();
    if (ec) {
      const long verify = SSL_get_verify_result(s);
      std::string why;
      if (verify != X509_V_OK) {
        why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          why += " (certificate is not for " + request_.name + ")";
        }
      } else {
        why = timed_out_ ? "timed out in the TLS handshake" : "TLS handshake failed: " + ec.message();
      }
      finish_error(why, true);
      return;
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(s, &alpn, &alpn_len);
    if (alpn_len != sizeof kAlpnWire - 1 || std::memcmp(alpn, kAlpnWire + 1, alpn_len) != 0) {
      finish_error("server did not agree to ALPN ntske/1", true);
      return;
    }
    request_bytes_ = build_ke_request();
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(request_bytes_),
                      [self](const boost::system::error_code& e, std::size_t) {
                        if (e) {
                          self->finish_error("write failed: " + e.message(), false);
                          return;
                        }
                        self->read_more();
                      });
  }

  void read_more() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(chunk_), [self](const boost::system::error_code& ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    buffer_.insert(buffer_.end(), chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(n));
    const KeFrame frame = frame_ke_message(buffer_);
    if (frame.status == KeFrameStatus::NeedMore) {
      if (ec) {
        finish_error(timed_out_ ? "timed out waiting for the response"
                                : "connection closed before the end of the response: " + ec.message(),
                     false);
        return;
      }
      read_more();
      return;
    }
    if (frame.status != KeFrameStatus::Complete) {
      finish_error("malformed NTS-KE response", false);
      return;
    }
    KeResponseResult r = evaluate_ke_response(std::span<const std::uint8_t>(buffer_.data(), frame.length));
    if (!r.response) {
      finish_error(r.error, false);
      return;
    }
    NtsKeOutcome out;
    SSL* s = stream_.native_handle();
    const auto c2s = nts_exporter_context(kAeadAesSivCmac256, false);
    const auto s2c = nts_exporter_context(kAeadAesSivCmac256, true);
    if (SSL_export_keying_material(s, out.keys.c2s.data(), out.keys.c2s.size(), kNtsExporterLabel,
                                   std::strlen(kNtsExporterLabel), c2s.data(), c2s.size(), 1) != 1 ||
        SSL_export_keying_material(s, out.keys.s2c.data(), out.keys.s2c.size(), kNtsExporterLabel,
                                   std::strlen(kNtsExporterLabel), s2c.data(), s2c.size(), 1) != 1) {
      finish_error("TLS key export failed", true);
      return;
    }
    out.ok = true;
    out.cookies = std::move(r.response->cookies);
    out.ntp_server = std::move(r.response->ntp_server);
    out.ntp_port = r.response->ntp_port;
    finish(std::move(out));
    auto self = shared_from_this();
    stream_.async_shutdown([self](const boost::system::error_code&) {
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
    });
  }

  void finish_error(const std::string& why, bool tls) {
    NtsKeOutcome out;
    out.error = why;
    out.tls_failure = tls;
    finish(std::move(out));
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

  void finish(NtsKeOutcome out) {
    timer_.cancel();
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(out));
  }

  NtsKeRequest request_;
  std::function<void(NtsKeOutcome)> done_;
  ssl::context tls_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  bool timed_out_ = false;
  std::vector<std::uint8_t> request_bytes_;
  std::array<std::uint8_t, 4096> chunk_{};
  std::vector<std::uint8_t> buffer_;
};

}  // namespace

void run_nts_ke(asio::io_context& ctx, const NtsKeRequest& request, std::function<void(NtsKeOutcome)> done) {
  std::make_shared<KeSession>(ctx, request, std::move(done))->start();
}

}  // namespace gnomon::daemon
