// MacProvider implemented with OpenSSL 3: EVP digests for H(key || data)
// and EVP_MAC "CMAC" with AES-128-CBC / AES-256-CBC.
#pragma once

#include <memory>

#include "lib/symmetric_key.hpp"

namespace gnomon {

// The process-wide OpenSSL provider (thread-safe, never destroyed early).
[[nodiscard]] std::shared_ptr<const MacProvider> openssl_mac_provider();

}  // namespace gnomon
