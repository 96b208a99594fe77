// NTS Key Establishment records (RFC 8915 section 4), sans I/O.
//
// A record is a u16 whose top bit is the critical bit and whose other 15
// bits are the type, a u16 body length, and the body. A message is a run of
// records ending with End of Message (critical, empty body). The client sends
// one request message; the server answers with one response message and
// closes the connection.
//
// This module frames messages out of a TLS byte stream, and decides what a
// request asks for (server) and what a response grants (client), following
// the RFC's rules and chrony's behaviour where the RFC leaves a choice:
//  - server: exactly one critical Next Protocol record offering NTPv4, and
//    then exactly one AEAD record; an unknown critical record gets Error 0;
//    Error, Warning or New Cookie records, or a malformed body, Error 1.
//  - client: Next Protocol must be exactly [NTPv4] (critical), AEAD exactly
//    [15], at least one cookie; any Error or Warning record, or an unknown
//    critical record, fails the exchange.
// Untrusted input never throws and is never read out of bounds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gnomon {

inline constexpr char kNtsKeAlpn[] = "ntske/1";
inline constexpr std::uint16_t kNtsKePort = 4460;
// TLS exporter label and the context layout (RFC 8915 5.1): protocol id u16,
// AEAD id u16, then 0x00 for the client-to-server key, 0x01 server-to-client.
inline constexpr char kNtsExporterLabel[] = "EXPORTER-network-time-security";

inline constexpr std::uint16_t kKeCriticalBit = 0x8000;
enum class KeRecordType : std::uint16_t {
  EndOfMessage = 0,
  NextProtocol = 1,
  Error = 2,
  Warning = 3,
  AeadAlgorithm = 4,
  NewCookie = 5,
  NtpServer = 6,
  NtpPort = 7,
};
inline constexpr std::uint16_t kNextProtocolNtpV4 = 0;
enum class KeError : std::uint16_t {
  UnrecognizedCritical = 0,
  BadRequest = 1,
  InternalServerError = 2,
};

// Longest message we accept or send, bytes (chrony's limit too).
inline constexpr std::size_t kMaxKeMessageLen = 16384;
// Cookies a server hands out per exchange and a client keeps.
inline constexpr std::size_t kNtsCookiesPerExchange = 8;
// Longest cookie a client keeps, bytes.
inline constexpr std::size_t kMaxNtsCookieLen = 256;
// Longest NTPv4 server name a client accepts, bytes.
inline constexpr std::size_t kMaxNtsServerNameLen = 255;

// The 5-byte exporter context for `aead` and a direction.
[[nodiscard]] std::array<std::uint8_t, 5> nts_exporter_context(std::uint16_t aead, bool server_to_client);

struct KeRecord {
  bool critical = false;
  std::uint16_t type = 0;                 // without the critical bit
  std::span<const std::uint8_t> body;
};

enum class KeFrameStatus : std::uint8_t {
  NeedMore,   // no End of Message yet; read more
  Complete,   // `length` bytes form one message ending with End of Message
  TooLong,    // no End of Message within kMaxKeMessageLen bytes
  Malformed,  // End of Message with a body, or not critical
};

struct KeFrame {
  KeFrameStatus status = KeFrameStatus::NeedMore;
  std::size_t length = 0;
};

// Looks for one whole message at the start of `buffered`.
[[nodiscard]] KeFrame frame_ke_message(std::span<const std::uint8_t> buffered);

// Splits a complete message (as framed above) into records, End of Message
// last. False if it is not exactly a run of records ending with End of
// Message.
[[nodiscard]] bool split_ke_records(std::span<const std::uint8_t> message,
                                    std::vector<KeRecord>& out);

// Builds messages.
class KeMessageWriter {
 public:
  // False (and nothing added) if the body is longer than 65535 bytes or the
  // message would outgrow kMaxKeMessageLen.
  bool add(bool critical, KeRecordType type, std::span<const std::uint8_t> body);
  bool add_u16s(bool critical, KeRecordType type, std::span<const std::uint16_t> values);
  // Appends End of Message and returns the message.
  [[nodiscard]] std::vector<std::uint8_t> finish();

 private:
  std::vector<std::uint8_t> bytes_;
};

// --- Client ----------------------------------------------------------------

// The request: Next Protocol [NTPv4], AEAD [AES-SIV-CMAC-256], End.
[[nodiscard]] std::vector<std::uint8_t> build_ke_request();

// A successful response: NTPv4 with AEAD_AES_SIV_CMAC_256.
struct KeResponse {
  std::vector<std::vector<std::uint8_t>> cookies;   // at most kNtsCookiesPerExchange
  std::optional<std::string> ntp_server;            // NTPv4 Server Negotiation
  std::optional<std::uint16_t> ntp_port;            // NTPv4 Port Negotiation
};

struct KeResponseResult {
  std::optional<KeResponse> response;  // set on success
  std::string error;                   // why not, for the log (no secrets)
};

// Evaluates a complete response message.
[[nodiscard]] KeResponseResult evaluate_ke_response(std::span<const std::uint8_t> message);

// --- Server ----------------------------------------------------------------

struct KeRequestDecision {
  std::optional<KeError> error;  // answer with this Error record only
  bool ntpv4 = false;            // NTPv4 offered (else: empty Next Protocol)
  bool aead_ok = false;          // AES-SIV-CMAC-256 offered (else: empty AEAD)
  [[nodiscard]] bool grants_keys() const { return !error && ntpv4 && aead_ok; }
};

// Evaluates a complete request message.
[[nodiscard]] KeRequestDecision evaluate_ke_request(std::span<const std::uint8_t> message);

struct KeResponseParams {
  std::optional<std::string> ntp_server;    // sent when set
  std::optional<std::uint16_t> ntp_port;    // sent when set (chrony: when not 123)
  std::vector<std::vector<std::uint8_t>> cookies;
};

// The response for a decision (cookies and negotiation records only when
// grants_keys()).
[[nodiscard]] std::vector<std::uint8_t> build_ke_response(const KeRequestDecision& decision,
                                                          const KeResponseParams& params);

[[nodiscard]] const char* to_string(KeError e);

}  // namespace gnomon
