// chrony command protocol codec. Offsets below are byte offsets from the
// start of the packet; request bodies start at 20 and reply bodies at 28.
#include "lib/cmdmon.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace gnomon::cmdmon {
namespace {

// ---------------------------------------------------------------------------
// Bounds-checked big-endian access. Reads past the end give 0; writes past
// the end are skipped (callers size their buffers first).

using Bytes = std::span<const std::uint8_t>;
using MutBytes = std::span<std::uint8_t>;

std::uint8_t get_u8(Bytes b, std::size_t off) { return off < b.size() ? b[off] : 0; }

std::uint16_t get_u16(Bytes b, std::size_t off) {
  return static_cast<std::uint16_t>(get_u8(b, off) << 8 | get_u8(b, off + 1));
}

std::uint32_t get_u32(Bytes b, std::size_t off) {
  return static_cast<std::uint32_t>(get_u16(b, off)) << 16 | get_u16(b, off + 2);
}

std::uint64_t get_u64(Bytes b, std::size_t off) {
  return static_cast<std::uint64_t>(get_u32(b, off)) << 32 | get_u32(b, off + 4);
}

void put_u8(MutBytes b, std::size_t off, std::uint8_t v) {
  if (off < b.size()) b[off] = v;
}

void put_u16(MutBytes b, std::size_t off, std::uint16_t v) {
  put_u8(b, off, static_cast<std::uint8_t>(v >> 8));
  put_u8(b, off + 1, static_cast<std::uint8_t>(v));
}

void put_u32(MutBytes b, std::size_t off, std::uint32_t v) {
  put_u16(b, off, static_cast<std::uint16_t>(v >> 16));
  put_u16(b, off + 2, static_cast<std::uint16_t>(v));
}

void put_u64(MutBytes b, std::size_t off, std::uint64_t v) {
  put_u32(b, off, static_cast<std::uint32_t>(v >> 32));
  put_u32(b, off + 4, static_cast<std::uint32_t>(v));
}

void put_i32(MutBytes b, std::size_t off, std::int32_t v) { put_u32(b, off, static_cast<std::uint32_t>(v)); }
std::int32_t get_i32(Bytes b, std::size_t off) { return static_cast<std::int32_t>(get_u32(b, off)); }

void put_float(MutBytes b, std::size_t off, double v) { put_u32(b, off, encode_float(v)); }
double get_float(Bytes b, std::size_t off) { return decode_float(get_u32(b, off)); }

constexpr std::size_t kAddressLength = 20;

void put_address(MutBytes b, std::size_t off, const Address& a) {
  for (std::size_t i = 0; i < 16; ++i) put_u8(b, off + i, 0);
  switch (a.family) {
    case Address::Family::Inet4:
      for (std::size_t i = 0; i < 4; ++i) put_u8(b, off + i, a.bytes[i]);
      break;
    case Address::Family::Inet6:
      for (std::size_t i = 0; i < 16; ++i) put_u8(b, off + i, a.bytes[i]);
      break;
    case Address::Family::Id:
      put_u32(b, off, a.id);
      break;
    case Address::Family::Unspec:
      break;
  }
  auto family = a.family;
  if (family != Address::Family::Inet4 && family != Address::Family::Inet6 && family != Address::Family::Id) {
    family = Address::Family::Unspec;
  }
  put_u16(b, off + 16, static_cast<std::uint16_t>(family));
  put_u16(b, off + 18, 0);
}

Address get_address(Bytes b, std::size_t off) {
  Address a;
  switch (get_u16(b, off + 16)) {
    case 1:
      a.family = Address::Family::Inet4;
      for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = get_u8(b, off + i);
      break;
    case 2:
      a.family = Address::Family::Inet6;
      for (std::size_t i = 0; i < 16; ++i) a.bytes[i] = get_u8(b, off + i);
      break;
    case 3:
      a.family = Address::Family::Id;
      a.id = get_u32(b, off);
      break;
    default:
      break;  // unknown families read as Unspec
  }
  return a;
}

// Timespec: seconds high, seconds low, nanoseconds.
constexpr std::uint32_t kNoHighSeconds = 0x7fffffff;
// Keeps decoded times inside TimePoint's int64 nanosecond range.
constexpr std::int64_t kMaxAbsSeconds = 9'000'000'000LL;

void put_timespec(MutBytes b, std::size_t off, TimePoint t) {
  const std::timespec ts = t.to_timespec();
  const auto sec = static_cast<std::uint64_t>(static_cast<std::int64_t>(ts.tv_sec));
  put_u32(b, off, static_cast<std::uint32_t>(sec >> 32));
  put_u32(b, off + 4, static_cast<std::uint32_t>(sec));
  put_u32(b, off + 8, static_cast<std::uint32_t>(ts.tv_nsec));
}

TimePoint get_timespec(Bytes b, std::size_t off) {
  std::uint32_t high = get_u32(b, off);
  if (high == kNoHighSeconds) high = 0;
  const auto raw = static_cast<std::int64_t>(static_cast<std::uint64_t>(high) << 32 | get_u32(b, off + 4));
  const std::int64_t sec = std::clamp(raw, -kMaxAbsSeconds, kMaxAbsSeconds);
  const std::int64_t nsec = std::min<std::int64_t>(get_u32(b, off + 8), kNsPerS - 1);
  return TimePoint{sec * kNsPerS + nsec};
}

std::uint32_t saturate_u32(std::uint64_t v) {
  return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(v);
}

// ---------------------------------------------------------------------------
// Length tables (chrony's pktlength.c, facts only): for each request code
// the full request length a server requires and the padding part of it.

struct RequestLength {
  std::uint16_t total;
  std::uint16_t padding;
};

constexpr std::array<RequestLength, kCommandCount> kRequestLengths{{
    {28, 8},    // 0 NULL
    {60, 0},    // 1 ONLINE
    {60, 0},    // 2 OFFLINE
    {68, 0},    // 3 BURST
    {44, 0},    // 4 MODIFY_MINPOLL
    {44, 0},    // 5 MODIFY_MAXPOLL
    {28, 4},    // 6 DUMP
    {44, 0},    // 7 MODIFY_MAXDELAY
    {44, 0},    // 8 MODIFY_MAXDELAYRATIO
    {28, 4},    // 9 MODIFY_MAXUPDATESKEW
    {32, 0},    // 10 LOGON
    {40, 8},    // 11 SETTIME
    {0, 0},     // 12 LOCAL (obsolete)
    {28, 4},    // 13 MANUAL
    {32, 12},   // 14 N_SOURCES
    {76, 52},   // 15 SOURCE_DATA
    {28, 8},    // 16 REKEY
    {44, 0},    // 17 ALLOW
    {44, 0},    // 18 ALLOWALL
    {44, 0},    // 19 DENY
    {44, 0},    // 20 DENYALL
    {44, 0},    // 21 CMDALLOW
    {44, 0},    // 22 CMDALLOWALL
    {44, 0},    // 23 CMDDENY
    {44, 0},    // 24 CMDDENYALL
    {40, 0},    // 25 ACCHECK
    {40, 0},    // 26 CMDACCHECK
    {0, 0},     // 27 ADD_SERVER (obsolete)
    {0, 0},     // 28 ADD_PEER (obsolete)
    {40, 0},    // 29 DEL_SOURCE
    {28, 8},    // 30 WRITERTC
    {28, 4},    // 31 DFREQ
    {0, 0},     // 32 DOFFSET (obsolete)
    {104, 84},  // 33 TRACKING
    {84, 60},   // 34 SOURCESTATS
    {56, 36},   // 35 RTCREPORT
    {28, 8},    // 36 TRIMRTC
    {28, 8},    // 37 CYCLELOGS
    {0, 0},     // 38 SUBNETS_ACCESSED (obsolete)
    {0, 0},     // 39 CLIENT_ACCESSES (obsolete)
    {0, 0},     // 40 CLIENT_ACCESSES_BY_INDEX (obsolete)
    {416, 396}, // 41 MANUAL_LIST
    {28, 4},    // 42 MANUAL_DELETE
    {28, 8},    // 43 MAKESTEP
    {48, 28},   // 44 ACTIVITY
    {44, 0},    // 45 MODIFY_MINSTRATUM
    {44, 0},    // 46 MODIFY_POLLTARGET
    {44, 0},    // 47 MODIFY_MAXDELAYDEVRATIO
    {28, 8},    // 48 RESELECT
    {28, 4},    // 49 RESELECTDISTANCE
    {28, 0},    // 50 MODIFY_MAKESTEP
    {52, 32},   // 51 SMOOTHING
    {28, 4},    // 52 SMOOTHTIME
    {28, 8},    // 53 REFRESH
    {72, 52},   // 54 SERVER_STATS (4.3's expectation; 4.4+ clients send 196)
    {0, 0},     // 55 CLIENT_ACCESSES_BY_INDEX2 (obsolete)
    {36, 0},    // 56 LOCAL2
    {152, 112}, // 57 NTP_DATA
    {0, 0},     // 58 ADD_SERVER2 (obsolete)
    {0, 0},     // 59 ADD_PEER2 (obsolete)
    {0, 0},     // 60 ADD_SERVER3 (obsolete)
    {0, 0},     // 61 ADD_PEER3 (obsolete)
    {28, 8},    // 62 SHUTDOWN
    {28, 8},    // 63 ONOFFLINE
    {372, 0},   // 64 ADD_SOURCE
    {284, 244}, // 65 NTP_SOURCE_NAME
    {28, 8},    // 66 RESET_SOURCES
    {52, 12},   // 67 AUTH_DATA
    {520, 484}, // 68 CLIENT_ACCESSES_BY_INDEX3
    {76, 52},   // 69 SELECT_DATA
    {28, 8},    // 70 RELOAD_SOURCES
    {28, 4},    // 71 DOFFSET2
    {52, 0},    // 72 MODIFY_SELECTOPTS
    {48, 0},    // 73 MODIFY_OFFSET
    {48, 0},    // 74 LOCAL3
}};

// Reply body layouts: offsets of the fields we read and write.
namespace rpy {
constexpr std::size_t kNSourcesLen = 32;
constexpr std::size_t kSourceDataLen = 76;
constexpr std::size_t kTrackingLen = 104;
constexpr std::size_t kSourcestatsLen = 84;
constexpr std::size_t kActivityLen = 48;
constexpr std::size_t kServerStats3Len = 72;
constexpr std::size_t kServerStats4Len = 196;
constexpr std::size_t kNtpDataLen = 152;
constexpr std::size_t kNtpData2Len = 172;
constexpr std::size_t kSourceNameLen = 284;
constexpr std::size_t kClientAccessesLen = 520;
constexpr std::size_t kSelectDataLen = 76;
constexpr std::size_t kClientRecordLen = 60;
constexpr std::size_t kClientRecords = 40;
}  // namespace rpy

std::uint16_t reply_type_of(Bytes reply) { return get_u16(reply, 6); }

bool has_reply(Bytes reply, ReplyType type, std::size_t min_length) {
  return reply.size() >= min_length && reply_type_of(reply) == static_cast<std::uint16_t>(type);
}

// Zero `length` bytes of `out`, write the header with `type`; false when short.
bool start_reply(ReplyHeader header, ReplyType type, std::size_t length, MutBytes out) {
  if (out.size() < length) return false;
  std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length), std::uint8_t{0});
  header.reply = static_cast<std::uint16_t>(type);
  return encode_reply_header(header, out);
}

}  // namespace

// ---------------------------------------------------------------------------
// Lengths

std::size_t required_request_length(std::uint16_t command) {
  return command < kCommandCount ? kRequestLengths[command].total : 0;
}

std::size_t request_body_end(std::uint16_t command) {
  if (command >= kCommandCount) return 0;
  const auto& l = kRequestLengths[command];
  return static_cast<std::size_t>(l.total - l.padding);
}

std::size_t reply_length(std::uint16_t reply_type) {
  switch (static_cast<ReplyType>(reply_type)) {
    case ReplyType::Null: return 28;
    case ReplyType::NSources: return rpy::kNSourcesLen;
    case ReplyType::SourceData: return rpy::kSourceDataLen;
    case ReplyType::Tracking: return rpy::kTrackingLen;
    case ReplyType::Sourcestats: return rpy::kSourcestatsLen;
    case ReplyType::Rtc: return 56;
    case ReplyType::Activity: return rpy::kActivityLen;
    case ReplyType::Smoothing: return 52;
    case ReplyType::NtpData: return rpy::kNtpDataLen;
    case ReplyType::ManualTimestamp2: return 40;
    case ReplyType::ManualList2: return 416;
    case ReplyType::NtpSourceName: return rpy::kSourceNameLen;
    case ReplyType::AuthData: return 52;
    case ReplyType::ClientAccessesByIndex3: return rpy::kClientAccessesLen;
    case ReplyType::SelectData: return rpy::kSelectDataLen;
    case ReplyType::ServerStats3: return rpy::kServerStats3Len;
    case ReplyType::ServerStats4: return rpy::kServerStats4Len;
    case ReplyType::NtpData2: return rpy::kNtpData2Len;
  }
  return 0;
}

std::size_t client_request_length(Command command) {
  switch (command) {
    case Command::ServerStats: return rpy::kServerStats4Len;
    case Command::NtpData: return rpy::kNtpData2Len;
    default: return required_request_length(static_cast<std::uint16_t>(command));
  }
}

// ---------------------------------------------------------------------------
// Float: 7-bit exponent, 25-bit coefficient, value = coef * 2^(exp - 25).

namespace {
constexpr int kCoefBits = 25;
constexpr int kExpMin = -64;
constexpr int kExpMax = 63;
constexpr std::int64_t kCoefMax = (1LL << (kCoefBits - 1)) - 1;  // 2^24 - 1

std::uint32_t pack_float(int exp, std::int64_t coef) {
  return static_cast<std::uint32_t>(exp) << kCoefBits |
         (static_cast<std::uint32_t>(coef) & ((1U << kCoefBits) - 1));
}
}  // namespace

std::uint32_t encode_float(double value) {
  if (std::isnan(value) || value == 0.0) return 0;
  const bool negative = value < 0.0;
  const double magnitude = std::fabs(value);
  if (std::isinf(magnitude)) return pack_float(kExpMax, negative ? -kCoefMax : kCoefMax);

  // magnitude = m * 2^e with m in [0.5, 1): a 24-bit coefficient m * 2^24
  // and an exponent field of e + 1.
  int e = 0;
  const double m = std::frexp(magnitude, &e);
  auto coef = static_cast<std::int64_t>(std::llround(std::ldexp(m, kCoefBits - 1)));
  int exp = e + 1;
  if (coef > kCoefMax) {  // rounded up to 2^24
    coef >>= 1;
    ++exp;
  }
  if (exp > kExpMax) {
    exp = kExpMax;
    coef = kCoefMax;
  } else if (exp < kExpMin) {
    const int shift = kExpMin - exp;
    if (shift >= kCoefBits) return 0;
    coef = (coef + (1LL << (shift - 1))) >> shift;
    exp = kExpMin;
  }
  return pack_float(exp, negative ? -coef : coef);
}

double decode_float(std::uint32_t raw) {
  int exp = static_cast<int>(raw >> kCoefBits);
  if (exp > kExpMax) exp -= 1 << (32 - kCoefBits);
  auto coef = static_cast<std::int64_t>(raw & ((1U << kCoefBits) - 1));
  if (coef > kCoefMax) coef -= 1LL << kCoefBits;
  return std::ldexp(static_cast<double>(coef), exp - kCoefBits);
}

// ---------------------------------------------------------------------------
// Address

Address Address::from_ip(const IpAddress& ip) {
  Address a;
  a.family = ip.is_v4() ? Family::Inet4 : Family::Inet6;
  a.bytes = ip.bytes;
  if (ip.is_v4()) std::fill(a.bytes.begin() + 4, a.bytes.end(), std::uint8_t{0});
  return a;
}

Address Address::inet4(std::uint32_t host_order) {
  Address a;
  a.family = Family::Inet4;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

Address Address::from_id(std::uint32_t id) {
  Address a;
  a.family = Family::Id;
  a.id = id;
  return a;
}

std::optional<IpAddress> Address::ip() const {
  if (!is_ip()) return std::nullopt;
  IpAddress ip;
  ip.family = family == Family::Inet4 ? IpFamily::V4 : IpFamily::V6;
  ip.bytes = bytes;
  if (family == Family::Inet4) std::fill(ip.bytes.begin() + 4, ip.bytes.end(), std::uint8_t{0});
  return ip;
}

std::uint32_t Address::v4_host_order() const {
  return static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
         static_cast<std::uint32_t>(bytes[2]) << 8 | bytes[3];
}

bool SourceMatch::matches(const Address& source) const {
  if (address.family == Address::Family::Unspec) return true;
  if (source.family != address.family) return false;
  const bool use_mask = mask.family == address.family;
  switch (address.family) {
    case Address::Family::Inet4:
    case Address::Family::Inet6: {
      const std::size_t n = address.family == Address::Family::Inet4 ? 4 : 16;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t m = use_mask ? mask.bytes[i] : std::uint8_t{0xFF};
        if ((source.bytes[i] & m) != (address.bytes[i] & m)) return false;
      }
      return true;
    }
    case Address::Family::Id:
      return source.id == address.id;
    case Address::Family::Unspec:
      break;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Headers

std::optional<RequestHeader> decode_request_header(std::span<const std::uint8_t> packet) {
  if (packet.size() < kRequestHeaderLength) return std::nullopt;
  RequestHeader h;
  h.version = packet[0];
  h.packet_type = packet[1];
  h.reserved1 = packet[2];
  h.reserved2 = packet[3];
  h.command = get_u16(packet, 4);
  h.attempt = get_u16(packet, 6);
  h.sequence = get_u32(packet, 8);
  return h;
}

std::optional<ReplyHeader> decode_reply_header(std::span<const std::uint8_t> packet) {
  if (packet.size() < kReplyHeaderLength) return std::nullopt;
  ReplyHeader h;
  h.version = packet[0];
  h.packet_type = packet[1];
  h.reserved1 = packet[2];
  h.reserved2 = packet[3];
  h.command = get_u16(packet, 4);
  h.reply = get_u16(packet, 6);
  h.status = get_u16(packet, 8);
  h.sequence = get_u32(packet, 16);
  return h;
}

bool encode_reply_header(const ReplyHeader& h, std::span<std::uint8_t> out) {
  if (out.size() < kReplyHeaderLength) return false;
  put_u8(out, 0, h.version);
  put_u8(out, 1, h.packet_type);
  put_u8(out, 2, h.reserved1);
  put_u8(out, 3, h.reserved2);
  put_u16(out, 4, h.command);
  put_u16(out, 6, h.reply);
  put_u16(out, 8, h.status);
  put_u16(out, 10, 0);
  put_u16(out, 12, 0);
  put_u16(out, 14, 0);
  put_u32(out, 16, h.sequence);
  put_u32(out, 20, 0);
  put_u32(out, 24, 0);
  return true;
}

// ---------------------------------------------------------------------------
// Requests

std::vector<std::uint8_t> build_request(Command command, const RequestArgs& args) {
  std::vector<std::uint8_t> p(client_request_length(command), 0);
  if (p.size() < kRequestHeaderLength) p.resize(kRequestHeaderLength, 0);
  MutBytes b(p);
  put_u8(b, 0, kProtocolVersion);
  put_u8(b, 1, kPacketTypeRequest);
  put_u16(b, 4, static_cast<std::uint16_t>(command));
  switch (command) {
    case Command::SourceData:
    case Command::Sourcestats:
    case Command::SelectData:
      put_u32(b, 20, args.index);
      break;
    case Command::NtpData:
    case Command::NtpSourceName:
      put_address(b, 20, args.address);
      break;
    case Command::Online:
    case Command::Offline:
      put_address(b, 20, args.mask);
      put_address(b, 20 + kAddressLength, args.address);
      break;
    case Command::Burst:
      put_address(b, 20, args.mask);
      put_address(b, 20 + kAddressLength, args.address);
      put_i32(b, 60, args.burst_good_samples);
      put_i32(b, 64, args.burst_total_samples);
      break;
    case Command::ClientAccessesByIndex3:
      put_u32(b, 20, args.first_index);
      put_u32(b, 24, args.max_clients);
      put_u32(b, 28, args.min_hits);
      put_u32(b, 32, args.reset ? 1U : 0U);
      break;
    case Command::ModifyMakestep:
      put_i32(b, 20, args.makestep_limit);
      put_float(b, 24, args.makestep_threshold_s);
      break;
    default:
      break;
  }
  return p;
}

void stamp_request(std::span<std::uint8_t> request, std::uint32_t sequence, std::uint16_t attempt) {
  put_u16(request, 6, attempt);
  put_u32(request, 8, sequence);
}

RequestArgs decode_request_args(Command command, std::span<const std::uint8_t> request) {
  RequestArgs a;
  switch (command) {
    case Command::SourceData:
    case Command::Sourcestats:
    case Command::SelectData:
      a.index = get_u32(request, 20);
      break;
    case Command::NtpData:
    case Command::NtpSourceName:
      a.address = get_address(request, 20);
      break;
    case Command::Online:
    case Command::Offline:
      a.mask = get_address(request, 20);
      a.address = get_address(request, 20 + kAddressLength);
      break;
    case Command::Burst:
      a.mask = get_address(request, 20);
      a.address = get_address(request, 20 + kAddressLength);
      a.burst_good_samples = get_i32(request, 60);
      a.burst_total_samples = get_i32(request, 64);
      break;
    case Command::ClientAccessesByIndex3:
      a.first_index = get_u32(request, 20);
      a.max_clients = get_u32(request, 24);
      a.min_hits = get_u32(request, 28);
      a.reset = get_u32(request, 32) != 0;
      break;
    case Command::ModifyMakestep:
      a.makestep_limit = get_i32(request, 20);
      a.makestep_threshold_s = get_float(request, 24);
      break;
    case Command::Local3:  // on_off, stratum, distance, orphan, activate, waitsynced, waitunsynced
      a.local.on = get_i32(request, 20) != 0;
      a.local.stratum = get_i32(request, 24);
      a.local.distance_s = get_float(request, 28);
      a.local.orphan = get_i32(request, 32) != 0;
      a.local.activate_s = get_float(request, 36);
      a.local.wait_synced_s = get_float(request, 40);
      a.local.wait_unsynced_s = get_float(request, 44);
      break;
    default:
      break;
  }
  return a;
}

// ---------------------------------------------------------------------------
// Reply encoders

std::size_t encode_status_reply(ReplyHeader header, std::span<std::uint8_t> out) {
  return start_reply(header, ReplyType::Null, kReplyHeaderLength, out) ? kReplyHeaderLength : 0;
}

std::size_t encode_n_sources_reply(ReplyHeader header, std::uint32_t n_sources, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::NSources, rpy::kNSourcesLen, out)) return 0;
  put_u32(out, 28, n_sources);
  return rpy::kNSourcesLen;
}

std::size_t encode_reply(ReplyHeader header, const SourceReport& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::SourceData, rpy::kSourceDataLen, out)) return 0;
  put_address(out, 28, r.address);
  put_u16(out, 48, static_cast<std::uint16_t>(static_cast<std::int16_t>(r.poll_log2)));
  put_u16(out, 50, static_cast<std::uint16_t>(r.stratum));
  put_u16(out, 52, static_cast<std::uint16_t>(r.state));
  put_u16(out, 54, static_cast<std::uint16_t>(r.mode));
  put_u16(out, 56, r.flags);
  put_u16(out, 58, r.reachability);
  put_u32(out, 60, r.last_sample_ago_s);
  put_float(out, 64, r.original_offset_s);
  put_float(out, 68, r.adjusted_offset_s);
  put_float(out, 72, r.error_s);
  return rpy::kSourceDataLen;
}

std::size_t encode_reply(ReplyHeader header, const TrackingReport& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::Tracking, rpy::kTrackingLen, out)) return 0;
  put_u32(out, 28, r.ref_id);
  put_address(out, 32, r.address);
  put_u16(out, 52, static_cast<std::uint16_t>(r.stratum));
  put_u16(out, 54, static_cast<std::uint16_t>(r.leap));
  put_timespec(out, 56, r.ref_time);
  put_float(out, 68, r.current_correction_s);
  put_float(out, 72, r.last_offset_s);
  put_float(out, 76, r.rms_offset_s);
  put_float(out, 80, r.freq_ppm);
  put_float(out, 84, r.residual_freq_ppm);
  put_float(out, 88, r.skew_ppm);
  put_float(out, 92, r.root_delay_s);
  put_float(out, 96, r.root_dispersion_s);
  put_float(out, 100, r.last_update_interval_s);
  return rpy::kTrackingLen;
}

std::size_t encode_reply(ReplyHeader header, const SourcestatsReport& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::Sourcestats, rpy::kSourcestatsLen, out)) return 0;
  put_u32(out, 28, r.ref_id);
  put_address(out, 32, r.address);
  put_u32(out, 52, r.samples);
  put_u32(out, 56, r.runs);
  put_u32(out, 60, r.span_s);
  put_float(out, 64, r.std_dev_s);
  put_float(out, 68, r.residual_freq_ppm);
  put_float(out, 72, r.skew_ppm);
  put_float(out, 76, r.offset_s);
  put_float(out, 80, r.offset_error_s);
  return rpy::kSourcestatsLen;
}

std::size_t encode_reply(ReplyHeader header, const ActivityReport& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::Activity, rpy::kActivityLen, out)) return 0;
  put_i32(out, 28, r.online);
  put_i32(out, 32, r.offline);
  put_i32(out, 36, r.burst_online);
  put_i32(out, 40, r.burst_offline);
  put_i32(out, 44, r.unresolved);
  return rpy::kActivityLen;
}

std::size_t encode_reply(ReplyHeader header, const ClientAccessesPage& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::ClientAccessesByIndex3, rpy::kClientAccessesLen, out)) return 0;
  const std::size_t n = std::min<std::size_t>(r.clients.size(), kMaxClientsPerReply);
  put_u32(out, 28, r.n_indices);
  put_u32(out, 32, r.next_index);
  put_u32(out, 36, static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const ClientAccessReport& c = r.clients[i];
    const std::size_t o = rpy::kClientRecords + i * rpy::kClientRecordLen;
    put_address(out, o, c.address);
    put_u32(out, o + 20, c.ntp_hits);
    put_u32(out, o + 24, c.nke_hits);
    put_u32(out, o + 28, c.cmd_hits);
    put_u32(out, o + 32, c.ntp_drops);
    put_u32(out, o + 36, c.nke_drops);
    put_u32(out, o + 40, c.cmd_drops);
    put_u8(out, o + 44, static_cast<std::uint8_t>(c.ntp_interval_log2));
    put_u8(out, o + 45, static_cast<std::uint8_t>(c.nke_interval_log2));
    put_u8(out, o + 46, static_cast<std::uint8_t>(c.cmd_interval_log2));
    put_u8(out, o + 47, static_cast<std::uint8_t>(c.ntp_timeout_interval_log2));
    put_u32(out, o + 48, c.last_ntp_hit_ago_s);
    put_u32(out, o + 52, c.last_nke_hit_ago_s);
    put_u32(out, o + 56, c.last_cmd_hit_ago_s);
  }
  return rpy::kClientAccessesLen;
}

std::size_t encode_reply(ReplyHeader header, const ServerStatsReport& r, ServerStatsLayout layout,
                         std::span<std::uint8_t> out) {
  const std::array<std::uint64_t, 11> common{r.ntp_hits,  r.nke_hits,      r.cmd_hits,
                                             r.ntp_drops, r.nke_drops,     r.cmd_drops,
                                             r.log_drops, r.ntp_auth_hits, r.ntp_interleaved_hits,
                                             r.ntp_timestamps, r.ntp_span_s};
  if (layout == ServerStatsLayout::V3) {
    if (!start_reply(header, ReplyType::ServerStats3, rpy::kServerStats3Len, out)) return 0;
    for (std::size_t i = 0; i < common.size(); ++i) put_u32(out, 28 + 4 * i, saturate_u32(common[i]));
    return rpy::kServerStats3Len;
  }
  if (!start_reply(header, ReplyType::ServerStats4, rpy::kServerStats4Len, out)) return 0;
  const std::array<std::uint64_t, 6> timestamps{r.ntp_daemon_rx_timestamps, r.ntp_daemon_tx_timestamps,
                                                r.ntp_kernel_rx_timestamps, r.ntp_kernel_tx_timestamps,
                                                r.ntp_hw_rx_timestamps,     r.ntp_hw_tx_timestamps};
  std::size_t o = 28;
  for (std::uint64_t v : common) {
    put_u64(out, o, v);
    o += 8;
  }
  for (std::uint64_t v : timestamps) {
    put_u64(out, o, v);
    o += 8;
  }
  for (; o < rpy::kServerStats4Len; ++o) put_u8(out, o, 0xFF);  // reserved
  return rpy::kServerStats4Len;
}

std::size_t encode_reply(ReplyHeader header, const NtpDataReport& r, NtpDataLayout layout,
                         std::span<std::uint8_t> out) {
  const bool v2 = layout == NtpDataLayout::V2;
  const std::size_t length = v2 ? rpy::kNtpData2Len : rpy::kNtpDataLen;
  if (!start_reply(header, v2 ? ReplyType::NtpData2 : ReplyType::NtpData, length, out)) return 0;
  put_address(out, 28, r.remote_address);
  put_address(out, 48, r.local_address);
  put_u16(out, 68, r.remote_port);
  put_u8(out, 70, static_cast<std::uint8_t>(r.leap));
  put_u8(out, 71, r.version);
  put_u8(out, 72, r.mode);
  put_u8(out, 73, r.stratum);
  put_u8(out, 74, static_cast<std::uint8_t>(r.poll_log2));
  put_u8(out, 75, static_cast<std::uint8_t>(r.precision_log2));
  put_float(out, 76, r.root_delay_s);
  put_float(out, 80, r.root_dispersion_s);
  put_u32(out, 84, r.ref_id);
  put_timespec(out, 88, r.ref_time);
  put_float(out, 100, r.offset_s);
  put_float(out, 104, r.peer_delay_s);
  put_float(out, 108, r.peer_dispersion_s);
  put_float(out, 112, r.response_time_s);
  put_float(out, 116, r.jitter_asymmetry);
  const auto flags = static_cast<std::uint16_t>((r.tests & 0x3FF) | (r.interleaved ? 0x4000 : 0) |
                                                (r.authenticated ? 0x8000 : 0));
  put_u16(out, 120, flags);
  put_u8(out, 122, static_cast<std::uint8_t>(r.tx_timestamping));
  put_u8(out, 123, static_cast<std::uint8_t>(r.rx_timestamping));
  put_u32(out, 124, r.total_tx);
  put_u32(out, 128, r.total_rx);
  put_u32(out, 132, r.total_valid_rx);
  put_u32(out, 136, r.total_good_rx);
  std::size_t o = 140;
  if (v2) {
    put_u32(out, 140, r.total_kernel_tx_timestamps);
    put_u32(out, 144, r.total_kernel_rx_timestamps);
    put_u32(out, 148, r.total_hw_tx_timestamps);
    put_u32(out, 152, r.total_hw_rx_timestamps);
    o = 156;
  }
  for (; o < length; ++o) put_u8(out, o, 0xFF);  // reserved
  return length;
}

std::size_t encode_reply(ReplyHeader header, const SelectDataReport& r, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::SelectData, rpy::kSelectDataLen, out)) return 0;
  put_u32(out, 28, r.ref_id);
  put_address(out, 32, r.address);
  put_u8(out, 52, static_cast<std::uint8_t>(r.state));
  put_u8(out, 53, r.authenticated ? 1 : 0);
  put_u8(out, 54, static_cast<std::uint8_t>(r.leap));
  put_u16(out, 56, r.configured_options);
  put_u16(out, 58, r.effective_options);
  put_u32(out, 60, r.last_sample_ago_s);
  put_float(out, 64, r.score);
  put_float(out, 68, r.interval_low_s);
  put_float(out, 72, r.interval_high_s);
  return rpy::kSelectDataLen;
}

std::size_t encode_source_name_reply(ReplyHeader header, std::string_view name, std::span<std::uint8_t> out) {
  if (!start_reply(header, ReplyType::NtpSourceName, rpy::kSourceNameLen, out)) return 0;
  const std::size_t n = std::min(name.size(), kSourceNameFieldLength - 1);
  for (std::size_t i = 0; i < n; ++i) put_u8(out, 28 + i, static_cast<std::uint8_t>(name[i]));
  return rpy::kSourceNameLen;
}

// ---------------------------------------------------------------------------
// Reply decoders

std::optional<std::uint32_t> decode_n_sources(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::NSources, rpy::kNSourcesLen)) return std::nullopt;
  return get_u32(reply, 28);
}

std::optional<SourceReport> decode_source_data(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::SourceData, rpy::kSourceDataLen)) return std::nullopt;
  SourceReport r;
  r.address = get_address(reply, 28);
  r.poll_log2 = static_cast<std::int16_t>(get_u16(reply, 48));
  r.stratum = get_u16(reply, 50);
  r.state = static_cast<SourceState>(get_u16(reply, 52));
  r.mode = static_cast<SourceMode>(get_u16(reply, 54));
  r.flags = get_u16(reply, 56);
  r.reachability = get_u16(reply, 58);
  r.last_sample_ago_s = get_u32(reply, 60);
  r.original_offset_s = get_float(reply, 64);
  r.adjusted_offset_s = get_float(reply, 68);
  r.error_s = get_float(reply, 72);
  return r;
}

std::optional<TrackingReport> decode_tracking(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::Tracking, rpy::kTrackingLen)) return std::nullopt;
  TrackingReport r;
  r.ref_id = get_u32(reply, 28);
  r.address = get_address(reply, 32);
  r.stratum = get_u16(reply, 52);
  r.leap = static_cast<Leap>(std::min<std::uint16_t>(get_u16(reply, 54), 0xFF));
  r.ref_time = get_timespec(reply, 56);
  r.current_correction_s = get_float(reply, 68);
  r.last_offset_s = get_float(reply, 72);
  r.rms_offset_s = get_float(reply, 76);
  r.freq_ppm = get_float(reply, 80);
  r.residual_freq_ppm = get_float(reply, 84);
  r.skew_ppm = get_float(reply, 88);
  r.root_delay_s = get_float(reply, 92);
  r.root_dispersion_s = get_float(reply, 96);
  r.last_update_interval_s = get_float(reply, 100);
  return r;
}

std::optional<SourcestatsReport> decode_sourcestats(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::Sourcestats, rpy::kSourcestatsLen)) return std::nullopt;
  SourcestatsReport r;
  r.ref_id = get_u32(reply, 28);
  r.address = get_address(reply, 32);
  r.samples = get_u32(reply, 52);
  r.runs = get_u32(reply, 56);
  r.span_s = get_u32(reply, 60);
  r.std_dev_s = get_float(reply, 64);
  r.residual_freq_ppm = get_float(reply, 68);
  r.skew_ppm = get_float(reply, 72);
  r.offset_s = get_float(reply, 76);
  r.offset_error_s = get_float(reply, 80);
  return r;
}

std::optional<ActivityReport> decode_activity(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::Activity, rpy::kActivityLen)) return std::nullopt;
  ActivityReport r;
  r.online = get_i32(reply, 28);
  r.offline = get_i32(reply, 32);
  r.burst_online = get_i32(reply, 36);
  r.burst_offline = get_i32(reply, 40);
  r.unresolved = get_i32(reply, 44);
  return r;
}

std::optional<ClientAccessesPage> decode_client_accesses(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::ClientAccessesByIndex3, rpy::kClientAccessesLen)) return std::nullopt;
  ClientAccessesPage page;
  page.n_indices = get_u32(reply, 28);
  page.next_index = get_u32(reply, 32);
  const std::uint32_t n = std::min(get_u32(reply, 36), kMaxClientsPerReply);
  page.clients.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t o = rpy::kClientRecords + i * rpy::kClientRecordLen;
    ClientAccessReport c;
    c.address = get_address(reply, o);
    c.ntp_hits = get_u32(reply, o + 20);
    c.nke_hits = get_u32(reply, o + 24);
    c.cmd_hits = get_u32(reply, o + 28);
    c.ntp_drops = get_u32(reply, o + 32);
    c.nke_drops = get_u32(reply, o + 36);
    c.cmd_drops = get_u32(reply, o + 40);
    c.ntp_interval_log2 = static_cast<std::int8_t>(get_u8(reply, o + 44));
    c.nke_interval_log2 = static_cast<std::int8_t>(get_u8(reply, o + 45));
    c.cmd_interval_log2 = static_cast<std::int8_t>(get_u8(reply, o + 46));
    c.ntp_timeout_interval_log2 = static_cast<std::int8_t>(get_u8(reply, o + 47));
    c.last_ntp_hit_ago_s = get_u32(reply, o + 48);
    c.last_nke_hit_ago_s = get_u32(reply, o + 52);
    c.last_cmd_hit_ago_s = get_u32(reply, o + 56);
    page.clients.push_back(c);
  }
  return page;
}

std::optional<ServerStatsReport> decode_server_stats(std::span<const std::uint8_t> reply) {
  ServerStatsReport r;
  std::array<std::uint64_t*, 11> common{&r.ntp_hits,  &r.nke_hits,      &r.cmd_hits,
                                        &r.ntp_drops, &r.nke_drops,     &r.cmd_drops,
                                        &r.log_drops, &r.ntp_auth_hits, &r.ntp_interleaved_hits,
                                        &r.ntp_timestamps, &r.ntp_span_s};
  if (has_reply(reply, ReplyType::ServerStats3, rpy::kServerStats3Len)) {
    for (std::size_t i = 0; i < common.size(); ++i) *common[i] = get_u32(reply, 28 + 4 * i);
    return r;
  }
  if (has_reply(reply, ReplyType::ServerStats4, rpy::kServerStats4Len)) {
    std::size_t o = 28;
    for (std::uint64_t* field : common) {
      *field = get_u64(reply, o);
      o += 8;
    }
    const std::array<std::uint64_t*, 6> timestamps{&r.ntp_daemon_rx_timestamps, &r.ntp_daemon_tx_timestamps,
                                                   &r.ntp_kernel_rx_timestamps, &r.ntp_kernel_tx_timestamps,
                                                   &r.ntp_hw_rx_timestamps,     &r.ntp_hw_tx_timestamps};
    for (std::uint64_t* field : timestamps) {
      *field = get_u64(reply, o);
      o += 8;
    }
    r.has_timestamp_counts = true;
    return r;
  }
  return std::nullopt;
}

std::optional<NtpDataReport> decode_ntp_data(std::span<const std::uint8_t> reply) {
  const bool v1 = has_reply(reply, ReplyType::NtpData, rpy::kNtpDataLen);
  const bool v2 = has_reply(reply, ReplyType::NtpData2, rpy::kNtpData2Len);
  if (!v1 && !v2) return std::nullopt;
  NtpDataReport r;
  r.remote_address = get_address(reply, 28);
  r.local_address = get_address(reply, 48);
  r.remote_port = get_u16(reply, 68);
  r.leap = static_cast<Leap>(get_u8(reply, 70));
  r.version = get_u8(reply, 71);
  r.mode = get_u8(reply, 72);
  r.stratum = get_u8(reply, 73);
  r.poll_log2 = static_cast<std::int8_t>(get_u8(reply, 74));
  r.precision_log2 = static_cast<std::int8_t>(get_u8(reply, 75));
  r.root_delay_s = get_float(reply, 76);
  r.root_dispersion_s = get_float(reply, 80);
  r.ref_id = get_u32(reply, 84);
  r.ref_time = get_timespec(reply, 88);
  r.offset_s = get_float(reply, 100);
  r.peer_delay_s = get_float(reply, 104);
  r.peer_dispersion_s = get_float(reply, 108);
  r.response_time_s = get_float(reply, 112);
  r.jitter_asymmetry = get_float(reply, 116);
  const std::uint16_t flags = get_u16(reply, 120);
  r.tests = flags & 0x3FF;
  r.interleaved = (flags & 0x4000) != 0;
  r.authenticated = (flags & 0x8000) != 0;
  r.tx_timestamping = static_cast<char>(get_u8(reply, 122));
  r.rx_timestamping = static_cast<char>(get_u8(reply, 123));
  r.total_tx = get_u32(reply, 124);
  r.total_rx = get_u32(reply, 128);
  r.total_valid_rx = get_u32(reply, 132);
  r.total_good_rx = get_u32(reply, 136);
  if (v2) {
    r.total_kernel_tx_timestamps = get_u32(reply, 140);
    r.total_kernel_rx_timestamps = get_u32(reply, 144);
    r.total_hw_tx_timestamps = get_u32(reply, 148);
    r.total_hw_rx_timestamps = get_u32(reply, 152);
    r.has_timestamp_counts = true;
  }
  return r;
}

std::optional<SelectDataReport> decode_select_data(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::SelectData, rpy::kSelectDataLen)) return std::nullopt;
  SelectDataReport r;
  r.ref_id = get_u32(reply, 28);
  r.address = get_address(reply, 32);
  r.state = static_cast<char>(get_u8(reply, 52));
  r.authenticated = get_u8(reply, 53) != 0;
  r.leap = static_cast<Leap>(get_u8(reply, 54));
  r.configured_options = get_u16(reply, 56);
  r.effective_options = get_u16(reply, 58);
  r.last_sample_ago_s = get_u32(reply, 60);
  r.score = get_float(reply, 64);
  r.interval_low_s = get_float(reply, 68);
  r.interval_high_s = get_float(reply, 72);
  return r;
}

std::optional<std::string> decode_source_name(std::span<const std::uint8_t> reply) {
  if (!has_reply(reply, ReplyType::NtpSourceName, rpy::kSourceNameLen)) return std::nullopt;
  const auto field = reply.subspan(28, kSourceNameFieldLength);
  const auto nul = std::find(field.begin(), field.end(), std::uint8_t{0});
  if (nul == field.end()) return std::nullopt;
  return std::string(field.begin(), nul);
}

ReplyCheck check_reply(std::span<const std::uint8_t> request, std::span<const std::uint8_t> reply) {
  const auto rq = decode_request_header(request);
  const auto rp = decode_reply_header(reply);
  if (!rq || !rp) return ReplyCheck::Ignore;
  const bool version_ok =
      rp->version == kProtocolVersion ||
      (rp->version >= 4 && rp->status == static_cast<std::uint16_t>(Status::BadPacketVersion));
  if (!version_ok || rp->packet_type != kPacketTypeReply || rp->reserved1 != 0 || rp->reserved2 != 0 ||
      rp->command != rq->command || rp->sequence != rq->sequence) {
    return ReplyCheck::Ignore;
  }
  if (reply.size() < reply_length(rp->reply)) return ReplyCheck::Resend;
  return ReplyCheck::Accept;
}

}  // namespace gnomon::cmdmon
