// The effective configuration as plain values. Both loaders (TOML and
// chrony.conf, in lib/config/) produce this; the daemon and the core read it.
// Defaults here are the documented defaults (README, conf/*.toml).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/net_address.hpp"

namespace gnomon {

enum class SourceMode : std::uint8_t { Server, Pool, Peer };

struct SourceConfig {
  std::string address;        // hostname, IPv4 or IPv6 literal; "127.127.1.0" = local clock
  SourceMode mode = SourceMode::Server;
  int max_sources = 4;        // pool only
  std::uint16_t port = 123;
  bool iburst = false;
  int minpoll = 6;            // log2 s, -7..24
  int maxpoll = 10;           // log2 s, -7..24, >= minpoll
  bool prefer = false;
  bool noselect = false;
  bool require = false;
  bool xleave = false;
  double maxdelay_s = 3.0;
  std::optional<std::uint32_t> key;  // symmetric key id
  bool nts = false;
  std::uint16_t nts_port = 4460;
  // chrony's further source options (0 / nullopt = chrony's default).
  bool burst = false;             // a short burst of requests at each poll
  bool offline = false;           // starts offline (gnomonc online brings it up)
  bool trust = false;             // selection: assumed true unless another trusted source disagrees
  double maxdelayratio = 0.0;     // test B: delay within this times the minimum, 0 = off
  double maxdelaydevratio = 10.0; // test C
  double maxdelayquant = 0.0;     // reject delays above this quantile of recent delays, 0 = off
  std::optional<int> polltarget;  // samples the poll adaptation aims to hold, 6..60
  std::optional<int> minsamples;  // samples kept at least (else the global minsamples)
  std::optional<int> maxsamples;  // samples kept at most (else the global maxsamples)
  int maxunreach = 100000;        // polls without reply after which an unreachable source is stale
  int minstratum = 0;             // the source's stratum is taken as at least this
  int version = 4;                // NTP version of requests, 1..4
  int filter = 0;                 // median filter over this many samples, 0 = off
  double offset_s = 0.0;          // added to every offset measured (source ahead = +)
  // Where the entry was written, for messages: "file:line".
  std::string origin;

  // True for ntpd's local-clock idiom "127.127.1.0".
  [[nodiscard]] bool is_local_clock() const { return address == "127.127.1.0"; }
  bool operator==(const SourceConfig&) const = default;
};

struct LocalConfig {
  bool enabled = false;       // [local] present, `local` directive, or a 127.127.1.0 source
  int stratum = 10;           // 1..15
  bool orphan = false;
  double distance_s = 1.0;    // activate when our root distance exceeds this, s
  // Not before our root distance has once been below this, s (0 = no such wait).
  double activate_s = 0.0;
  // While synchronised: not until this long after the last clock update, s.
  double wait_synced_s = 0.0;
  // While unsynchronised: not until this long after we became so (or
  // started), s. Negative: chrony's default, 300 s with orphan, else 0.
  double wait_unsynced_s = -1.0;
  [[nodiscard]] double effective_wait_unsynced_s() const {
    if (wait_unsynced_s >= 0.0) return wait_unsynced_s;
    return orphan ? 300.0 : 0.0;
  }
  bool operator==(const LocalConfig&) const = default;
};

// One allow/deny directive, applied in order (chrony semantics): the most
// specific subnet wins; `all` also resets every rule inside the subnet.
struct AccessRule {
  bool allow = true;
  bool all = false;
  Subnet subnet;              // /0 of a family, or both families for "all" with no subnet
  bool both_families = false; // bare `allow`/`deny` or `allow all`: every IPv4 and IPv6 address
  bool operator==(const AccessRule&) const = default;
};

struct RateLimitConfig {
  bool enabled = false;
  int interval = 3;           // log2 s, -19..12
  int burst = 8;              // 1..255
  int leak = 2;               // 1..4
  bool kod = false;
  bool operator==(const RateLimitConfig&) const = default;
};

struct ServerConfig {
  bool enabled = false;       // [server] present (or chrony's port != 0)
  std::vector<SocketAddress> listen;
  std::vector<AccessRule> access;  // in order; nothing allowed if empty
  int threads = 0;            // 0 = one per core
  std::uint64_t clientloglimit = 524288;  // bytes; 0 = noclientlog
  RateLimitConfig ratelimit;
  bool operator==(const ServerConfig&) const = default;
};

// chrony's maxchange: the daemon exits when an update's offset exceeds the
// limit, after `start_updates` updates and once `ignore` such offsets were
// ignored (-1 = ignore them always).
struct MaxChangeConfig {
  double offset_s = 1000.0;
  int start_updates = 1;
  int ignore = 0;
  bool operator==(const MaxChangeConfig&) const = default;
};

// chrony's initstepslew: before the first update, measure these servers and
// step (offset above the threshold) or slew the clock once.
struct InitStepSlewConfig {
  double threshold_s = 0.0;
  std::vector<std::string> addresses;
  bool operator==(const InitStepSlewConfig&) const = default;
};

// chrony's fallbackdrift: while no source is usable, the frequency falls back
// to averages of the drift over windows of 2^min_log2 .. 2^max_log2 s.
struct FallbackDriftConfig {
  int min_log2 = 0;
  int max_log2 = 0;
  bool operator==(const FallbackDriftConfig&) const = default;
};

struct MakeStepConfig {
  double threshold_s = 1.0;
  int limit = 3;              // -1 = always
  bool operator==(const MakeStepConfig&) const = default;
};

struct ClockConfig {
  bool control = true;
  std::optional<MakeStepConfig> makestep = MakeStepConfig{};
  double maxslewrate_ppm = 83333.333;
  double maxupdateskew_ppm = 1000.0;
  // maxclockerror: how unstable our own clock is, ppm; it grows the root
  // dispersion we serve and the distance of our samples.
  double maxclockerror_ppm = 1.0;
  std::string driftfile = "/var/lib/gnomon/drift";
  bool rtcsync = false;
  std::string leapsectz;
  std::optional<MaxChangeConfig> maxchange;
  double maxdrift_ppm = 100000.0;        // |frequency| set on the clock stays within this
  double corrtimeratio = 3.0;            // correction time / update interval
  double logchange_s = 1.0;              // "System clock wrong by" above this
  std::optional<InitStepSlewConfig> initstepslew;
  std::optional<FallbackDriftConfig> fallbackdrift;
  // gnomond -q (not a config key): measure the sources, step the clock
  // once and exit, as chronyd -q does.
  bool update_once = false;
  bool operator==(const ClockConfig&) const = default;
};

// chrony's authselectmode: how sources with a key or NTS (authenticated)
// and those without mix in selection.
enum class AuthSelectMode : std::uint8_t {
  Require,  // unauthenticated sources are never selected
  Prefer,   // unauthenticated sources are not selected while an authenticated one is configured
  Mix,      // with both kinds configured, authenticated ones are required and trusted
  Ignore,   // authentication plays no part in selection
};

// Source selection (chrony's directives of the same names).
struct SelectConfig {
  AuthSelectMode auth_select = AuthSelectMode::Mix;
  int min_sources = 1;
  double max_distance_s = 3.0;
  double max_jitter_s = 1.0;
  double combine_limit = 3.0;
  double reselect_distance_s = 1e-4;
  double stratum_weight_s = 1e-3;
  std::optional<int> min_samples;  // default of every source
  std::optional<int> max_samples;
  bool operator==(const SelectConfig&) const = default;
};

struct AuthConfig {
  std::string keyfile;
  bool operator==(const AuthConfig&) const = default;
};

struct NtsConfig {
  bool enabled = false;       // [nts] present: run an NTS-KE server
  std::vector<SocketAddress> listen;
  std::string certificate = "/etc/gnomon/nts.crt";
  std::string key = "/etc/gnomon/nts.key";
  std::string keydir = "/var/lib/gnomon/nts";
  std::string trusted_certs;
  int max_connections = 100;  // NTS-KE sessions at once (chrony's maxntsconnections)
  double timeout_s = 2.0;     // an NTS-KE session must end within this, s
  bool operator==(const NtsConfig&) const = default;
};

struct ControlConfig {
  std::string socket = "/run/gnomon/gnomond.sock";
  std::vector<SocketAddress> listen;
  std::vector<AccessRule> access;  // UDP monitoring access beyond loopback (cmdallow/cmddeny)
  // The monitoring commands UDP may ask for, by chronyc name (chrony's
  // opencommands; its default list).
  std::vector<std::string> open_commands{"activity", "manual",  "rtcdata",     "smoothing",
                                         "sourcename", "sources", "sourcestats", "tracking"};
  bool operator==(const ControlConfig&) const = default;
};

enum class LogLevel : std::uint8_t { Trace, Debug, Info, Warn, Error };

struct LogConfig {
  LogLevel level = LogLevel::Info;
  std::string dir;
  bool measurements = false;
  bool statistics = false;
  bool tracking = false;
  bool operator==(const LogConfig&) const = default;
};

struct MetricsConfig {
  std::optional<SocketAddress> listen;
  bool operator==(const MetricsConfig&) const = default;
};

struct Config {
  std::vector<SourceConfig> sources;
  LocalConfig local;
  ServerConfig server;
  ClockConfig clock;
  SelectConfig select;
  AuthConfig auth;
  NtsConfig nts;
  ControlConfig control;
  LogConfig log;
  MetricsConfig metrics;
  std::string source_file;    // the file it was loaded from
  bool operator==(const Config&) const = default;
};

// Defaults for the lists that a section fills when it is present without them.
std::vector<SocketAddress> default_server_listen();   // 0.0.0.0:123, [::]:123
std::vector<SocketAddress> default_control_listen();  // 127.0.0.1:323, [::1]:323
std::vector<SocketAddress> default_nts_listen();      // 0.0.0.0:4460, [::]:4460

}  // namespace gnomon
