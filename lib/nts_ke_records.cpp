// NTS-KE records: see nts_ke_records.hpp.
#include "lib/nts_ke_records.hpp"

#include "lib/nts_aead.hpp"

namespace gnomon {
namespace {

constexpr std::size_t kRecordHeadLen = 4;

[[nodiscard]] std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

[[nodiscard]] std::uint16_t type_of(KeRecordType t) { return static_cast<std::uint16_t>(t); }

// The u16 values of a body; nullopt if its length is odd.
[[nodiscard]] std::optional<std::vector<std::uint16_t>> u16s(std::span<const std::uint8_t> body) {
  if (body.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint16_t> v;
  v.reserve(body.size() / 2);
  for (std::size_t i = 0; i < body.size(); i += 2) v.push_back(load_be16(body.data() + i));
  return v;
}

[[nodiscard]] bool printable_name(std::span<const std::uint8_t> body) {
  if (body.empty() || body.size() > kMaxNtsServerNameLen) return false;
  for (std::uint8_t c : body) {
    if (c <= 0x20 || c >= 0x7F) return false;  // printable ASCII, no spaces
  }
  return true;
}

}  // namespace

std::array<std::uint8_t, 5> nts_exporter_context(std::uint16_t aead, bool server_to_client) {
  return {static_cast<std::uint8_t>(kNextProtocolNtpV4 >> 8),
          static_cast<std::uint8_t>(kNextProtocolNtpV4 & 0xFF), static_cast<std::uint8_t>(aead >> 8),
          static_cast<std::uint8_t>(aead & 0xFF), static_cast<std::uint8_t>(server_to_client ? 1 : 0)};
}

KeFrame frame_ke_message(std::span<const std::uint8_t> buffered) {
  std::size_t pos = 0;
  while (true) {
    if (pos + kRecordHeadLen > buffered.size()) {
      return {pos + kRecordHeadLen > kMaxKeMessageLen ? KeFrameStatus::TooLong
                                                       : KeFrameStatus::NeedMore,
              0};
    }
    const std::uint16_t head = load_be16(buffered.data() + pos);
    const std::size_t body_len = load_be16(buffered.data() + pos + 2);
    const std::size_t end = pos + kRecordHeadLen + body_len;
    if (end > kMaxKeMessageLen) return {KeFrameStatus::TooLong, 0};
    if ((head & ~kKeCriticalBit) == type_of(KeRecordType::EndOfMessage)) {
      if (body_len != 0 || (head & kKeCriticalBit) == 0) return {KeFrameStatus::Malformed, 0};
      return {KeFrameStatus::Complete, end};
    }
    if (end > buffered.size()) return {KeFrameStatus::NeedMore, 0};
    pos = end;
  }
}

bool split_ke_records(std::span<const std::uint8_t> message, std::vector<KeRecord>& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos + kRecordHeadLen <= message.size()) {
    const std::uint16_t head = load_be16(message.data() + pos);
    const std::size_t body_len = load_be16(message.data() + pos + 2);
    if (pos + kRecordHeadLen + body_len > message.size()) return false;
    KeRecord r;
    r.critical = (head & kKeCriticalBit) != 0;
    r.type = static_cast<std::uint16_t>(head & ~kKeCriticalBit);
    r.body = message.subspan(pos + kRecordHeadLen, body_len);
    out.push_back(r);
    pos += kRecordHeadLen + body_len;
    if (r.type == type_of(KeRecordType::EndOfMessage)) {
      return pos == message.size() && r.critical && body_len == 0;
    }
  }
  return false;
}

bool KeMessageWriter::add(bool critical, KeRecordType type, std::span<const std::uint8_t> body) {
  if (body.size() > 0xFFFF || bytes_.size() + kRecordHeadLen * 2 + body.size() > kMaxKeMessageLen) {
    return false;
  }
  const std::uint16_t head = static_cast<std::uint16_t>(type_of(type) | (critical ? kKeCriticalBit : 0));
  bytes_.push_back(static_cast<std::uint8_t>(head >> 8));
  bytes_.push_back(static_cast<std::uint8_t>(head & 0xFF));
  bytes_.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  bytes_.push_back(static_cast<std::uint8_t>(body.size() & 0xFF));
  bytes_.insert(bytes_.end(), body.begin(), body.end());
  return true;
}

bool KeMessageWriter::add_u16s(bool critical, KeRecordType type,
                               std::span<const std::uint16_t> values) {
  std::vector<std::uint8_t> body;
  body.reserve(values.size() * 2);
  for (std::uint16_t v : values) {
    body.push_back(static_cast<std::uint8_t>(v >> 8));
    body.push_back(static_cast<std::uint8_t>(v & 0xFF));
  }
  return add(critical, type, body);
}

std::vector<std::uint8_t> KeMessageWriter::finish() {
  const std::uint16_t head = type_of(KeRecordType::EndOfMessage) | kKeCriticalBit;
  bytes_.push_back(static_cast<std::uint8_t>(head >> 8));
  bytes_.push_back(static_cast<std::uint8_t>(head & 0xFF));
  bytes_.push_back(0);
  bytes_.push_back(0);
  return std::move(bytes_);
}

std::vector<std::uint8_t> build_ke_request() {
  KeMessageWriter w;
  const std::uint16_t protocol[] = {kNextProtocolNtpV4};
  const std::uint16_t aead[] = {kAeadAesSivCmac256};
  (void)w.add_u16s(true, KeRecordType::NextProtocol, protocol);
  (void)w.add_u16s(true, KeRecordType::AeadAlgorithm, aead);
  return w.finish();
}

KeResponseResult evaluate_ke_response(std::span<const std::uint8_t> message) {
  KeResponseResult result;
  std::vector<KeRecord> records;
  if (!split_ke_records(message, records)) {
    result.error = "malformed NTS-KE response";
    return result;
  }
  KeResponse r;
  bool next_protocol = false;
  bool aead = false;
  for (const KeRecord& rec : records) {
    switch (static_cast<KeRecordType>(rec.type)) {
      case KeRecordType::EndOfMessage:
        break;
      case KeRecordType::NextProtocol: {
        auto v = u16s(rec.body);
        if (next_protocol || !rec.critical || !v || v->size() != 1 || (*v)[0] != kNextProtocolNtpV4) {
          result.error = "server did not agree to NTPv4";
          return result;
        }
        next_protocol = true;
        break;
      }
      case KeRecordType::AeadAlgorithm: {
        auto v = u16s(rec.body);
        if (aead || !v || v->size() != 1 || (*v)[0] != kAeadAesSivCmac256) {
          result.error = "server did not agree to AEAD_AES_SIV_CMAC_256";
          return result;
        }
        aead = true;
        break;
      }
      case KeRecordType::Error: {
        auto v = u16s(rec.body);
        result.error = "server sent NTS-KE error";
        if (v && v->size() == 1) {
          result.error += " " + std::to_string((*v)[0]);
          if ((*v)[0] <= 2) result.error += std::string(" (") + to_string(static_cast<KeError>((*v)[0])) + ")";
        }
        return result;
      }
      case KeRecordType::Warning: {
        auto v = u16s(rec.body);
        result.error = "server sent NTS-KE warning";
        if (v && v->size() == 1) result.error += " " + std::to_string((*v)[0]);
        return result;
      }
      case KeRecordType::NewCookie:
        // Cookies of a bad length are skipped, as are any beyond the jar.
        if (!rec.body.empty() && rec.body.size() <= kMaxNtsCookieLen && rec.body.size() % 4 == 0 &&
            r.cookies.size() < kNtsCookiesPerExchange) {
          r.cookies.emplace_back(rec.body.begin(), rec.body.end());
        }
        break;
      case KeRecordType::NtpServer:
        if (r.ntp_server || !printable_name(rec.body)) {
          result.error = "invalid NTPv4 server negotiation record";
          return result;
        }
        r.ntp_server = std::string(rec.body.begin(), rec.body.end());
        break;
      case KeRecordType::NtpPort:
        if (r.ntp_port || rec.body.size() != 2) {
          result.error = "invalid NTPv4 port negotiation record";
          return result;
        }
        r.ntp_port = load_be16(rec.body.data());
        break;
      default:
        if (rec.critical) {
          result.error = "unrecognised critical NTS-KE record " + std::to_string(rec.type);
          return result;
        }
        break;
    }
  }
  if (!next_protocol) {
    result.error = "no next protocol in NTS-KE response";
  } else if (!aead) {
    result.error = "no AEAD algorithm in NTS-KE response";
  } else if (r.cookies.empty()) {
    result.error = "no cookies in NTS-KE response";
  } else {
    result.response = std::move(r);
  }
  return result;
}

KeRequestDecision evaluate_ke_request(std::span<const std::uint8_t> message) {
  KeRequestDecision d;
  std::vector<KeRecord> records;
  if (!split_ke_records(message, records)) {
    d.error = KeError::BadRequest;
    return d;
  }
  int protocol_records = 0;
  int aead_records = 0;
  for (const KeRecord& rec : records) {
    switch (static_cast<KeRecordType>(rec.type)) {
      case KeRecordType::EndOfMessage:
        break;
      case KeRecordType::NextProtocol: {
        auto v = u16s(rec.body);
        if (!rec.critical || !v || v->empty()) {
          d.error = KeError::BadRequest;
          return d;
        }
        ++protocol_records;
        for (std::uint16_t p : *v) d.ntpv4 = d.ntpv4 || p == kNextProtocolNtpV4;
        break;
      }
      case KeRecordType::AeadAlgorithm: {
        auto v = u16s(rec.body);
        if (!v || v->empty()) {
          d.error = KeError::BadRequest;
          return d;
        }
        ++aead_records;
        for (std::uint16_t a : *v) d.aead_ok = d.aead_ok || a == kAeadAesSivCmac256;
        break;
      }
      case KeRecordType::Error:
      case KeRecordType::Warning:
      case KeRecordType::NewCookie:
        d.error = KeError::BadRequest;
        return d;
      case KeRecordType::NtpServer:
      case KeRecordType::NtpPort:
        break;  // the client's preference; we answer with our own
      default:
        if (rec.critical) {
          d.error = KeError::UnrecognizedCritical;
          return d;
        }
        break;
    }
  }
  if (protocol_records != 1 || (d.ntpv4 && aead_records != 1)) d.error = KeError::BadRequest;
  return d;
}

std::vector<std::uint8_t> build_ke_response(const KeRequestDecision& decision,
                                            const KeResponseParams& params) {
  KeMessageWriter w;
  if (decision.error) {
    const std::uint16_t code[] = {static_cast<std::uint16_t>(*decision.error)};
    (void)w.add_u16s(true, KeRecordType::Error, code);
    return w.finish();
  }
  if (!decision.ntpv4) {
    (void)w.add(true, KeRecordType::NextProtocol, {});
    return w.finish();
  }
  const std::uint16_t protocol[] = {kNextProtocolNtpV4};
  (void)w.add_u16s(true, KeRecordType::NextProtocol, protocol);
  if (!decision.aead_ok) {
    (void)w.add(true, KeRecordType::AeadAlgorithm, {});
    return w.finish();
  }
  const std::uint16_t aead[] = {kAeadAesSivCmac256};
  (void)w.add_u16s(true, KeRecordType::AeadAlgorithm, aead);
  if (params.ntp_port) {
    const std::uint16_t port[] = {*params.ntp_port};
    (void)w.add_u16s(true, KeRecordType::NtpPort, port);
  }
  if (params.ntp_server) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(params.ntp_server->data());
    (void)w.add(true, KeRecordType::NtpServer, std::span<const std::uint8_t>(p, params.ntp_server->size()));
  }
  for (const auto& c : params.cookies) (void)w.add(false, KeRecordType::NewCookie, c);
  return w.finish();
}

const char* to_string(KeError e) {
  switch (e) {
    case KeError::UnrecognizedCritical: return "unrecognised critical record";
    case KeError::BadRequest: return "bad request";
    case KeError::InternalServerError: return "internal server error";
  }
  return "unknown error";
}

}  // namespace gnomon
