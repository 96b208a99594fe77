// What gnomond exports to Prometheus, and its text exposition format
// (version 0.0.4). The snapshot is collected on the main thread, where the
// SyncEngine lives; the NTP server's counters are relaxed atomics that its
// workers own, so a scrape never waits for, or stops, the NTP path.
//
// Names are gnomon_*, with units in the names (_seconds, _ppm, _packets)
// and _total on counters. Signs are gnomon's: an offset is local minus
// source (+ = we are ahead), a frequency + = the clock runs fast.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/server_counters.hpp"
#include "lib/reference.hpp"

namespace gnomon::daemon {

class TimeSync;
class NtpServer;
struct ControlCounters;

struct SourceMetrics {
  std::string name;          // configured name or literal; "LOCL" for the local clock
  std::string address;       // IP address; "" while unresolved or for LOCL
  std::string mode;          // "server" | "peer" | "local"
  char state = '?';          // * + - x ~ ?
  unsigned reach = 0;        // the 8-bit register
  int stratum = 0;
  int poll_log2 = 6;
  int samples = 0;           // sourcestats NP
  std::optional<double> offset_s;         // last sample, adjusted for slews since
  std::optional<double> delay_s;          // last round-trip (peer) delay
  std::optional<double> jitter_s;         // sourcestats std dev
  std::optional<double> last_sample_age_s;
};

struct ControlCountersSnapshot {
  std::uint64_t received = 0;
  std::uint64_t answered = 0;
  std::uint64_t dropped = 0;
};

struct MetricsSnapshot {
  std::string version;
  double start_time_s = 0.0;             // Unix time the daemon started
  TrackingReport tracking;
  std::optional<double> last_update_age_s;  // nullopt: no update yet
  std::vector<SourceMetrics> sources;
  std::optional<ServerCountersSnapshot> server;  // nullopt: client only
  std::size_t server_workers = 0;
  std::optional<ControlCountersSnapshot> control;
};

// Gathers everything from the live objects (main thread only).
// `server` and `control` may be null.
[[nodiscard]] MetricsSnapshot collect_metrics(TimeSync& sync, const NtpServer* server,
                                              const ControlCounters* control, double start_time_s);

// The Prometheus text exposition of `m`.
[[nodiscard]] std::string render_metrics(const MetricsSnapshot& m);

// The state code exported as gnomon_source_state: 0 '*' selected,
// 1 '+' combined, 2 '-' not combined, 3 'x' falseticker, 4 '~' too variable,
// 5 '?' unusable.
[[nodiscard]] int source_state_code(char state);

// A label value with \\, \" and \n escaped as the format requires.
[[nodiscard]] std::string escape_label_value(const std::string& v);

}  // namespace gnomon::daemon
