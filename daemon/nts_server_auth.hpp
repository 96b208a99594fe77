// The NTS side of one NTP server worker: its own AES-SIV context, random
// source and NtsServerAuth (lib/nts_ntp.hpp), so that workers share nothing
// but the read-only server keys.
#pragma once

#include <memory>

#include "daemon/crypto_random.hpp"
#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_cookie.hpp"
#include "lib/nts_ntp.hpp"

namespace gnomon::daemon {

struct NtsWorkerAuth {
  AesSivCmac256 aead;
  CryptoRandom rng;
  NtsServerAuth auth{aead, rng};
};

}  // namespace gnomon::daemon
