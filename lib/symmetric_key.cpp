// Symmetric-key MACs: see symmetric_key.hpp.
#include "lib/symmetric_key.hpp"

#include <algorithm>
#include <array>

namespace gnomon {
namespace {

struct AlgorithmInfo {
  MacAlgorithm algorithm;
  std::string_view name;
  std::size_t output_len;
  std::size_t key_len;  // CMAC only
};

constexpr std::array<AlgorithmInfo, 11> kAlgorithms{{
    {MacAlgorithm::Md5, "MD5", 16, 0},
    {MacAlgorithm::Sha1, "SHA1", 20, 0},
    {MacAlgorithm::Sha256, "SHA256", 32, 0},
    {MacAlgorithm::Sha384, "SHA384", 48, 0},
    {MacAlgorithm::Sha512, "SHA512", 64, 0},
    {MacAlgorithm::Sha3_224, "SHA3-224", 28, 0},
    {MacAlgorithm::Sha3_256, "SHA3-256", 32, 0},
    {MacAlgorithm::Sha3_384, "SHA3-384", 48, 0},
    {MacAlgorithm::Sha3_512, "SHA3-512", 64, 0},
    {MacAlgorithm::Aes128Cmac, "AES128", 16, 16},
    {MacAlgorithm::Aes256Cmac, "AES256", 16, 32},
}};

const AlgorithmInfo& info(MacAlgorithm a) {
  for (const auto& i : kAlgorithms) {
    if (i.algorithm == a) return i;
  }
  return kAlgorithms[0];
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace

std::optional<MacAlgorithm> mac_algorithm_from_name(std::string_view name) {
  for (const auto& i : kAlgorithms) {
    if (i.name == name) return i.algorithm;
  }
  return std::nullopt;
}

const char* to_string(MacAlgorithm a) { return info(a).name.data(); }
std::size_t mac_output_len(MacAlgorithm a) { return info(a).output_len; }
std::size_t required_key_len(MacAlgorithm a) { return info(a).key_len; }
bool is_cmac(MacAlgorithm a) { return info(a).key_len != 0; }

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
  }
  return *this;
}

void SecretBytes::wipe() {
  // Volatile stores are not optimised away, unlike a memset before free.
  volatile std::uint8_t* p = bytes_.data();
  for (std::size_t i = 0; i < bytes_.size(); ++i) p[i] = 0;
  bytes_.clear();
}

std::size_t digest_len_for_version(MacAlgorithm a, int version) {
  const std::size_t cap = version == 4 ? kMaxV4DigestLen : kMaxLegacyDigestLen;
  return std::min(mac_output_len(a), cap);
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  return diff == 0;
}

KeyTable::KeyTable(std::vector<SymmetricKey> keys, std::shared_ptr<const MacProvider> provider)
    : keys_(std::move(keys)), provider_(std::move(provider)) {
  std::stable_sort(keys_.begin(), keys_.end(),
                   [](const SymmetricKey& a, const SymmetricKey& b) { return a.id < b.id; });
  keys_.erase(std::unique(keys_.begin(), keys_.end(),
                          [](const SymmetricKey& a, const SymmetricKey& b) { return a.id == b.id; }),
              keys_.end());
}

const SymmetricKey* KeyTable::find(std::uint32_t id) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), id,
                             [](const SymmetricKey& k, std::uint32_t v) { return k.id < v; });
  if (it == keys_.end() || it->id != id) return nullptr;
  return &*it;
}

std::size_t KeyTable::digest_len(std::uint32_t id, int version) const {
  const SymmetricKey* k = find(id);
  if (k == nullptr || !provider_ || !provider_->supports(k->algorithm)) return 0;
  return digest_len_for_version(k->algorithm, version);
}

bool KeyTable::verify(std::uint32_t id, std::span<const std::uint8_t> data,
                      std::span<const std::uint8_t> digest, int version) const {
  const SymmetricKey* k = find(id);
  if (k == nullptr || !provider_) return false;
  const std::size_t want = digest_len(id, version);
  if (want == 0 || digest.size() != want) return false;
  std::array<std::uint8_t, kMaxMacOutputLen> full{};
  const std::size_t n = provider_->compute(k->algorithm, k->secret.bytes(), data, full);
  if (n < want) return false;
  const bool ok = equal_constant_time(std::span<const std::uint8_t>(full.data(), want), digest);
  volatile std::uint8_t* p = full.data();
  for (std::size_t i = 0; i < full.size(); ++i) p[i] = 0;
  return ok;
}

std::size_t KeyTable::sign(std::uint32_t id, std::span<std::uint8_t> packet, std::size_t data_len,
                           int version) const {
  const SymmetricKey* k = find(id);
  if (k == nullptr || !provider_) return 0;
  const std::size_t want = digest_len(id, version);
  if (want == 0 || data_len > packet.size() || packet.size() - data_len < kMacKeyIdLen + want) {
    return 0;
  }
  std::array<std::uint8_t, kMaxMacOutputLen> full{};
  const std::size_t n =
      provider_->compute(k->algorithm, k->secret.bytes(), packet.first(data_len), full);
  if (n < want) return 0;
  store_be32(packet.data() + data_len, id);
  std::copy_n(full.begin(), want, packet.begin() + static_cast<std::ptrdiff_t>(data_len + kMacKeyIdLen));
  return kMacKeyIdLen + want;
}

int preferred_version_for_key(const KeyTable& keys, std::uint32_t id) {
  const SymmetricKey* k = keys.find(id);
  if (k != nullptr && mac_output_len(k->algorithm) > kMaxV4DigestLen) return 3;
  return 4;
}

std::size_t mac_offset(const ParsedPacket& parsed) {
  if (!parsed.has_mac) return parsed.length;
  const std::size_t mac_len = kMacKeyIdLen + parsed.mac_digest.size();
  return parsed.length >= mac_len ? parsed.length - mac_len : 0;
}

bool check_reply_mac(const ParsedPacket& parsed, std::span<const std::uint8_t> bytes,
                     std::optional<std::uint32_t> key, const KeyTable* keys) {
  if (!key) return !parsed.has_mac;
  if (!parsed.has_mac || parsed.mac_key_id != *key || keys == nullptr) return false;
  const std::size_t start = mac_offset(parsed);
  if (start > bytes.size()) return false;
  return keys->verify(*key, bytes.first(start), parsed.mac_digest, parsed.header.version);
}

bool check_request_mac(const ParsedPacket& parsed, std::span<const std::uint8_t> bytes,
                       const KeyTable* keys) {
  if (!parsed.has_mac || keys == nullptr || parsed.mac_digest.empty()) return false;
  const std::size_t start = mac_offset(parsed);
  if (start > bytes.size()) return false;
  return keys->verify(parsed.mac_key_id, bytes.first(start), parsed.mac_digest,
                      parsed.header.version);
}

ServerAuthVerdict SymmetricServerAuth::check_request(const ParsedPacket& parsed,
                                                     std::span<const std::uint8_t> request) {
  pending_ = Pending::None;
  if (carries_nts(parsed)) {
    if (nts_ == nullptr) return ServerAuthVerdict::Drop;
    const ServerAuthVerdict v = nts_->check_request(parsed, request);
    if (v != ServerAuthVerdict::Drop) pending_ = Pending::Nts;
    return v;
  }
  if (!check_request_mac(parsed, request, keys_.get())) return ServerAuthVerdict::Drop;
  pending_ = Pending::Mac;
  key_id_ = parsed.mac_key_id;
  version_ = parsed.header.version;
  request_len_ = parsed.length;
  return ServerAuthVerdict::Ok;
}

std::size_t SymmetricServerAuth::finish_reply(std::span<std::uint8_t> out, std::size_t length) {
  const Pending pending = pending_;
  pending_ = Pending::None;
  if (pending == Pending::Nts) return nts_->finish_reply(out, length);
  if (pending != Pending::Mac || !keys_ || length > out.size()) return 0;
  const std::size_t mac = keys_->sign(key_id_, out, length, version_);
  if (mac == 0 || length + mac > request_len_) return 0;  // never longer than the request
  return length + mac;
}

std::size_t SymmetricClientAuth::sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                              TimePoint /*now*/) {
  if (!keys_ || length < kNtpHeaderLen || length > buf.size()) return 0;
  if (preferred_version_for_key(*keys_, key_id_) == 3) {
    buf[0] = static_cast<std::uint8_t>((buf[0] & 0xC7u) | (3u << 3));
  }
  const int version = (buf[0] >> 3) & 0x7;
  const std::size_t mac = keys_->sign(key_id_, buf, length, version);
  return mac == 0 ? 0 : length + mac;
}

ReplyAuth SymmetricClientAuth::verify_reply(std::span<const std::uint8_t> bytes,
                                            const ParsedPacket& parsed) {
  return check_reply_mac(parsed, bytes, key_id_, keys_.get()) ? ReplyAuth::Ok : ReplyAuth::Fail;
}

}  // namespace gnomon
