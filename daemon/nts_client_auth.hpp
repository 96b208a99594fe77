// The authenticator of an NTS source (`nts = true`, chrony's `nts`): it runs
// NTS-KE when it has no cookies (asynchronously, on the main context, with a
// back-off after failures), then signs every request and verifies every
// reply with lib/nts_ntp.hpp. Until a key exchange succeeds the source sends
// nothing: there is never a fallback to unauthenticated NTP. An NTS NAK
// drops the keys and cookies, so that the next poll runs NTS-KE again.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "daemon/crypto_random.hpp"
#include "daemon/nts_ke_client.hpp"
#include "lib/config.hpp"
#include "lib/crypto/aes_siv.hpp"
#include "lib/ntp_auth.hpp"
#include "lib/nts_ntp.hpp"

namespace gnomon::daemon {

class NtsClientAuth final : public ClientAuthenticator,
                            public std::enable_shared_from_this<NtsClientAuth> {
 public:
  // `name` is what the server's certificate must be for (the configured
  // address), `ke_server` where NTS-KE connects, `ntp_port` the NTP port
  // unless NTS-KE negotiates another.
  NtsClientAuth(boost::asio::io_context& ctx, std::string name, SocketAddress ke_server,
                std::uint16_t ntp_port, std::string trusted_certs);

  [[nodiscard]] std::optional<SocketAddress> ntp_address() const override { return ntp_address_; }
  [[nodiscard]] std::size_t sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                         TimePoint now) override;
  [[nodiscard]] ReplyAuth verify_reply(std::span<const std::uint8_t> bytes,
                                       const ParsedPacket& parsed) override;

  [[nodiscard]] std::size_t cookies() const { return session_.cookies(); }
  [[nodiscard]] bool key_exchange_running() const { return ke_running_; }

 private:
  void start_key_exchange();
  void on_key_exchange(NtsKeOutcome outcome);

  boost::asio::io_context& ctx_;
  std::string name_;
  SocketAddress ke_server_;
  std::uint16_t ntp_port_;
  std::string trusted_certs_;
  AesSivCmac256 aead_;
  CryptoRandom rng_;
  NtsClientSession session_;
  std::optional<SocketAddress> ntp_address_;
  bool ke_running_ = false;
  int ke_failures_ = 0;
  std::chrono::steady_clock::time_point next_ke_{};
};

// The authenticator for a source with `nts` (nullptr otherwise).
[[nodiscard]] std::shared_ptr<ClientAuthenticator> make_nts_client_auth(
    boost::asio::io_context& ctx, const SourceConfig& config, const SocketAddress& remote,
    const std::string& trusted_certs);

}  // namespace gnomon::daemon
