// OpenSSL, loaded on first use (see on_demand.cpp).
#pragma once

#include <string>

namespace gnomon::openssl {

// Loads libssl and libcrypto now. False with a message naming the library if
// they cannot be loaded; the daemon calls this at start when its
// configuration needs OpenSSL, so that a missing library is an error then
// rather than an abort on first use.
[[nodiscard]] bool load(std::string& error);

}  // namespace gnomon::openssl
