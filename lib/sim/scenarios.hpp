// The named accuracy scenarios, each with chrony's published figure for
// the same setup (its simulation tests and comparison page) and gnomon's
// target. The
// tests (tests/sim/test_scenarios.cpp) assert bounds on them; gnomon-sim
// prints them as a table with the ratio to chrony.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lib/sim/scenario.hpp"

namespace gnomon::sim {

// chrony's simulation-test setups (test/simulation in chrony's repository).
[[nodiscard]] ScenarioConfig iburst_scenario(bool drift_file, std::uint64_t seed = 1);
// makestep 2 1, 10 us jitter, 200 s: offsets below 2 s are slewed, above stepped.
[[nodiscard]] ScenarioConfig makestep_scenario(double initial_offset_s, std::uint64_t seed = 1);
// 5 servers at 1 ms base delay; server i (1-based, i <= n) is i seconds off.
[[nodiscard]] ScenarioConfig falseticker_scenario(int falsetickers, std::uint64_t seed = 1);
// minpoll = maxpoll = p, 1 us jitter, no wander, makestep 0.01 1, 10 * 2^p s.
[[nodiscard]] ScenarioConfig fixed_poll_scenario(int poll, std::uint64_t seed = 1);
// chrony 014-intermittent: the network passes packets only for 1200 s of
// every 10000 s, for 100000 s.
[[nodiscard]] ScenarioConfig intermittent_scenario(std::uint64_t seed = 1);
// The network is up only 30 minutes a day, for three days.
[[nodiscard]] ScenarioConfig holdover_scenario(std::uint64_t seed = 1);
// One server and the local clock: the server's link is down from 2000 s to
// 6000 s, so LOCL takes over, then the server comes back.
[[nodiscard]] ScenarioConfig local_fallback_scenario(std::uint64_t seed = 1);
// chrony's comparison page: 100 us base delay plus `jitter_s` x Exp(1) each
// way, +100 ppm, 0.1 s off. Default polling with 1 ppb/s wander, or poll
// fixed at 64 s with 10 ppb/s wander.
[[nodiscard]] ScenarioConfig jitter_scenario(double jitter_s, bool fixed_poll_64,
                                             std::uint64_t seed = 1);

// What chrony does in the same setup, from the reference.
struct ChronyFigure {
  std::optional<double> rms_offset_s;   // published/achieved RMS offset
  std::optional<double> sync_min_s;     // chrony's accepted sync-time range
  std::optional<double> sync_max_s;
  std::optional<double> fine_sync_s;    // time to 100 us and 10 ppm
  std::string note;
};

// gnomon's aims for the scenario; unset = none beyond chrony's.
struct Target {
  std::optional<double> rms_offset_s;
  std::optional<double> sync_s;         // chrony's criterion, at most
  std::optional<double> fine_sync_s;    // 100 us and 10 ppm, at most
};

struct ScenarioSpec {
  std::string name;
  std::string title;
  std::function<ScenarioConfig(std::uint64_t seed)> make;
  ChronyFigure chrony;
  Target target;
  int seeds = 1;                        // runs averaged by the tool
};

// Every scenario, in table order.
[[nodiscard]] std::vector<ScenarioSpec> scenario_catalogue();

// Results of one scenario over several seeds.
struct AggregateResult {
  std::string name;
  int runs = 0;
  double mean_rms_offset_s = 0.0;
  double max_offset_s = 0.0;            // worst over the runs
  double mean_rms_freq_ppm = 0.0;
  std::optional<double> worst_sync_s;   // nullopt if any run never synced
  std::optional<double> worst_fine_sync_s;
  double mean_sync_s = 0.0;             // over the runs that synced
  std::optional<double> mean_fine_sync_s;    // over the runs that got there
  std::optional<double> median_fine_sync_s;  // over all runs (never = last)
  double mean_requests = 0.0;           // requests sent per run
};

[[nodiscard]] AggregateResult aggregate(const std::string& name,
                                        const std::vector<ScenarioResult>& runs);

}  // namespace gnomon::sim
