#include "daemon/nts_client_auth.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace gnomon::daemon {

namespace {

// Back-off after failed key exchanges, log2 s (chrony's factors): a server
// that cannot be reached is tried again after 16 s, doubling; a TLS failure
// (a bad certificate, say) waits 1024 s at first, as it needs a human.
constexpr int kConnectRetryLog2 = 4;
constexpr int kTlsRetryLog2 = 10;
constexpr int kMaxRetryLog2 = 19;

}  // namespace

NtsClientAuth::NtsClientAuth(boost::asio::io_context& ctx, std::string name, SocketAddress ke_server,
                             std::uint16_t ntp_port, std::string trusted_certs)
    : ctx_(ctx),
      name_(std::move(name)),
      ke_server_(ke_server),
      ntp_port_(ntp_port),
      trusted_certs_(std::move(trusted_certs)) {}

std::size_t NtsClientAuth::sign_request(std::span<std::uint8_t> buf, std::size_t length, TimePoint /*now*/) {
  if (session_.cookies() == 0) {
    start_key_exchange();
    return 0;
  }
  return session_.sign_request(buf, length, aead_, rng_);
}

ReplyAuth NtsClientAuth::verify_reply(std::span<const std::uint8_t> bytes, const ParsedPacket& parsed) {
  const ReplyAuth r = session_.verify_reply(bytes, parsed, aead_);
  if (r == ReplyAuth::Ok) {
    ke_failures_ = 0;  // the server works with us: a new exchange may start at once when needed
    next_ke_ = {};
  } else if (r == ReplyAuth::Nak) {
    spdlog::info("NTS NAK from {}: its server no longer accepts our cookies; new key exchange", name_);
  }
  return r;
}

void NtsClientAuth::start_key_exchange() {
  if (ke_running_ || std::chrono::steady_clock::now() < next_ke_) return;
  ke_running_ = true;
  NtsKeRequest req;
  req.server = ke_server_;
  req.name = name_;
  req.trusted_certs = trusted_certs_;
  spdlog::debug("NTS-KE with {} ({})", name_, ke_server_.to_string());
  std::weak_ptr<NtsClientAuth> weak = weak_from_this();
  run_nts_ke(ctx_, req, [weak](NtsKeOutcome outcome) {
    if (auto self = weak.lock()) self->on_key_exchange(std::move(outcome));
  });
}

void NtsClientAuth::on_key_exchange(NtsKeOutcome outcome) {
  ke_running_ = false;
  if (!outcome.ok) {
    ++ke_failures_;
    const int log2 = std::min((outcome.tls_failure ? kTlsRetryLog2 : kConnectRetryLog2) + ke_failures_ - 1,
                              kMaxRetryLog2);
    next_ke_ = std::chrono::steady_clock::now() + std::chrono::seconds(1LL << log2);
    spdlog::error("NTS-KE with {} ({}) failed: {}; no unauthenticated fallback, next attempt in {} s", name_,
                  ke_server_.to_string(), outcome.error, 1LL << log2);
    return;
  }
  // The NTP server: negotiated, else the NTS-KE server's address; the port:
  // negotiated, else the source's.
  SocketAddress ntp{ke_server_.ip, outcome.ntp_port.value_or(ntp_port_)};
  if (outcome.ntp_server) {
    if (auto ip = IpAddress::parse(*outcome.ntp_server)) {
      ntp.ip = *ip;
    } else if (*outcome.ntp_server != name_) {
      // Resolving another name is not supported: keep the NTS-KE address.
      spdlog::warn("NTS-KE with {}: negotiated NTP server {} is not an address; using {}", name_,
                   *outcome.ntp_server, ke_server_.ip.to_string());
    }
  }
  ntp_address_ = ntp;
  session_.install(outcome.keys, outcome.cookies);
  spdlog::info("NTS-KE with {} ({}): {} cookies, NTP server {}", name_, ke_server_.to_string(),
               session_.cookies(), ntp.to_string());
}

std::shared_ptr<ClientAuthenticator> make_nts_client_auth(boost::asio::io_context& ctx,
                                                          const SourceConfig& config,
                                                          const SocketAddress& remote,
                                                          const std::string& trusted_certs) {
  if (!config.nts) return nullptr;
  return std::make_shared<NtsClientAuth>(ctx, config.address, SocketAddress{remote.ip, config.nts_port},
                                         remote.port, trusted_certs);
}

}  // namespace gnomon::daemon
