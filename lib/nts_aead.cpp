// Secret wiping: see nts_aead.hpp.
#include "lib/nts_aead.hpp"

namespace gnomon {

void wipe_secret(std::span<std::uint8_t> bytes) {
  volatile std::uint8_t* p = bytes.data();
  for (std::size_t i = 0; i < bytes.size(); ++i) p[i] = 0;
}

}  // namespace gnomon
