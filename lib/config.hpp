// The effective configuration as plain values. Both loaders (TOML and
// chrony.conf, in lib/config/) produce this; the daemon and the core read it.
// Defaults here are the defaults of CONTRACT.md.
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
  double distance_s = 1.0;    // activate when our root distance exceeds this
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
  std::string driftfile = "/var/lib/gnomon/drift";
  bool rtcsync = false;
  std::string leapsectz;
  bool operator==(const ClockConfig&) const = default;
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
  AuthConfig auth;
  NtsConfig nts;
  ControlConfig control;
  LogConfig log;
  MetricsConfig metrics;
  std::string source_file;    // the file it was loaded from
  bool operator==(const Config&) const = default;
};

// Defaults for the lists that CONTRACT.md fills when a section is present.
std::vector<SocketAddress> default_server_listen();   // 0.0.0.0:123, [::]:123
std::vector<SocketAddress> default_control_listen();  // 127.0.0.1:323, [::1]:323
std::vector<SocketAddress> default_nts_listen();      // 0.0.0.0:4460, [::]:4460

}  // namespace gnomon
