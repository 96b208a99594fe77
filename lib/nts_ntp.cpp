// NTS extension fields: see nts_ntp.hpp.
#include "lib/nts_ntp.hpp"

#include <algorithm>
#include <optional>

namespace gnomon {
namespace {

constexpr std::size_t kAuthHeadLen = 4;  // nonce length u16, ciphertext length u16

[[nodiscard]] std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void store_be16(std::uint8_t* p, std::size_t v) {
  p[0] = static_cast<std::uint8_t>((v >> 8) & 0xFF);
  p[1] = static_cast<std::uint8_t>(v & 0xFF);
}

[[nodiscard]] constexpr std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Offset of an extension field's head within the packet its body points into.
[[nodiscard]] std::size_t field_offset(std::span<const std::uint8_t> packet, const ExtensionField& ef) {
  return static_cast<std::size_t>(ef.body.data() - packet.data()) - kExtensionHeadLen;
}

// Writes a field head at `p` for a field of `total_len` bytes.
void write_head(std::uint8_t* p, std::uint16_t type, std::size_t total_len) {
  store_be16(p, type);
  store_be16(p + 2, total_len);
}

// Length of an Authenticator field whose nonce is kNtsNonceLen bytes and
// whose plaintext is `plain_len` bytes, before extra padding.
[[nodiscard]] constexpr std::size_t auth_field_len(std::size_t plain_len) {
  return kExtensionHeadLen + kAuthHeadLen + kNtsNonceLen + padded(kAeadTagLen + plain_len);
}

struct AuthBody {
  std::span<const std::uint8_t> nonce;
  std::span<const std::uint8_t> sealed;  // tag || ciphertext
};

// The parts of an Authenticator field's body, with RFC 8915's rules: the
// lengths fit, the nonce is not empty, the ciphertext holds at least a tag,
// and the field is padded as if the nonce had at least 16 bytes.
[[nodiscard]] std::optional<AuthBody> parse_auth_body(std::span<const std::uint8_t> body) {
  if (body.size() < kAuthHeadLen) return std::nullopt;
  const std::size_t nonce_len = load_be16(body.data());
  const std::size_t sealed_len = load_be16(body.data() + 2);
  if (nonce_len == 0 || sealed_len < kAeadTagLen) return std::nullopt;
  if (kAuthHeadLen + padded(nonce_len) + padded(sealed_len) > body.size()) return std::nullopt;
  if (body.size() < kAuthHeadLen + kNtsNonceLen + padded(sealed_len)) return std::nullopt;
  AuthBody a;
  a.nonce = body.subspan(kAuthHeadLen, nonce_len);
  a.sealed = body.subspan(kAuthHeadLen + padded(nonce_len), sealed_len);
  return a;
}

// Walks the extension fields inside a decrypted plaintext. Calls
// `visit(type, body)` for each; false if malformed.
template <typename Visit>
[[nodiscard]] bool walk_plaintext(std::span<const std::uint8_t> plain, Visit&& visit) {
  std::size_t pos = 0;
  while (pos < plain.size()) {
    if (plain.size() - pos < kMinExtensionFieldLen) return false;
    const std::uint16_t type = load_be16(plain.data() + pos);
    const std::size_t len = load_be16(plain.data() + pos + 2);
    if (len < kMinExtensionFieldLen || len % 4 != 0 || len > plain.size() - pos) return false;
    visit(type, plain.subspan(pos + kExtensionHeadLen, len - kExtensionHeadLen));
    pos += len;
  }
  return true;
}

// A cookie a client can send back: it must make a legal field.
[[nodiscard]] bool usable_cookie(std::span<const std::uint8_t> c) {
  return c.size() + kExtensionHeadLen >= kMinExtensionFieldLen && c.size() % 4 == 0 &&
         c.size() <= kMaxNtsCookieLen;
}

}  // namespace

// --- Server ------------------------------------------------------------------

NtsServerAuth::NtsServerAuth(Aead& aead, RandomSource& rng) : aead_(aead), rng_(rng) {}

NtsServerAuth::~NtsServerAuth() { wipe_secret(s2c_); }

ServerAuthVerdict NtsServerAuth::check_request(const ParsedPacket& parsed,
                                               std::span<const std::uint8_t> request) {
  result_ = check(parsed, request);
  pending_ = result_ == NtsServerResult::Ok || result_ == NtsServerResult::Nak;
  switch (result_) {
    case NtsServerResult::Ok: return ServerAuthVerdict::Ok;
    case NtsServerResult::Nak: return ServerAuthVerdict::Nak;
    default: return ServerAuthVerdict::Drop;
  }
}

NtsServerResult NtsServerAuth::check(const ParsedPacket& parsed,
                                     std::span<const std::uint8_t> request) {
  cookie_count_ = 0;
  uid_ = {};
  request_len_ = request.size();
  if (!keys_ || keys_->empty()) return NtsServerResult::NoKeys;
  if (parsed.header.mode != NtpMode::Client || parsed.header.version != 4) {
    return NtsServerResult::NotClientMode;
  }
  if (parsed.has_mac || parsed.length != request.size()) return NtsServerResult::Malformed;

  std::span<const std::uint8_t> uid;
  std::span<const std::uint8_t> cookie;
  const ExtensionField* auth = nullptr;
  bool have_uid = false;
  bool have_cookie = false;
  std::size_t requested = 0;
  std::optional<std::size_t> placeholder_len;
  bool placeholders_agree = true;
  const auto fields = parsed.extension_fields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const ExtensionField& ef = fields[i];
    switch (ef.type) {
      case kEfNtsUniqueIdentifier:
        if (have_uid || ef.body.size() < kNtsUniqueIdLen) return NtsServerResult::Malformed;
        uid = ef.body;
        have_uid = true;
        break;
      case kEfNtsCookie:
        if (have_cookie) return NtsServerResult::Malformed;
        cookie = ef.body;
        have_cookie = true;
        ++requested;
        break;
      case kEfNtsCookiePlaceholder:
        if (placeholder_len && *placeholder_len != ef.body.size()) placeholders_agree = false;
        placeholder_len = ef.body.size();
        ++requested;
        break;
      case kEfNtsAuthenticator:
        if (i + 1 != fields.size()) return NtsServerResult::Malformed;  // must be last
        auth = &ef;
        break;
      default:
        break;  // unknown fields are covered by the authenticator, and ignored
    }
  }
  if (!have_uid || !have_cookie || auth == nullptr) return NtsServerResult::Malformed;
  if (!placeholders_agree || (placeholder_len && *placeholder_len != cookie.size())) {
    return NtsServerResult::Malformed;
  }
  uid_ = uid;

  // From here on the request is well formed: failures to verify get a NAK.
  std::optional<NtsKeys> keys = open_cookie(*keys_, aead_, cookie);
  if (!keys) return NtsServerResult::Nak;
  const auto body = parse_auth_body(auth->body);
  if (!body) return NtsServerResult::Nak;
  std::array<std::uint8_t, kMaxNtpPacketLen> plain_buf{};
  const std::size_t plain_len = body->sealed.size() - kAeadTagLen;
  if (plain_len > plain_buf.size()) return NtsServerResult::Nak;
  const std::span<std::uint8_t> plain(plain_buf.data(), plain_len);
  if (!aead_.open(keys->c2s, body->nonce, request.first(field_offset(request, *auth)), body->sealed,
                  plain)) {
    return NtsServerResult::Nak;
  }
  bool encrypted_agree = true;
  const bool parsed_ok = walk_plaintext(plain, [&](std::uint16_t type, std::span<const std::uint8_t> b) {
    if (type == kEfNtsCookiePlaceholder) {
      if (b.size() != cookie.size()) encrypted_agree = false;
      ++requested;
    }
  });
  wipe_secret(plain);
  if (!parsed_ok || !encrypted_agree) return NtsServerResult::Malformed;

  // The expensive part of the reply, before its transmit timestamp is taken.
  s2c_ = keys->s2c;
  rng_.fill(nonce_);
  const std::size_t wanted = std::min(requested, kNtsCookieJarSize);
  for (std::size_t i = 0; i < wanted; ++i) {
    if (!seal_cookie(*keys_, *keys, aead_, rng_, cookies_[i])) return NtsServerResult::CryptoError;
  }
  cookie_count_ = wanted;
  return NtsServerResult::Ok;
}

std::size_t NtsServerAuth::finish_reply(std::span<std::uint8_t> out, std::size_t length) {
  if (!pending_) return 0;
  pending_ = false;  // one reply per check
  const NtsServerResult result = result_;
  const std::size_t limit = std::min(out.size(), request_len_);
  // Echo the unique identifier.
  const std::size_t uid_field = kExtensionHeadLen + uid_.size();
  if (length + uid_field > limit) return 0;
  write_head(out.data() + length, kEfNtsUniqueIdentifier, uid_field);
  std::copy(uid_.begin(), uid_.end(), out.begin() + static_cast<std::ptrdiff_t>(length + kExtensionHeadLen));
  std::size_t pos = length + uid_field;
  if (result == NtsServerResult::Nak) return pos;

  // As many new cookies as fit in the request's length.
  constexpr std::size_t kCookieField = kExtensionHeadLen + kCookieLen;
  std::size_t n = cookie_count_;
  while (n > 0 && pos + auth_field_len(n * kCookieField) > limit) --n;
  const std::size_t natural = auth_field_len(n * kCookieField);
  if (pos + natural > limit) return 0;
  // Pad the field so that the reply is exactly as long as the request.
  const std::size_t field_len = limit - pos;
  if (field_len > 0xFFFF) return 0;

  std::array<std::uint8_t, kNtsCookieJarSize * kCookieField> plain{};
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t* p = plain.data() + i * kCookieField;
    write_head(p, kEfNtsCookie, kCookieField);
    std::copy(cookies_[i].begin(), cookies_[i].end(), p + kExtensionHeadLen);
  }
  const std::size_t plain_len = n * kCookieField;
  const std::size_t sealed_len = kAeadTagLen + plain_len;

  std::uint8_t* f = out.data() + pos;
  std::fill(f, f + field_len, std::uint8_t{0});
  write_head(f, kEfNtsAuthenticator, field_len);
  store_be16(f + kExtensionHeadLen, kNtsNonceLen);
  store_be16(f + kExtensionHeadLen + 2, sealed_len);
  std::copy(nonce_.begin(), nonce_.end(), f + kExtensionHeadLen + kAuthHeadLen);
  const std::span<std::uint8_t> sealed(f + kExtensionHeadLen + kAuthHeadLen + kNtsNonceLen, sealed_len);
  const bool ok = aead_.seal(s2c_, nonce_, std::span<const std::uint8_t>(out.data(), pos),
                             std::span<const std::uint8_t>(plain.data(), plain_len), sealed);
  wipe_secret(s2c_);
  cookie_count_ = 0;
  return ok ? limit : 0;
}

// --- Client ------------------------------------------------------------------

NtsClientSession::~NtsClientSession() { clear(); }

void NtsClientSession::install(const NtsKeys& keys,
                               const std::vector<std::vector<std::uint8_t>>& cookies) {
  clear();
  keys_ = keys;
  has_keys_ = true;
  for (const auto& c : cookies) {
    if (jar_.size() < kNtsCookieJarSize && usable_cookie(c)) jar_.push_back(c);
  }
}

void NtsClientSession::clear() {
  wipe_secret(keys_.c2s);
  wipe_secret(keys_.s2c);
  has_keys_ = false;
  jar_.clear();
  awaiting_reply_ = false;
}

std::size_t NtsClientSession::sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                           Aead& aead, RandomSource& rng) {
  awaiting_reply_ = false;
  if (!has_keys_ || jar_.empty() || length < kNtpHeaderLen || length > buf.size()) return 0;
  const std::vector<std::uint8_t> cookie = jar_.front();
  jar_.erase(jar_.begin());

  const std::size_t cookie_field = kExtensionHeadLen + cookie.size();
  const std::size_t uid_field = kExtensionHeadLen + kNtsUniqueIdLen;
  const std::size_t auth_field = auth_field_len(0);
  const std::size_t limit = std::min(buf.size(), kMaxNtpPacketLen);
  std::size_t wanted = std::min(kNtsCookieJarSize - jar_.size(), kMaxRequestCookieBytes / cookie_field);
  wanted = std::max<std::size_t>(wanted, 1);
  while (wanted > 1 && length + uid_field + wanted * cookie_field + auth_field > limit) --wanted;
  if (length + uid_field + wanted * cookie_field + auth_field > limit) return 0;

  std::size_t pos = length;
  rng.fill(uid_);
  write_head(buf.data() + pos, kEfNtsUniqueIdentifier, uid_field);
  std::copy(uid_.begin(), uid_.end(), buf.begin() + static_cast<std::ptrdiff_t>(pos + kExtensionHeadLen));
  pos += uid_field;
  write_head(buf.data() + pos, kEfNtsCookie, cookie_field);
  std::copy(cookie.begin(), cookie.end(), buf.begin() + static_cast<std::ptrdiff_t>(pos + kExtensionHeadLen));
  pos += cookie_field;
  for (std::size_t i = 1; i < wanted; ++i) {
    write_head(buf.data() + pos, kEfNtsCookiePlaceholder, cookie_field);
    std::fill_n(buf.begin() + static_cast<std::ptrdiff_t>(pos + kExtensionHeadLen), cookie.size(),
                std::uint8_t{0});
    pos += cookie_field;
  }
  std::array<std::uint8_t, kNtsNonceLen> nonce{};
  rng.fill(nonce);
  std::uint8_t* f = buf.data() + pos;
  write_head(f, kEfNtsAuthenticator, auth_field);
  store_be16(f + kExtensionHeadLen, kNtsNonceLen);
  store_be16(f + kExtensionHeadLen + 2, kAeadTagLen);
  std::copy(nonce.begin(), nonce.end(), f + kExtensionHeadLen + kAuthHeadLen);
  const std::span<std::uint8_t> tag(f + kExtensionHeadLen + kAuthHeadLen + kNtsNonceLen, kAeadTagLen);
  if (!aead.seal(keys_.c2s, nonce, std::span<const std::uint8_t>(buf.data(), pos), {}, tag)) return 0;
  awaiting_reply_ = true;
  return pos + auth_field;
}

ReplyAuth NtsClientSession::verify_reply(std::span<const std::uint8_t> bytes,
                                         const ParsedPacket& parsed, Aead& aead) {
  if (!awaiting_reply_ || !has_keys_ || parsed.header.mode != NtpMode::Server ||
      parsed.length != bytes.size() || parsed.has_mac) {
    return ReplyAuth::Fail;
  }
  bool uid_ok = false;
  const ExtensionField* auth = nullptr;
  const auto fields = parsed.extension_fields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const ExtensionField& ef = fields[i];
    if (ef.type == kEfNtsUniqueIdentifier) {
      if (uid_ok || ef.body.size() != uid_.size() ||
          !std::equal(ef.body.begin(), ef.body.end(), uid_.begin())) {
        return ReplyAuth::Fail;
      }
      uid_ok = true;
    } else if (ef.type == kEfNtsAuthenticator) {
      if (i + 1 != fields.size()) return ReplyAuth::Fail;
      auth = &ef;
    }
  }
  if (!uid_ok) return ReplyAuth::Fail;
  if (auth == nullptr) {
    if (parsed.header.stratum == 0 && parsed.header.reference_id == kKodNtsNak) {
      clear();  // the server no longer takes our cookies: new keys needed
      return ReplyAuth::Nak;
    }
    return ReplyAuth::Fail;
  }
  const auto body = parse_auth_body(auth->body);
  if (!body) return ReplyAuth::Fail;
  std::array<std::uint8_t, kMaxNtpPacketLen> plain_buf{};
  const std::size_t plain_len = body->sealed.size() - kAeadTagLen;
  if (plain_len > plain_buf.size()) return ReplyAuth::Fail;
  const std::span<std::uint8_t> plain(plain_buf.data(), plain_len);
  if (!aead.open(keys_.s2c, body->nonce, bytes.first(field_offset(bytes, *auth)), body->sealed, plain)) {
    return ReplyAuth::Fail;
  }
  std::vector<std::vector<std::uint8_t>> fresh;
  const bool ok = walk_plaintext(plain, [&](std::uint16_t type, std::span<const std::uint8_t> b) {
    if (type == kEfNtsCookie && usable_cookie(b) && fresh.size() < kNtsCookieJarSize) {
      fresh.emplace_back(b.begin(), b.end());
    }
  });
  if (!ok || fresh.empty()) return ReplyAuth::Fail;
  for (auto& c : fresh) {
    if (jar_.size() < kNtsCookieJarSize) jar_.push_back(std::move(c));
  }
  awaiting_reply_ = false;
  return ReplyAuth::Ok;
}

}  // namespace gnomon
