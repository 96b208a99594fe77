#include "daemon/random_pool.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gnomon::daemon {

void RandomPool::refill() {
  std::size_t got = 0;
  int attempts = 0;
  while (got < buf_.size()) {
    ssize_t n = getrandom(buf_.data() + got, buf_.size() - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (errno != EINTR || ++attempts > 100) {
      // Without a CSPRNG we must not emit predictable timestamps or ports.
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
  }
  pos_ = 0;
}

void RandomPool::fill(std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    if (pos_ >= buf_.size()) refill();
    std::size_t k = std::min(n, buf_.size() - pos_);
    std::memcpy(out, buf_.data() + pos_, k);
    pos_ += k;
    out += k;
    n -= k;
  }
}

std::uint32_t RandomPool::next_u32() {
  std::uint32_t v = 0;
  fill(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}

std::uint64_t RandomPool::next_u64() {
  std::uint64_t v = 0;
  fill(reinterpret_cast<std::uint8_t*>(&v), sizeof v);
  return v;
}

}  // namespace gnomon::daemon
