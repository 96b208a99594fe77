// Rules shared by the TOML and chrony.conf loaders: value ranges, source
// address checks and allow/deny arguments. One place, so both formats accept
// exactly the same values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"

namespace gnomon::rules {

inline constexpr int kPollMin = -7;  // log2 s
inline constexpr int kPollMax = 24;
inline constexpr int kPortMin = 1;
inline constexpr int kPortMax = 65535;
inline constexpr int kStratumMin = 1;
inline constexpr int kStratumMax = 15;
inline constexpr int kMaxSourcesMin = 1;
inline constexpr int kMaxSourcesMax = 16;  // chrony's pool limit
inline constexpr int kRateIntervalMin = -19;  // log2 s
inline constexpr int kRateIntervalMax = 12;
inline constexpr int kRateBurstMin = 1;
inline constexpr int kRateBurstMax = 255;
inline constexpr int kRateLeakMin = 1;
inline constexpr int kRateLeakMax = 4;
inline constexpr int kThreadsMax = 1024;
inline constexpr int kNtsConnectionsMin = 1;       // [nts] max-connections, maxntsconnections
inline constexpr int kNtsConnectionsMax = 100000;
inline constexpr double kNtsTimeoutMaxS = 3600.0;  // [nts] timeout
inline constexpr std::int64_t kClientLogLimitMax = 4294967295;  // bytes
inline constexpr double kPpmMax = 1e6;   // maxslewrate / maxupdateskew upper bound
inline constexpr double kSecondsMax = 1e9;  // thresholds and distances in seconds
inline constexpr double kMaxDelayRatio = 1e6;
inline constexpr double kRatioMax = 1e300;     // corrtimeratio: chrony takes any number  // maxdelayratio, maxdelaydevratio
// polltarget, minsamples, maxsamples, filter: chrony takes any int; the core
// clamps them to what a source can hold (64 samples, a 1024-poll filter).
inline constexpr int kPollTargetMin = 1;
inline constexpr int kPollTargetMax = 2147483647;
inline constexpr int kSamplesMax = 2147483647;
inline constexpr int kFilterMax = 2147483647;

enum class AddressKind : std::uint8_t { Ip, Hostname, Invalid };

// A source address is an IPv4/IPv6 literal or an RFC 1123 hostname. Text that
// looks numeric but is no valid address ("300.1.1.1") is Invalid.
[[nodiscard]] AddressKind classify_source_address(std::string_view address);

// chrony's effective poll range: when only one bound is given, the other
// follows it; both given and minpoll > maxpoll is the caller's error.
void settle_poll_range(SourceConfig& s, bool minpoll_given, bool maxpoll_given);

struct AccessParse {
  enum class Status : std::uint8_t { Ok, HostBitsMasked, Invalid };
  Status status = Status::Invalid;
  std::vector<AccessRule> rules;  // two rules for a bare allow/deny (IPv4 and IPv6 /0)
  std::string message;            // for HostBitsMasked and Invalid
};

// The argument of allow/deny: "" (everything), "all", "all SUBNET" or
// "SUBNET" (chrony's short forms like "10" included). Hostnames are refused.
[[nodiscard]] AccessParse parse_access_argument(std::string_view argument, bool allow);

// Inverse of parse_access_argument for one rule: "10.0.0.0/24", "all",
// "all 10.0.0.0/8".
[[nodiscard]] std::string access_argument(const AccessRule& rule);
// "allow 10.0.0.0/24", "deny all".
[[nodiscard]] std::string describe_access_rule(const AccessRule& rule);

// The chronyc command names chrony's `opencommands` accepts.
inline constexpr std::string_view kOpenCommandNames[] = {
    "activity",   "authdata",    "clients",   "manual",     "ntpdata",  "rtcdata",     "selectdata",
    "serverstats", "smoothing",  "sourcename", "sources",   "sourcestats", "tracking"};
inline constexpr std::string_view kOpenCommandsAllowed =
    "activity, authdata, clients, manual, ntpdata, rtcdata, selectdata, serverstats, smoothing, "
    "sourcename, sources, sourcestats, tracking";

inline constexpr std::string_view kSubnetAllowed =
    "an address, ADDRESS/PREFIX (prefix 0..32 or 0..128), a short IPv4 form like 10 or 10.0, "
    "or all [SUBNET]";

[[nodiscard]] std::string_view source_mode_name(SourceMode mode);
[[nodiscard]] std::string_view log_level_name(LogLevel level);

}  // namespace gnomon::rules
