// A blocking NTS-KE client for gnomon-nts-load: plain OpenSSL on a TCP
// socket (the tool has no event loop). Verifies the server's certificate
// against `trusted_certs` and `name`, like gnomond's client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/nts_cookie.hpp"

namespace gnomon::ntsload {

struct KeResult {
  NtsKeys keys;
  std::vector<std::vector<std::uint8_t>> cookies;
  std::optional<std::uint16_t> ntp_port;
};

// Runs one exchange with `server`:`port` (numeric IPv4 or IPv6). Returns
// nullopt with `error` set on any failure.
[[nodiscard]] std::optional<KeResult> run_key_exchange(const std::string& server, std::uint16_t port,
                                                       const std::string& name,
                                                       const std::string& trusted_certs, std::string& error);

}  // namespace gnomon::ntsload
