#include "tools/ntsload/nts_ke_blocking.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>

#include "lib/net_address.hpp"
#include "lib/nts_ke_records.hpp"

namespace gnomon::ntsload {

namespace {

constexpr unsigned char kAlpnWire[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};

int connect_to(const std::string& server, std::uint16_t port, std::string& error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, server.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, server.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    error = "not a numeric address: " + server;
    return -1;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

std::string ssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

}  // namespace

std::optional<KeResult> run_key_exchange(const std::string& server, std::uint16_t port, const std::string& name,
                                         const std::string& trusted_certs, std::string& error) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) {
    error = ssl_error();
    return std::nullopt;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_verify_paths(ctx.get());
  if (!trusted_certs.empty() && SSL_CTX_load_verify_locations(ctx.get(), trusted_certs.c_str(), nullptr) != 1) {
    error = "cannot load " + trusted_certs + ": " + ssl_error();
    return std::nullopt;
  }
  const int fd = connect_to(server, port, error);
  if (fd < 0) return std::nullopt;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  SSL_set_alpn_protos(ssl.get(), kAlpnWire, sizeof kAlpnWire);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (IpAddress::parse(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
  }
  std::optional<KeResult> result;
  std::vector<std::uint8_t> buffer;
  const auto request = build_ke_request();
  if (SSL_connect(ssl.get()) != 1) {
    const long v = SSL_get_verify_result(ssl.get());
    error = v != X509_V_OK ? std::string("certificate: ") + X509_verify_cert_error_string(v) : "TLS: " + ssl_error();
  } else if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
    error = "TLS write: " + ssl_error();
  } else {
    std::array<std::uint8_t, 4096> chunk{};
    while (true) {
      const int n = SSL_read(ssl.get(), chunk.data(), static_cast<int>(chunk.size()));
      if (n > 0) buffer.insert(buffer.end(), chunk.begin(), chunk.begin() + n);
      const KeFrame f = frame_ke_message(buffer);
      if (f.status == KeFrameStatus::Complete) {
        KeResponseResult r = evaluate_ke_response(std::span<const std::uint8_t>(buffer.data(), f.length));
        if (!r.response) {
          error = r.error;
          break;
        }
        KeResult out;
        const auto c2s = nts_exporter_context(kAeadAesSivCmac256, false);
        const auto s2c = nts_exporter_context(kAeadAesSivCmac256, true);
        if (SSL_export_keying_material(ssl.get(), out.keys.c2s.data(), out.keys.c2s.size(), kNtsExporterLabel,
                                       std::strlen(kNtsExporterLabel), c2s.data(), c2s.size(), 1) != 1 ||
            SSL_export_keying_material(ssl.get(), out.keys.s2c.data(), out.keys.s2c.size(), kNtsExporterLabel,
                                       std::strlen(kNtsExporterLabel), s2c.data(), s2c.size(), 1) != 1) {
          error = "key export failed";
          break;
        }
        out.cookies = std::move(r.response->cookies);
        out.ntp_port = r.response->ntp_port;
        result = std::move(out);
        break;
      }
      if (f.status != KeFrameStatus::NeedMore || n <= 0) {
        error = "bad or truncated NTS-KE response";
        break;
      }
    }
    SSL_shutdown(ssl.get());
  }
  ::close(fd);
  return result;
}

}  // namespace gnomon::ntsload
