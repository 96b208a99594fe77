// NTS cookies and server keys: see nts_cookie.hpp.
#include "lib/nts_cookie.hpp"

#include <algorithm>
#include <charconv>

namespace gnomon {
namespace {

constexpr std::string_view kHeader = "gnomon-nts-server-keys 1";

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

[[nodiscard]] std::uint32_t load_be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

[[nodiscard]] std::int64_t unix_seconds(TimePoint t) {
  return t.unix_ns >= 0 ? t.unix_ns / kNsPerS : -((-t.unix_ns + kNsPerS - 1) / kNsPerS);
}

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
}

[[nodiscard]] bool parse_hex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

// Splits `line` at single spaces.
[[nodiscard]] std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> w;
  std::size_t pos = 0;
  while (pos <= line.size()) {
    const std::size_t sp = line.find(' ', pos);
    const std::size_t end = sp == std::string_view::npos ? line.size() : sp;
    w.push_back(line.substr(pos, end - pos));
    if (sp == std::string_view::npos) break;
    pos = sp + 1;
  }
  return w;
}

}  // namespace

NtsKeyRing::~NtsKeyRing() {
  for (auto& k : keys_) wipe_secret(k.key);
}

const NtsServerKey* NtsKeyRing::current() const { return keys_.empty() ? nullptr : &keys_.front(); }

const NtsServerKey* NtsKeyRing::find(std::uint32_t id) const {
  for (const auto& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

bool NtsKeyRing::rotate(TimePoint now, RandomSource& rng) {
  const std::int64_t now_s = unix_seconds(now);
  if (!keys_.empty()) {
    const std::int64_t age_s = now_s - keys_.front().created_unix_s;
    if (age_s >= 0 && age_s < kServerKeyRotationS) return false;
  }
  NtsServerKey k;
  k.created_unix_s = now_s;
  rng.fill(k.key);
  do {
    std::array<std::uint8_t, 4> id{};
    rng.fill(id);
    k.id = load_be32(id.data());
  } while (find(k.id) != nullptr);
  keys_.insert(keys_.begin(), k);
  wipe_secret(k.key);
  while (keys_.size() > kKeptServerKeys) {
    wipe_secret(keys_.back().key);
    keys_.pop_back();
  }
  return true;
}

std::optional<TimePoint> NtsKeyRing::next_rotation() const {
  if (keys_.empty()) return std::nullopt;
  return TimePoint{(keys_.front().created_unix_s + kServerKeyRotationS) * kNsPerS};
}

std::string NtsKeyRing::to_text() const {
  std::string out(kHeader);
  out.push_back('\n');
  for (const auto& k : keys_) {
    std::array<std::uint8_t, 4> id{};
    store_be32(id.data(), k.id);
    append_hex(out, id);
    out.push_back(' ');
    out += std::to_string(k.created_unix_s);
    out.push_back(' ');
    append_hex(out, k.key);
    out.push_back('\n');
  }
  return out;
}

std::optional<NtsKeyRing> NtsKeyRing::from_text(std::string_view text) {
  NtsKeyRing ring;
  std::size_t pos = 0;
  bool header = true;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return std::nullopt;  // every line ends with \n
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (header) {
      if (line != kHeader) return std::nullopt;
      header = false;
      continue;
    }
    const auto w = words(line);
    if (w.size() != 3 || ring.keys_.size() >= kKeptServerKeys) return std::nullopt;
    NtsServerKey k;
    std::array<std::uint8_t, 4> id{};
    if (!parse_hex(w[0], id) || !parse_hex(w[2], k.key)) return std::nullopt;
    k.id = load_be32(id.data());
    const auto [ptr, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), k.created_unix_s);
    if (ec != std::errc() || ptr != w[1].data() + w[1].size() || ring.find(k.id) != nullptr) {
      return std::nullopt;
    }
    ring.keys_.push_back(k);
    wipe_secret(k.key);
  }
  if (header || ring.keys_.empty()) return std::nullopt;
  // Newest first, whatever the file said.
  std::stable_sort(ring.keys_.begin(), ring.keys_.end(),
                   [](const NtsServerKey& a, const NtsServerKey& b) {
                     return a.created_unix_s > b.created_unix_s;
                   });
  return ring;
}

bool seal_cookie(const NtsKeyRing& ring, const NtsKeys& keys, Aead& aead, RandomSource& rng,
                 std::span<std::uint8_t, kCookieLen> out) {
  const NtsServerKey* k = ring.current();
  if (k == nullptr) return false;
  store_be32(out.data(), k->id);
  const auto nonce = out.subspan(4, kCookieNonceLen);
  rng.fill(nonce);
  std::array<std::uint8_t, 2 * kAeadKeyLen> plain{};
  std::copy(keys.c2s.begin(), keys.c2s.end(), plain.begin());
  std::copy(keys.s2c.begin(), keys.s2c.end(), plain.begin() + kAeadKeyLen);
  const bool ok = aead.seal(k->key, nonce, out.first(4), plain, out.subspan(4 + kCookieNonceLen));
  wipe_secret(plain);
  return ok;
}

std::optional<NtsKeys> open_cookie(const NtsKeyRing& ring, Aead& aead,
                                   std::span<const std::uint8_t> cookie) {
  if (cookie.size() != kCookieLen) return std::nullopt;
  const NtsServerKey* k = ring.find(load_be32(cookie.data()));
  if (k == nullptr) return std::nullopt;
  std::array<std::uint8_t, 2 * kAeadKeyLen> plain{};
  if (!aead.open(k->key, cookie.subspan(4, kCookieNonceLen), cookie.first(4),
                 cookie.subspan(4 + kCookieNonceLen), plain)) {
    return std::nullopt;
  }
  NtsKeys keys;
  std::copy_n(plain.begin(), kAeadKeyLen, keys.c2s.begin());
  std::copy_n(plain.begin() + kAeadKeyLen, kAeadKeyLen, keys.s2c.begin());
  wipe_secret(plain);
  return keys;
}

}  // namespace gnomon
