// chrony's command and monitoring protocol (cmdmon), version 6, as a
// sans-I/O codec shared by gnomonc (client side) and gnomond (server side).
//
// Wire facts (chrony 4.3, with the 4.4+ SERVER_STATS and 4.6+ NTP_DATA
// layouts where noted). All fields are big-endian.
// - A request is a 20-byte header (version 6, packet type 1, two zero bytes,
//   command u16, attempt u16, sequence u32, two zero u32) and a command body,
//   padded with zeros to the length of the reply it expects. A reply is a
//   28-byte header (version, packet type 2, two zero bytes, command u16 echoed,
//   reply type u16, status u16, three u16 pads, sequence u32 echoed, two u32
//   pads) and a body. A server never sends a reply longer than the request.
// - Float: 32 bits, a 7-bit signed exponent over a 25-bit two's-complement
//   coefficient, value = coefficient * 2^(exponent - 25).
// - Address: 16 address bytes (IPv4 in the first 4), family u16 (0 unspecified,
//   1 IPv4, 2 IPv6, 3 an id of a not yet resolved source), a u16 pad.
// - Timespec: seconds high u32, seconds low u32, nanoseconds u32.
//
// Report structs hold plain values in SI units (seconds, ppm). Decoders never
// throw and never read past the end of their input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/net_address.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon::cmdmon {

inline constexpr std::uint8_t kProtocolVersion = 6;
// Oldest version a server still answers with a "bad version" status.
inline constexpr std::uint8_t kOldestVersionWithMismatchReply = 5;
inline constexpr std::uint8_t kPacketTypeRequest = 1;
inline constexpr std::uint8_t kPacketTypeReply = 2;
inline constexpr std::size_t kRequestHeaderLength = 20;
inline constexpr std::size_t kReplyHeaderLength = 28;
// Longest request chrony accepts (its sizeof(CMD_Request)); longer ones are dropped.
inline constexpr std::size_t kMaxRequestLength = 860;
// Longest reply of any command (CLIENT_ACCESSES_BY_INDEX3).
inline constexpr std::size_t kMaxReplyLength = 520;
inline constexpr std::uint16_t kDefaultPort = 323;
// Client records carried by one CLIENT_ACCESSES_BY_INDEX3 reply.
inline constexpr std::uint32_t kMaxClientsPerReply = 8;
// Size of the NTP_SOURCE_NAME reply's name field (NUL-padded).
inline constexpr std::size_t kSourceNameFieldLength = 256;

// Request codes. Only some are served by gnomond; all are listed so that
// lengths and access rules can be applied exactly as chronyd applies them.
enum class Command : std::uint16_t {
  Null = 0,
  Online = 1,
  Offline = 2,
  Burst = 3,
  ModifyMinpoll = 4,
  ModifyMaxpoll = 5,
  Dump = 6,
  ModifyMaxdelay = 7,
  ModifyMaxdelayratio = 8,
  ModifyMaxupdateskew = 9,
  Logon = 10,
  Settime = 11,
  Local = 12,
  Manual = 13,
  NSources = 14,
  SourceData = 15,
  Rekey = 16,
  Allow = 17,
  AllowAll = 18,
  Deny = 19,
  DenyAll = 20,
  CmdAllow = 21,
  CmdAllowAll = 22,
  CmdDeny = 23,
  CmdDenyAll = 24,
  AcCheck = 25,
  CmdAcCheck = 26,
  AddServer = 27,
  AddPeer = 28,
  DelSource = 29,
  WriteRtc = 30,
  Dfreq = 31,
  Doffset = 32,
  Tracking = 33,
  Sourcestats = 34,
  RtcReport = 35,
  TrimRtc = 36,
  CycleLogs = 37,
  SubnetsAccessed = 38,
  ClientAccesses = 39,
  ClientAccessesByIndex = 40,
  ManualList = 41,
  ManualDelete = 42,
  MakeStep = 43,
  Activity = 44,
  ModifyMinstratum = 45,
  ModifyPolltarget = 46,
  ModifyMaxdelaydevratio = 47,
  Reselect = 48,
  ReselectDistance = 49,
  ModifyMakestep = 50,
  Smoothing = 51,
  SmoothTime = 52,
  Refresh = 53,
  ServerStats = 54,
  ClientAccessesByIndex2 = 55,
  Local2 = 56,
  NtpData = 57,
  AddServer2 = 58,
  AddPeer2 = 59,
  AddServer3 = 60,
  AddPeer3 = 61,
  Shutdown = 62,
  OnOffline = 63,
  AddSource = 64,
  NtpSourceName = 65,
  ResetSources = 66,
  AuthData = 67,
  ClientAccessesByIndex3 = 68,
  SelectData = 69,
  ReloadSources = 70,
  Doffset2 = 71,
  ModifySelectOpts = 72,  // 4.4+
  ModifyOffset = 73,      // a source's offset option
  Local3 = 74,            // `local` with orphan, distance, activate, waitsynced, waitunsynced
};
// One past the highest request code in the length table.
inline constexpr std::uint16_t kCommandCount = 75;

enum class ReplyType : std::uint16_t {
  Null = 1,
  NSources = 2,
  SourceData = 3,
  Tracking = 5,
  Sourcestats = 6,
  Rtc = 7,
  Activity = 12,
  Smoothing = 13,
  NtpData = 16,           // chrony <= 4.5 layout, 152 bytes
  ManualTimestamp2 = 17,
  ManualList2 = 18,
  NtpSourceName = 19,
  AuthData = 20,
  ClientAccessesByIndex3 = 21,
  SelectData = 23,
  ServerStats3 = 24,      // chrony 4.1..4.3: 32-bit counters, 72 bytes
  ServerStats4 = 25,      // chrony 4.4+: 64-bit counters, 196 bytes
  NtpData2 = 26,          // chrony 4.6+: timestamping counters, 172 bytes
};

enum class Status : std::uint16_t {
  Success = 0,
  Failed = 1,
  Unauthorised = 2,
  Invalid = 3,
  NoSuchSource = 4,
  InvalidTimestamp = 5,
  NotEnabled = 6,
  BadSubnet = 7,
  AccessAllowed = 8,
  AccessDenied = 9,
  NoHostAccess = 10,
  SourceAlreadyKnown = 11,
  TooManySources = 12,
  NoRtc = 13,
  BadRtcFile = 14,
  Inactive = 15,
  BadSample = 16,
  InvalidAddressFamily = 17,
  BadPacketVersion = 18,
  BadPacketLength = 19,
  InvalidName = 21,
};

// ---------------------------------------------------------------------------
// Lengths

// Bytes of the request a chronyd 4.3 server requires for `command`, padding
// included (N_SOURCES 32, SOURCE_DATA 76, TRACKING 104, ...). 0 when the code
// is unknown or no longer supported: such requests get Status::Invalid.
[[nodiscard]] std::size_t required_request_length(std::uint16_t command);
// The header and body without the padding.
[[nodiscard]] std::size_t request_body_end(std::uint16_t command);
// Bytes of a reply of type `reply_type`; 0 for a type this codec doesn't know.
[[nodiscard]] std::size_t reply_length(std::uint16_t reply_type);
// Bytes gnomonc sends for `command`: padded to the longest reply any chronyd
// version may send to it (SERVER_STATS 196, NTP_DATA 172), so that old and
// new servers both answer. Never below required_request_length().
[[nodiscard]] std::size_t client_request_length(Command command);

// ---------------------------------------------------------------------------
// Scalar encodings

[[nodiscard]] std::uint32_t encode_float(double value);  // NaN -> 0; saturates
[[nodiscard]] double decode_float(std::uint32_t raw);

// An address as the protocol carries it.
struct Address {
  enum class Family : std::uint16_t { Unspec = 0, Inet4 = 1, Inet6 = 2, Id = 3 };

  Family family = Family::Unspec;
  // Inet4: bytes[0..3] in network order; Inet6: all 16. Zero otherwise.
  std::array<std::uint8_t, 16> bytes{};
  // Id family: chrony's identifier of a source whose name is not resolved yet.
  std::uint32_t id = 0;

  static Address from_ip(const IpAddress& ip);
  static Address inet4(std::uint32_t host_order);
  static Address from_id(std::uint32_t id);
  // The IP address for Inet4/Inet6, nullopt for Unspec and Id.
  [[nodiscard]] std::optional<IpAddress> ip() const;
  [[nodiscard]] std::uint32_t v4_host_order() const;
  [[nodiscard]] bool is_ip() const { return family == Family::Inet4 || family == Family::Inet6; }

  bool operator==(const Address&) const = default;
};

// Which sources an ONLINE/OFFLINE/BURST request names: every source when
// `address` is Unspec, else those equal to `address` under `mask` (the mask
// applies only when its family is the address's family).
struct SourceMatch {
  Address mask;
  Address address;
  [[nodiscard]] bool matches(const Address& source) const;
};

// ---------------------------------------------------------------------------
// Headers

struct RequestHeader {
  std::uint8_t version = kProtocolVersion;
  std::uint8_t packet_type = kPacketTypeRequest;
  std::uint8_t reserved1 = 0;
  std::uint8_t reserved2 = 0;
  std::uint16_t command = 0;
  std::uint16_t attempt = 0;
  std::uint32_t sequence = 0;
};

struct ReplyHeader {
  std::uint8_t version = kProtocolVersion;
  std::uint8_t packet_type = kPacketTypeReply;
  std::uint8_t reserved1 = 0;
  std::uint8_t reserved2 = 0;
  std::uint16_t command = 0;
  std::uint16_t reply = static_cast<std::uint16_t>(ReplyType::Null);
  std::uint16_t status = static_cast<std::uint16_t>(Status::Success);
  std::uint32_t sequence = 0;
};

// nullopt when shorter than the header.
[[nodiscard]] std::optional<RequestHeader> decode_request_header(std::span<const std::uint8_t> packet);
[[nodiscard]] std::optional<ReplyHeader> decode_reply_header(std::span<const std::uint8_t> packet);
// Write the 28-byte header; false when `out` is too short.
[[nodiscard]] bool encode_reply_header(const ReplyHeader& header, std::span<std::uint8_t> out);

// ---------------------------------------------------------------------------
// Requests

// The arguments of the requests gnomon builds and serves. Each command uses
// only its own fields; the others are ignored.
// chronyc `local ...` / `local off` (LOCAL3): chrony's local options, with
// chronyc's defaults already applied (waitunsynced resolved).
struct LocalRequest {
  bool on = false;
  int stratum = 10;
  double distance_s = 1.0;
  bool orphan = false;
  double activate_s = 0.0;
  double wait_synced_s = 0.0;
  double wait_unsynced_s = 0.0;
};

struct RequestArgs {
  std::uint32_t index = 0;      // SOURCE_DATA, SOURCESTATS, SELECT_DATA
  Address address;              // NTP_DATA, NTP_SOURCE_NAME; ONLINE/OFFLINE/BURST target
  Address mask;                 // ONLINE/OFFLINE/BURST
  std::int32_t burst_good_samples = 0;   // BURST
  std::int32_t burst_total_samples = 0;  // BURST
  std::uint32_t first_index = 0;         // CLIENT_ACCESSES_BY_INDEX3
  std::uint32_t max_clients = kMaxClientsPerReply;
  std::uint32_t min_hits = 0;
  bool reset = false;
  std::int32_t makestep_limit = 0;       // MODIFY_MAKESTEP: updates allowed to step (-1 = any)
  double makestep_threshold_s = 0.0;     // MODIFY_MAKESTEP
  LocalRequest local;                    // LOCAL3
};

// A complete request, zero-padded to client_request_length(command), with
// sequence and attempt 0 (see stamp_request).
[[nodiscard]] std::vector<std::uint8_t> build_request(Command command, const RequestArgs& args = {});
// Set the sequence number and the attempt counter of a built request.
void stamp_request(std::span<std::uint8_t> request, std::uint32_t sequence, std::uint16_t attempt);
// Read the arguments of `command` from a request. Fields beyond the end of
// `request` read as zero; the caller checks the length first.
[[nodiscard]] RequestArgs decode_request_args(Command command, std::span<const std::uint8_t> request);

// ---------------------------------------------------------------------------
// Reports (reply bodies), in SI units

enum class SourceMode : std::uint16_t { Client = 0, Peer = 1, Reference = 2 };
// chronyc's symbol in brackets.
enum class SourceState : std::uint16_t {
  Selected = 0,     // '*'
  Unusable = 1,     // '?'  (chrony: nonselectable)
  Falseticker = 2,  // 'x'
  Jittery = 3,      // '~'
  Combined = 4,     // '+'  (chrony: unselected, but combined)
  NotCombined = 5,  // '-'  (chrony: selectable, not combined)
};

struct SourceReport {                // SOURCE_DATA
  Address address;                   // for Reference mode with Inet4: the refid as an IPv4 value
  int poll_log2 = 0;
  int stratum = 0;
  SourceState state = SourceState::Unusable;
  SourceMode mode = SourceMode::Client;
  std::uint16_t flags = 0;
  std::uint16_t reachability = 0;    // 8-bit register
  std::uint32_t last_sample_ago_s = 0;  // 0xFFFFFFFF = never
  double original_offset_s = 0.0;    // measured offset of the last sample ("[yyyy]")
  double adjusted_offset_s = 0.0;    // same, adjusted for later clock corrections ("xxxx")
  double error_s = 0.0;              // estimated error ("+/- zzzz")
};

struct TrackingReport {              // TRACKING
  std::uint32_t ref_id = 0;
  Address address;                   // Unspec when the reference is not an NTP source
  int stratum = 0;
  Leap leap = Leap::Unsynchronised;
  TimePoint ref_time{};
  double current_correction_s = 0.0; // true time minus local time (chronyc: < 0 is "fast")
  double last_offset_s = 0.0;
  double rms_offset_s = 0.0;
  double freq_ppm = 0.0;             // > 0: the local clock runs fast
  double residual_freq_ppm = 0.0;
  double skew_ppm = 0.0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  double last_update_interval_s = 0.0;
};

struct SourcestatsReport {           // SOURCESTATS
  std::uint32_t ref_id = 0;
  Address address;                   // Unspec for a reference clock: name by ref_id
  std::uint32_t samples = 0;
  std::uint32_t runs = 0;
  std::uint32_t span_s = 0;
  double std_dev_s = 0.0;
  double residual_freq_ppm = 0.0;
  double skew_ppm = 0.0;
  double offset_s = 0.0;
  double offset_error_s = 0.0;
};

struct ActivityReport {              // ACTIVITY
  std::int32_t online = 0;
  std::int32_t offline = 0;
  std::int32_t burst_online = 0;
  std::int32_t burst_offline = 0;
  std::int32_t unresolved = 0;
};

// An interval of 127 or more means "none" (chronyc prints "-").
inline constexpr std::int8_t kNoInterval = 127;

struct ClientAccessReport {          // one record of CLIENT_ACCESSES_BY_INDEX3
  Address address;
  std::uint32_t ntp_hits = 0;
  std::uint32_t nke_hits = 0;
  std::uint32_t cmd_hits = 0;
  std::uint32_t ntp_drops = 0;
  std::uint32_t nke_drops = 0;
  std::uint32_t cmd_drops = 0;
  std::int8_t ntp_interval_log2 = kNoInterval;
  std::int8_t nke_interval_log2 = kNoInterval;
  std::int8_t cmd_interval_log2 = kNoInterval;
  std::int8_t ntp_timeout_interval_log2 = kNoInterval;
  std::uint32_t last_ntp_hit_ago_s = 0xFFFFFFFFu;  // 0xFFFFFFFF = never
  std::uint32_t last_nke_hit_ago_s = 0xFFFFFFFFu;
  std::uint32_t last_cmd_hit_ago_s = 0xFFFFFFFFu;
};

struct ClientAccessesPage {          // CLIENT_ACCESSES_BY_INDEX3
  std::uint32_t n_indices = 0;       // size of the server's client table
  std::uint32_t next_index = 0;      // first index not yet examined
  std::vector<ClientAccessReport> clients;  // at most kMaxClientsPerReply
};

struct ServerStatsReport {           // SERVER_STATS
  std::uint64_t ntp_hits = 0;
  std::uint64_t nke_hits = 0;
  std::uint64_t cmd_hits = 0;
  std::uint64_t ntp_drops = 0;
  std::uint64_t nke_drops = 0;
  std::uint64_t cmd_drops = 0;
  std::uint64_t log_drops = 0;
  std::uint64_t ntp_auth_hits = 0;
  std::uint64_t ntp_interleaved_hits = 0;
  std::uint64_t ntp_timestamps = 0;
  std::uint64_t ntp_span_s = 0;
  // Only in the 4.4+ layout.
  std::uint64_t ntp_daemon_rx_timestamps = 0;
  std::uint64_t ntp_daemon_tx_timestamps = 0;
  std::uint64_t ntp_kernel_rx_timestamps = 0;
  std::uint64_t ntp_kernel_tx_timestamps = 0;
  std::uint64_t ntp_hw_rx_timestamps = 0;
  std::uint64_t ntp_hw_tx_timestamps = 0;
  bool has_timestamp_counts = false; // true when decoded from the 4.4+ layout
};

enum class ServerStatsLayout : std::uint8_t {
  V3,  // reply 24, 32-bit counters (saturated), 72 bytes
  V4,  // reply 25, 64-bit counters, 196 bytes
};

// NTP modes as the NTP_DATA reply carries them.
inline constexpr std::uint8_t kNtpModeActive = 1;
inline constexpr std::uint8_t kNtpModePassive = 2;
inline constexpr std::uint8_t kNtpModeServer = 4;

struct NtpDataReport {               // NTP_DATA
  Address remote_address;
  Address local_address;
  std::uint16_t remote_port = 0;
  Leap leap = Leap::None;            // of the last valid response
  std::uint8_t version = 0;
  std::uint8_t mode = 0;
  std::uint8_t stratum = 0;
  std::int8_t poll_log2 = 0;
  std::int8_t precision_log2 = 0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  std::uint32_t ref_id = 0;
  TimePoint ref_time{};
  double offset_s = 0.0;
  double peer_delay_s = 0.0;
  double peer_dispersion_s = 0.0;
  double response_time_s = 0.0;
  double jitter_asymmetry = 0.0;     // ratio, -0.5..+0.5
  std::uint16_t tests = 0;           // 10 bits: tests 1-3, 5-7, A-D (bit 9 = test 1)
  bool interleaved = false;
  bool authenticated = false;
  char tx_timestamping = 'D';        // 'D' daemon, 'K' kernel, 'H' hardware
  char rx_timestamping = 'D';
  std::uint32_t total_tx = 0;
  std::uint32_t total_rx = 0;
  std::uint32_t total_valid_rx = 0;
  std::uint32_t total_good_rx = 0;
  // Only in the 4.6+ layout.
  std::uint32_t total_kernel_tx_timestamps = 0;
  std::uint32_t total_kernel_rx_timestamps = 0;
  std::uint32_t total_hw_tx_timestamps = 0;
  std::uint32_t total_hw_rx_timestamps = 0;
  bool has_timestamp_counts = false;
};

enum class NtpDataLayout : std::uint8_t {
  V1,  // reply 16, 152 bytes
  V2,  // reply 26, 172 bytes
};

// Selection options carried in SELECT_DATA.
inline constexpr std::uint16_t kSelectOptionNoselect = 0x1;
inline constexpr std::uint16_t kSelectOptionPrefer = 0x2;
inline constexpr std::uint16_t kSelectOptionTrust = 0x4;
inline constexpr std::uint16_t kSelectOptionRequire = 0x8;

struct SelectDataReport {            // SELECT_DATA
  std::uint32_t ref_id = 0;
  Address address;                   // Unspec for a reference clock: name by ref_id
  char state = '?';                  // chrony's selection state letter (N s M d D ~ w W S O T P U x + *)
  bool authenticated = false;
  Leap leap = Leap::None;
  std::uint16_t configured_options = 0;
  std::uint16_t effective_options = 0;
  std::uint32_t last_sample_ago_s = 0;
  double score = 0.0;
  double interval_low_s = 0.0;       // offset interval, seconds
  double interval_high_s = 0.0;
};

// ---------------------------------------------------------------------------
// Reply encoders (server side). Each writes the header (reply type set to the
// body's type) and the body into `out`, and returns the reply's length, or 0
// when `out` is too short.

[[nodiscard]] std::size_t encode_status_reply(ReplyHeader header, std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_n_sources_reply(ReplyHeader header, std::uint32_t n_sources,
                                                 std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const SourceReport& r, std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const TrackingReport& r, std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const SourcestatsReport& r,
                                       std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const ActivityReport& r, std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const ClientAccessesPage& r,
                                       std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const ServerStatsReport& r, ServerStatsLayout layout,
                                       std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const NtpDataReport& r, NtpDataLayout layout,
                                       std::span<std::uint8_t> out);
[[nodiscard]] std::size_t encode_reply(ReplyHeader header, const SelectDataReport& r, std::span<std::uint8_t> out);
// Names longer than 255 bytes are cut.
[[nodiscard]] std::size_t encode_source_name_reply(ReplyHeader header, std::string_view name,
                                                   std::span<std::uint8_t> out);

// ---------------------------------------------------------------------------
// Reply decoders (client side). Each returns nullopt unless the reply type
// matches and the reply is long enough for it.

[[nodiscard]] std::optional<std::uint32_t> decode_n_sources(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<SourceReport> decode_source_data(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<TrackingReport> decode_tracking(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<SourcestatsReport> decode_sourcestats(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<ActivityReport> decode_activity(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<ClientAccessesPage> decode_client_accesses(std::span<const std::uint8_t> reply);
// Accepts both layouts (reply 24 and 25).
[[nodiscard]] std::optional<ServerStatsReport> decode_server_stats(std::span<const std::uint8_t> reply);
// Accepts both layouts (reply 16 and 26).
[[nodiscard]] std::optional<NtpDataReport> decode_ntp_data(std::span<const std::uint8_t> reply);
[[nodiscard]] std::optional<SelectDataReport> decode_select_data(std::span<const std::uint8_t> reply);
// nullopt also when the name is not NUL-terminated within its field.
[[nodiscard]] std::optional<std::string> decode_source_name(std::span<const std::uint8_t> reply);

// How a client treats a datagram received in answer to `request` (chronyc's rules).
enum class ReplyCheck : std::uint8_t {
  Accept,    // a reply to this request, long enough for its type
  Ignore,    // not a reply to this request: keep waiting
  Resend,    // a reply to this request but shorter than its type requires
};
[[nodiscard]] ReplyCheck check_reply(std::span<const std::uint8_t> request, std::span<const std::uint8_t> reply);

}  // namespace gnomon::cmdmon
