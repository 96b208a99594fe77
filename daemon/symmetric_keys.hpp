// The daemon's symmetric keys: the [auth] keyfile (chrony's `keyfile`),
// loaded once at startup, before privileges are dropped, and shared by the
// NTP server workers (verify and sign) and the sources with `key = N`.
// Only ids, types and counts are ever logged, never key material.
#pragma once

#include <memory>
#include <string>

#include "lib/config.hpp"
#include "lib/ntp_auth.hpp"
#include "lib/symmetric_key.hpp"

namespace gnomon::daemon {

// Reads the key file (an empty path means no keys) and logs what it found.
void load_symmetric_keys(const std::string& path);

// The loaded keys; an empty table before load_symmetric_keys().
[[nodiscard]] std::shared_ptr<const KeyTable> symmetric_keys();

// The authenticator of a source with `key = N` (nullptr for any other
// source). A key missing from the key file is logged; such a source then
// sends no requests, so it never falls back to plain NTP.
[[nodiscard]] std::shared_ptr<ClientAuthenticator> make_symmetric_client_auth(
    const SourceConfig& config);

}  // namespace gnomon::daemon
