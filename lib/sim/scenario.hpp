// The scenario runner: N simulated servers on a SimNetwork, one client
// SyncEngine (the real Source, SourceStats, Selection and Reference code)
// steering a FakeClock, run for T seconds of true time. The client's true
// offset and frequency error are sampled every true second and scored as
// chrony's simulation tests score them (lib/sim/sim_metrics.hpp).
//
// Everything is seeded: the same config gives the same result, bit for bit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/config.hpp"
#include "lib/drift_file.hpp"
#include "lib/sim/fake_clock.hpp"
#include "lib/sim/sim_metrics.hpp"
#include "lib/sim/sim_network.hpp"
#include "lib/sim/sim_server.hpp"
#include "lib/sync_engine.hpp"

namespace gnomon::sim {

struct ScenarioServer {
  SimServerConfig server;   // its clock, stratum, ...
  LinkConfig link;          // a = the client, b = this server
  SourceConfig source;      // how the client configures it (address is set by the runner)
};

struct ScenarioConfig {
  std::string name;
  double duration_s = 10000.0;
  FakeClockConfig clock;
  std::vector<ScenarioServer> servers;
  EngineOptions engine;                 // makestep, selection options, estimator, ...
  std::optional<DriftData> drift;       // a drift file read at start
  bool local_clock = false;             // a 127.127.1.0 entry ([local] at local.stratum)
  double stats_start_s = 210.0;         // chrony resets statistics at max_sync_time
  SyncCriterion sync;                   // chrony's: 1 ms and 500 ppm
  SyncCriterion fine_sync{100e-6, 10.0};  // "within 100 us and 10 ppm"
  double fine_hold_s = 60.0;            // ... for at least this long
  std::uint64_t seed = 1;               // derives every other seed
  // Keep every this-many-th sample in the result (the scoring uses all).
  int keep_every = 1;
};

// The client's reference at a sample: which server it follows.
inline constexpr int kRefNone = -1;   // unsynchronised
inline constexpr int kRefLocal = -2;  // the local clock (LOCL)

struct ScenarioSample {
  ClockSample clock;
  int reference = kRefNone;   // server index, kRefLocal or kRefNone
  int stratum = 0;            // what the client serves (0 = unsynchronised)
};

struct TimedEvent {
  double t_s = 0.0;
  std::string text;
};

struct ScenarioResult {
  std::string name;
  std::vector<ScenarioSample> samples;   // thinned by keep_every
  std::optional<double> sync_time_s;     // chrony's criterion (1 ms, 500 ppm)
  std::optional<double> fine_sync_time_s;  // first arrival within 100 us and 10 ppm, held 60 s
  ErrorStats stats;                      // from stats_start_s on
  std::vector<TimedEvent> events;        // the engine's log lines
  // Which servers were ever the system peer, and for how many samples.
  std::vector<std::uint64_t> selected_samples;
  std::uint64_t local_samples = 0;       // samples following LOCL
  std::uint64_t unsync_samples = 0;      // samples with no reference
  std::size_t steps = 0;                 // clock steps made
  std::vector<ClockAdjustment> adjustments;  // every call that changed the clock
  std::size_t frequency_sets = 0;
  std::uint64_t requests = 0;            // sent by the client
  std::uint64_t replies = 0;             // delivered to the client
  bool panic = false;
  // Each server's row state (chronyc sources: * + - x ~ ?) at the end.
  std::vector<char> final_states;

  // True if any event's text contains `needle`.
  [[nodiscard]] bool logged(const std::string& needle) const;
  [[nodiscard]] std::size_t count_logged(const std::string& needle) const;
};

[[nodiscard]] ScenarioResult run_scenario(const ScenarioConfig& config);

// The default scenario of chrony's simulation tests: one stratum-1 server,
// 100 us + 100 us x Exp(1) each way, +100 ppm, 1 ppb/s wander, 0.1 s off,
// 10000 s, default polling (6..10), no makestep effect for 0.1 s.
[[nodiscard]] ScenarioConfig default_scenario(std::uint64_t seed = 1);

// The kept samples as CSV text: t_s,offset_s,freq_ppm,reference,stratum
// (reference: server index, -2 = LOCL, -1 = none).
[[nodiscard]] std::string format_csv(const ScenarioResult& result);

}  // namespace gnomon::sim
