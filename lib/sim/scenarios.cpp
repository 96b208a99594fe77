#include "lib/sim/scenarios.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gnomon::sim {
namespace {

// chrony's simulation tests start clients with makestep 0.01 1 in several setups.
constexpr MakeStepConfig kMakestepSmall{0.01, 1};

ScenarioServer server_with(double base_delay_s, double jitter_s) {
  ScenarioServer s;
  s.link = LinkConfig::symmetric(base_delay_s, jitter_s);
  return s;
}

// "%g", with a sign when `sign`.
std::string number(double v, bool sign) {
  char buf[64];
  if (sign) {
    std::snprintf(buf, sizeof buf, "%+g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

}  // namespace

ScenarioConfig iburst_scenario(bool drift_file, std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = drift_file ? "iburst-drift" : "iburst-nodrift";
  c.engine.reference.makestep = kMakestepSmall;
  c.servers[0].source.iburst = true;
  if (drift_file) {
    c.drift = DriftData{100.0, 1.0};  // "100 1.0": the true frequency error
    c.stats_start_s = 6.0;            // chrony's max_sync_time of 102-iburst
  }
  return c;
}

ScenarioConfig makestep_scenario(double initial_offset_s, std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "makestep" + number(initial_offset_s, true);
  c.duration_s = 200.0;
  c.clock.initial_offset_s = initial_offset_s;
  c.servers[0].link = LinkConfig::symmetric(100e-6, 10e-6);
  c.engine.reference.makestep = MakeStepConfig{2.0, 1};
  c.stats_start_s = std::abs(initial_offset_s) < 2.0 ? 150.0 : 140.0;
  return c;
}

ScenarioConfig falseticker_scenario(int falsetickers, std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "falsetickers-" + std::to_string(falsetickers);
  c.servers.clear();
  for (int i = 1; i <= 5; ++i) {
    ScenarioServer s = server_with(1e-3, 100e-6);
    if (i <= falsetickers) s.server.offset_s = static_cast<double>(i);
    c.servers.push_back(s);
  }
  return c;
}

ScenarioConfig fixed_poll_scenario(int poll, std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "poll-" + std::to_string(poll);
  const double interval_s = static_cast<double>(1LL << poll);
  c.duration_s = 10.0 * interval_s;
  c.clock.wander_ppm = 0.0;
  c.servers[0].link = LinkConfig::symmetric(100e-6, 1e-6);
  c.servers[0].source.minpoll = poll;
  c.servers[0].source.maxpoll = poll;
  c.engine.reference.makestep = kMakestepSmall;
  c.sync = SyncCriterion{10e-6, 10.0};  // chrony's 101-poll limits
  // chrony's max_sync_time: 2^p * 21 / 10 + 1 in integer arithmetic.
  c.stats_start_s = static_cast<double>((1LL << poll) * 21 / 10 + 1);
  return c;
}

ScenarioConfig intermittent_scenario(std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "intermittent";
  c.duration_s = 100000.0;
  c.servers[0].link.schedule = LinkSchedule{.period_s = 10000.0, .up_s = 1200.0};
  c.sync = SyncCriterion{0.1, 1e4};  // chrony's 014-intermittent limits
  c.keep_every = 10;
  return c;
}

ScenarioConfig holdover_scenario(std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "holdover-30min-per-day";
  c.duration_s = 3 * 86400.0;
  c.servers[0].link.schedule = LinkSchedule{.period_s = 86400.0, .up_s = 1800.0};
  c.sync = SyncCriterion{0.1, 1e4};  // chrony's 014-intermittent limits
  c.keep_every = 10;
  return c;
}

ScenarioConfig local_fallback_scenario(std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "local-fallback";
  c.local_clock = true;
  c.engine.reference.local.enabled = true;
  // As in chronyd, the last reference is served until our root distance
  // passes `local distance`; 1 ms is passed about 700 s into the outage.
  c.engine.reference.local.distance_s = 1e-3;
  c.servers[0].source.maxpoll = 6;
  c.servers[0].link.schedule.down = {{2000.0, 6000.0}};
  return c;
}

ScenarioConfig jitter_scenario(double jitter_s, bool fixed_poll_64, std::uint64_t seed) {
  ScenarioConfig c = default_scenario(seed);
  c.name = "jitter-" + number(jitter_s * 1e6, false) + "us" + (fixed_poll_64 ? "-poll64" : "-default");
  c.servers[0].link = LinkConfig::symmetric(100e-6, jitter_s);
  if (fixed_poll_64) {
    c.servers[0].source.minpoll = 6;
    c.servers[0].source.maxpoll = 6;
    c.clock.wander_ppm = 10e-3;
  }
  return c;
}

std::vector<ScenarioSpec> scenario_catalogue() {
  std::vector<ScenarioSpec> out;
  out.push_back(ScenarioSpec{"default", "chrony 001-defaults: 1 server, 100+100us jitter, +100 ppm, 0.1 s",
                             [](std::uint64_t s) { return default_scenario(s); },
                             ChronyFigure{100e-6, 120.0, 210.0, std::nullopt,
                                          "bar RMS <= 300 us, achieves ~100 us"},
                             Target{50e-6, 210.0, std::nullopt}, 10});
  out.push_back(ScenarioSpec{"iburst-drift", "chrony 102-iburst: iburst, correct drift file, makestep 0.01 1",
                             [](std::uint64_t s) { return iburst_scenario(true, s); },
                             ChronyFigure{std::nullopt, 4.0, 6.0, 8.0, "within 100 us/10 ppm in 5-8 s"},
                             Target{std::nullopt, 6.0, 8.0}, 10});
  out.push_back(ScenarioSpec{"iburst-nodrift", "iburst, no drift file, makestep 0.01 1",
                             [](std::uint64_t s) { return iburst_scenario(false, s); },
                             ChronyFigure{std::nullopt, std::nullopt, 6.0, 75.0,
                                          "1 ms in ~6 s, 100 us/10 ppm in ~75 s"},
                             Target{std::nullopt, std::nullopt, 60.0}, 10});
  for (double off : {-0.1, 0.1, -1.0, 1.0, -100.0, 100.0, -1e8, 1e8}) {
    const bool small = std::abs(off) < 2.0;
    out.push_back(ScenarioSpec{"makestep" + number(off, true),
                               "chrony 109-makestep: makestep 2 1, 10 us jitter",
                               [off](std::uint64_t s) { return makestep_scenario(off, s); },
                               ChronyFigure{std::nullopt, small ? 130.0 : 120.0,
                                            small ? 150.0 : 140.0, std::nullopt, ""},
                               Target{}, 1});
  }
  for (int n = 1; n <= 4; ++n) {
    out.push_back(ScenarioSpec{"falsetickers-" + std::to_string(n),
                               "chrony 009-sourceselection: 5 servers, 1 ms base delay",
                               [n](std::uint64_t s) { return falseticker_scenario(n, s); },
                               ChronyFigure{std::nullopt, n <= 2 ? std::optional<double>(120.0) : std::nullopt,
                                            n <= 2 ? std::optional<double>(210.0) : std::nullopt,
                                            std::nullopt,
                                            n <= 2 ? "still syncs" : (n == 3 ? "no majority" : "no agreement")},
                               Target{}, 1});
  }
  for (int p = 1; p <= 10; ++p) {
    const double interval = static_cast<double>(1LL << p);
    out.push_back(ScenarioSpec{"poll-" + std::to_string(p),
                               "chrony 101-poll: minpoll = maxpoll, 1 us jitter",
                               [p](std::uint64_t s) { return fixed_poll_scenario(p, s); },
                               ChronyFigure{std::nullopt, 2.0 * interval,
                                            static_cast<double>((1LL << p) * 21 / 10 + 1),
                                            std::nullopt, "max <= 10 us, RMS <= 5 us"},
                               Target{}, 1});
  }
  out.push_back(ScenarioSpec{"intermittent", "chrony 014-intermittent: up 1200 s of every 10000 s",
                             [](std::uint64_t s) { return intermittent_scenario(s); },
                             ChronyFigure{std::nullopt, std::nullopt, 210.0, std::nullopt,
                                          "bars: max 0.1 s, RMS 2 ms, RMS freq 20 ppm"},
                             Target{}, 1});
  out.push_back(ScenarioSpec{"holdover", "network up 30 min per day, 3 days",
                             [](std::uint64_t s) { return holdover_scenario(s); },
                             ChronyFigure{std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                                          "no chrony bar (014's: max 0.1 s)"},
                             Target{}, 1});
  out.push_back(ScenarioSpec{"local-fallback", "all upstreams lost 2000-6000 s: LOCL, then back",
                             [](std::uint64_t s) { return local_fallback_scenario(s); },
                             ChronyFigure{}, Target{}, 1});
  const double jitters[] = {10e-6, 100e-6, 1e-3, 10e-3};
  const double chrony_default[] = {35e-6, 109e-6, 475e-6, 1603e-6};
  const double chrony_poll64[] = {14e-6, 56e-6, 229e-6, 750e-6};
  for (int fixed = 0; fixed <= 1; ++fixed) {
    for (int i = 0; i < 4; ++i) {
      const double j = jitters[i];
      const double fig = fixed ? chrony_poll64[i] : chrony_default[i];
      ScenarioConfig probe = jitter_scenario(j, fixed != 0, 1);
      out.push_back(ScenarioSpec{probe.name,
                                 fixed ? "comparison: poll fixed at 64 s, wander 10 ppb/s"
                                       : "comparison: default polling, wander 1 ppb/s",
                                 [j, fixed](std::uint64_t s) { return jitter_scenario(j, fixed != 0, s); },
                                 ChronyFigure{fig, std::nullopt, std::nullopt, std::nullopt, ""},
                                 Target{fig * 0.5, std::nullopt, std::nullopt}, 10});
    }
  }
  return out;
}

AggregateResult aggregate(const std::string& name, const std::vector<ScenarioResult>& runs) {
  AggregateResult a;
  a.name = name;
  a.runs = static_cast<int>(runs.size());
  if (runs.empty()) return a;
  bool all_synced = true, all_fine = true;
  double worst = 0.0, worst_fine = 0.0, sum_sync = 0.0, sum_fine = 0.0;
  int synced = 0, fine = 0;
  std::vector<double> fines;
  for (const auto& r : runs) {
    a.mean_requests += static_cast<double>(r.requests);
    fines.push_back(r.fine_sync_time_s.value_or(INFINITY));
    if (r.fine_sync_time_s) {
      sum_fine += *r.fine_sync_time_s;
      ++fine;
    }
    a.mean_rms_offset_s += r.stats.rms_offset_s;
    a.mean_rms_freq_ppm += r.stats.rms_freq_ppm;
    a.max_offset_s = std::max(a.max_offset_s, r.stats.max_offset_s);
    if (r.sync_time_s) {
      worst = std::max(worst, *r.sync_time_s);
      sum_sync += *r.sync_time_s;
      ++synced;
    } else {
      all_synced = false;
    }
    if (r.fine_sync_time_s) {
      worst_fine = std::max(worst_fine, *r.fine_sync_time_s);
    } else {
      all_fine = false;
    }
  }
  const double n = static_cast<double>(runs.size());
  a.mean_requests /= n;
  if (fine > 0) a.mean_fine_sync_s = sum_fine / fine;
  std::sort(fines.begin(), fines.end());
  const double median = fines[(fines.size() - 1) / 2];
  if (std::isfinite(median)) a.median_fine_sync_s = median;
  a.mean_rms_offset_s /= n;
  a.mean_rms_freq_ppm /= n;
  if (all_synced) a.worst_sync_s = worst;
  if (all_fine) a.worst_fine_sync_s = worst_fine;
  if (synced > 0) a.mean_sync_s = sum_sync / synced;
  return a;
}

}  // namespace gnomon::sim
