#include "lib/sync_engine.hpp"

#include "lib/fallback_drift.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace gnomon {

namespace {

constexpr int kNoOrphanStratum = 16;
// initstepslew: the configured sources start this long after the initial
// correction (or after giving up), so that a server used for both is not
// polled faster than a burst, s.
constexpr double kInitSwitchDelayS = 2.0;
constexpr int kLoclPoll = 6;
// Frequency uncertainty of a clock nothing is known about, s/s: what the
// kernel can correct (the tick moves by up to 10 %). A tighter prior makes
// the first samples of a clock that is far off look like outliers.
constexpr double kNoFrequencyPrior = 0.1;

// Least time between requests to different sources, s: an eighth of the
// poll interval (so that 8 sources at one poll fit), within these bounds,
// stretched by up to 2 % at random.
constexpr double kMinSamplingSeparationS = 0.002;
constexpr double kMaxSamplingSeparationS = 0.2;
constexpr double kSamplingRandomness = 0.02;

Duration sampling_separation(int poll, RandomSource& rng) {
  const double s = std::clamp(std::ldexp(1.0, poll - 3), kMinSamplingSeparationS, kMaxSamplingSeparationS);
  std::array<std::uint8_t, 4> r{};
  rng.fill(r);
  const double u = static_cast<double>((std::uint32_t{r[0]} << 24) | (std::uint32_t{r[1]} << 16) |
                                       (std::uint32_t{r[2]} << 8) | r[3]) /
                   4294967296.0;
  return Duration::from_seconds(s * (1.0 + kSamplingRandomness * u));
}

// The selection options written on a source line.
std::uint8_t configured_select_options(const SourceConfig& c) {
  std::uint8_t o = 0;
  if (c.noselect) o |= kSelectNoselect;
  if (c.prefer) o |= kSelectPrefer;
  if (c.require) o |= kSelectRequire;
  if (c.trust) o |= kSelectTrust;
  return o;
}

bool authenticated(const SourceConfig& c) { return c.key.has_value() || c.nts; }

// Identity of a config entry across reloads: everything but where it was written.
bool same_entry(const SourceConfig& a, const SourceConfig& b) {
  SourceConfig x = a;
  x.origin = b.origin;
  return x == b;
}

}  // namespace

EngineOptions EngineOptions::from_config(const Config& config) {
  EngineOptions o;
  o.reference.makestep = config.clock.makestep;
  o.reference.maxslewrate_ppm = config.clock.maxslewrate_ppm;
  o.reference.maxupdateskew_ppm = config.clock.maxupdateskew_ppm;
  o.reference.max_clock_error_ppm = config.clock.maxclockerror_ppm;
  o.selection.max_clock_error_ppm = config.clock.maxclockerror_ppm;
  o.reference.local = config.local;
  o.reference.maxchange = config.clock.maxchange;
  o.reference.max_drift_ppm = config.clock.maxdrift_ppm;
  o.reference.correction_time_ratio = config.clock.corrtimeratio;
  o.reference.log_change_threshold_s = config.clock.logchange_s;
  o.selection.min_sources = config.select.min_sources;
  o.selection.max_distance_s = config.select.max_distance_s;
  o.selection.max_jitter_s = config.select.max_jitter_s;
  o.selection.combine_limit = config.select.combine_limit;
  o.selection.reselect_distance_s = config.select.reselect_distance_s;
  o.selection.stratum_weight_s = config.select.stratum_weight_s;
  o.min_samples = config.select.min_samples;
  o.max_samples = config.select.max_samples;
  o.auth_select = config.select.auth_select;
  o.initstepslew = config.clock.initstepslew;
  o.update_once = config.clock.update_once;
  o.fallbackdrift = config.clock.fallbackdrift;
  if (std::any_of(config.sources.begin(), config.sources.end(),
                  [](const SourceConfig& s) { return s.is_local_clock(); }))
    o.reference.local.enabled = true;
  o.selection.orphan_stratum =
      o.reference.local.enabled && o.reference.local.orphan ? o.reference.local.stratum
                                                            : kNoOrphanStratum;
  return o;
}

SourceStatsOptions EngineOptions::default_stats_options() {
  SourceStatsOptions o;
  o.estimator = StatsEstimator::Kalman;
  return o;
}

void EngineOptions::use_chrony_algorithms() {
  stats.estimator = StatsEstimator::Regression;
  poll_rule = PollRule::ChronySamples;
  poll_target = 8;
  iburst_ramp = false;
  sync_ramp = false;
  reference.fine_slew_rate_ppm = 0.0;
}

struct SyncEngine::Impl {
  struct Member {
    SourceId id = 0;
    std::unique_ptr<Source> source;  // null until the name is resolved
    int unreachable_run = 0;
    Duration pending_at_tx{};        // slew pending when the last request was sent
    std::uint32_t our_refid = 0;     // refid of our address towards it (orphan mode)
    bool bad = false;                // to be replaced (pool members)
  };
  struct Entry {
    EntryId id = 0;
    SourceConfig config;
    bool local = false;
    bool literal = false;            // an IP literal: no DNS
    bool init = false;               // an initstepslew server
    std::vector<Member> members;
    std::optional<TimePoint> resolve_at;  // next DNS query
    double retry_s = 0.0;
  };

  Impl(ClockControl& c, const EngineOptions& o)
      : clock(c),
        options(o),
        selection(o.selection),
        reference(c, o.reference),
        fallback(o.fallbackdrift ? FallbackDrift(o.fallbackdrift->min_log2, o.fallbackdrift->max_log2)
                                 : FallbackDrift()) {}

  ClockControl& clock;
  EngineOptions options;
  Selection selection;
  Reference reference;
  FallbackDrift fallback;
  std::vector<Entry> entries;
  EntryId next_entry = 1;
  SourceId next_source = 1;
  std::optional<SourceId> local_id;  // the LOCL row, when the local reference is enabled
  bool started = false;
  std::optional<TimePoint> last_dispatch;  // when the latest request was sent
  // initstepslew: while `init_measuring`, `entries` holds only the
  // initstepslew servers and the configured entries wait in `held`; at
  // `init_switch_at` they change places.
  bool init_measuring = false;
  std::optional<TimePoint> init_switch_at;
  std::vector<Entry> held;
  bool holding = false;              // adding to `held`: sources are not started
  bool adding_init = false;          // adding the initstepslew servers

  [[nodiscard]] TimePoint cooked(TimePoint now) { return now - clock.remaining_slew(); }

  // The selection options of a source: those written on its line, plus what
  // authselectmode adds given which kinds of selectable sources exist.
  [[nodiscard]] std::uint8_t select_options(const SourceConfig& c) const {
    std::uint8_t o = configured_select_options(c);
    if (o & kSelectNoselect) return o;
    bool any_auth = false;
    bool any_unauth = false;
    for (const Entry& e : entries) {
      if (e.local || e.config.noselect) continue;
      (authenticated(e.config) ? any_auth : any_unauth) = true;
    }
    switch (options.auth_select) {
      case AuthSelectMode::Ignore:
        break;
      case AuthSelectMode::Mix:
        if (authenticated(c) && any_unauth) o |= kSelectRequire | kSelectTrust;
        break;
      case AuthSelectMode::Prefer:
        if (!authenticated(c) && any_auth) o |= kSelectNoselect;
        break;
      case AuthSelectMode::Require:
        if (!authenticated(c)) o |= kSelectNoselect;
        break;
    }
    return o;
  }

  [[nodiscard]] bool local_enabled() const {
    if (options.reference.local.enabled) return true;
    return std::any_of(entries.begin(), entries.end(), [](const Entry& e) { return e.local; });
  }

  void sync_local_options() {
    ReferenceOptions ro = options.reference;
    SelectionOptions so = options.selection;
    const bool enabled = local_enabled();
    ro.local.enabled = enabled;
    if (enabled && ro.local.orphan) so.orphan_stratum = ro.local.stratum;
    reference.set_options(ro);
    selection.set_options(so);
    if (enabled && !local_id) local_id = next_source++;
    if (!enabled && local_id) {
      selection.remove(*local_id);
      local_id.reset();
    }
  }

  // How well our clock's frequency is known now (the reference's skew, e.g.
  // from the drift file), as the prior of new sources' estimates.
  [[nodiscard]] double frequency_prior() const {
    return std::min(reference.drift().skew_ppm * 1e-6, kNoFrequencyPrior);
  }

  [[nodiscard]] std::uint32_t refid_of(const IpAddress& ip) const {
    if (ip.is_v4()) return ip.v4_host_order();
    if (options.refid_of) return options.refid_of(ip);
    return 0;
  }

  [[nodiscard]] static std::string row_name(const Entry& e, const Member& m) {
    if (!m.source) return e.config.address;
    const std::string ip = m.source->remote().ip.to_string();
    if (ip == e.config.address) return ip;
    return ip + " (" + e.config.address + ")";
  }

  // The sync ramp (SourceOptions::sync_ramp) only with a single source:
  // with several, their combination already brings more samples per poll,
  // and the ramp's extra requests would be multiplied by their number. A
  // pool counts as its maxsources.
  [[nodiscard]] bool sync_ramp_wanted() const {
    std::size_t configured = 0;
    for (const Entry& x : entries) {
      if (x.local) continue;
      configured += x.config.mode == SourceMode::Pool
                        ? static_cast<std::size_t>(std::max(1, x.config.max_sources))
                        : 1;
    }
    return options.sync_ramp && configured <= 1;
  }
  void update_sync_ramp() {
    const bool on = sync_ramp_wanted();
    for (auto& x : entries)
      for (auto& m : x.members)
        if (m.source) m.source->set_sync_ramp(on && !x.init);
  }

  Member make_member() {
    Member m;
    m.id = next_source++;
    return m;
  }

  void attach(Entry& e, Member& m, const IpAddress& ip, TimePoint now) {
    const SocketAddress remote{ip, e.config.port};
    if (m.source) {
      m.source->change_address(now, remote);
      selection.reset(m.id);
    } else {
      SourceOptions so = SourceOptions::from_config(e.config);
      so.stats = options.stats;
      so.stats.max_jitter_s = options.selection.max_jitter_s;
      const std::optional<int> min_samples = e.config.minsamples ? e.config.minsamples : options.min_samples;
      const std::optional<int> max_samples = e.config.maxsamples ? e.config.maxsamples : options.max_samples;
      if (min_samples) so.stats.min_samples = *min_samples;
      if (max_samples) so.stats.max_samples = *max_samples;
      so.poll_rule = options.poll_rule;
      so.poll_target = e.config.polltarget.value_or(options.poll_target);
      so.iburst_ramp = options.iburst_ramp && !e.init;
      so.sync_ramp = sync_ramp_wanted() && !e.init;
      m.source = std::make_unique<Source>(remote, so);
      m.source->stats().set_frequency_prior(frequency_prior());
      if (started && !holding) m.source->start(now);
    }
    if ((e.config.nts || e.config.key) && options.make_authenticator) {
      m.source->set_authenticator(options.make_authenticator(e.config, remote));
    }
    m.unreachable_run = 0;
    m.bad = false;
  }

  Entry* find_entry(EntryId id) {
    for (auto& e : entries)
      if (e.id == id) return &e;
    return nullptr;
  }

  Member* find_member(SourceId id, Entry** entry_out = nullptr) {
    for (auto& e : entries)
      for (auto& m : e.members)
        if (m.id == id) {
          if (entry_out) *entry_out = &e;
          return &m;
        }
    return nullptr;
  }

  EntryId add(const SourceConfig& config, TimePoint now) {
    Entry e;
    e.id = next_entry++;
    e.config = config;
    e.init = adding_init;
    if (config.is_local_clock()) {
      e.local = true;
      entries.push_back(std::move(e));
      sync_local_options();
      return entries.back().id;
    }
    e.members.push_back(make_member());
    if (auto ip = IpAddress::parse(config.address)) {
      e.literal = true;
      attach(e, e.members.front(), *ip, now);
    } else {
      e.resolve_at = now;
      e.retry_s = options.resolve_retry_min_s;
    }
    entries.push_back(std::move(e));
    update_sync_ramp();
    return entries.back().id;
  }

  void remove(EntryId id) {
    auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == id; });
    if (it == entries.end()) return;
    for (const auto& m : it->members) selection.remove(m.id);
    const bool was_local = it->local;
    entries.erase(it);
    if (was_local) sync_local_options();
    update_sync_ramp();
  }

  // Candidates for selection, at cooked time `cnow`.
  std::vector<SelectionCandidate> candidates(TimePoint cnow) {
    std::vector<SelectionCandidate> cands;
    for (const auto& e : entries) {
      for (const auto& m : e.members) {
        if (!m.source) continue;
        const Source& s = *m.source;
        SelectionCandidate c;
        c.id = m.id;
        c.name = row_name(e, m);
        c.kind = CandidateKind::Ntp;
        c.refid = refid_of(s.remote().ip);
        c.our_refid = m.our_refid;
        c.options = select_options(e.config);
        c.max_unreachable_run = e.config.maxunreach;
        c.reach = s.reach();
        c.reach_size = s.reach_size();
        c.unreachable_run = m.unreachable_run;
        c.stratum = s.stratum();
        c.leap = s.has_status() ? s.leap() : Leap::Unsynchronised;
        c.data = s.stats().selection_data(cnow);
        c.estimate = s.stats().estimate();
        cands.push_back(std::move(c));
      }
    }
    if (local_id) {
      SelectionCandidate c;
      c.id = *local_id;
      c.name = "LOCL";
      c.kind = CandidateKind::Local;
      c.refid = kLoclRefid;
      c.stratum = options.reference.local.stratum;
      c.leap = Leap::None;
      cands.push_back(std::move(c));
    }
    return cands;
  }

  // Tells every holder of cooked timestamps about a clock correction.
  void notify(const ClockCorrection& corr, Actions& a) {
    for (auto& e : entries)
      for (auto& m : e.members) {
        if (!m.source) continue;
        if (corr.slewed_s != 0.0 || corr.dfreq != 0.0)
          m.source->on_clock_slewed(corr.when, corr.slewed_s, corr.dfreq);
        if (corr.stepped_s != 0.0) m.source->on_clock_stepped(Duration::from_seconds(corr.stepped_s));
      }
    if (corr.slewed_s != 0.0 || corr.dfreq != 0.0 || corr.stepped_s != 0.0) {
      ClockEvent ev;
      ev.stepped = Duration::from_seconds(corr.stepped_s);
      ev.slewed_s = corr.slewed_s;
      ev.dfreq = corr.dfreq;
      a.clock.push_back(ev);
    }
  }

  void mark_bad(SourceId id, TimePoint now) {
    Entry* e = nullptr;
    Member* m = find_member(id, &e);
    // Names (pool or server) are resolved again; literals stay.
    if (!m || !e || e->literal || e->local || m->bad) return;
    m->bad = true;
    const TimePoint at = now + Duration::from_seconds(options.pool_replace_delay_s);
    if (!e->resolve_at || *e->resolve_at > at) e->resolve_at = at;
    e->retry_s = options.resolve_retry_min_s;
  }

  void run_selection(TimePoint now, std::optional<SourceId> updated, Actions& a) {
    const TimePoint cnow = cooked(now);
    const std::vector<SelectionCandidate> cands = candidates(cnow);
    SelectionResult res = selection.select(cnow, cands, updated);
    for (auto& ev : res.events) a.events.push_back(std::move(ev));
    reference.set_local_active(res.local_active);
    if (res.unsynchronise) reference.set_unsynchronised();
    if (res.update_reference && !init_measuring && init_switch_at) {
      // The initstepslew servers, between their one correction and the
      // switch to the configured sources: they steer nothing more.
    } else if (res.update_reference && init_measuring) {
      ReferenceResult rr =
          options.update_once
              ? reference.initial_correction(now, res.reference, 0.0, InitialCorrection::UpdateOnce)
              : reference.initial_correction(now, res.reference,
                                             options.initstepslew ? options.initstepslew->threshold_s : 0.0,
                                             InitialCorrection::InitStepSlew);
      for (auto& ev : rr.events) a.events.push_back(std::move(ev));
      if (rr.updated) notify(rr.correction, a);
      if (options.update_once) {
        init_measuring = false;
        a.quit = 0;
      } else {
        end_initstepslew(now);
      }
    } else if (res.update_reference) {
      const double previous_interval_s = reference.last_update_interval_s();
      ReferenceResult rr = reference.update(now, res.reference);
      if (rr.updated) {
        fallback.on_update(rr.correction.freq_ppm, reference.last_update_interval_s(),
                           previous_interval_s);
      }
      for (auto& ev : rr.events) a.events.push_back(std::move(ev));
      if (rr.panic) a.panic = true;
      if (rr.updated) notify(rr.correction, a);
      if (rr.write_drift) a.write_drift = reference.drift();
    } else if (res.outcome == SelectionOutcome::Selected) {
      reference.update_leap(res.leap_vote);
    }
    reference.note_time(now);
    for (auto& e : entries)
      for (auto& m : e.members)
        if (m.source) m.source->set_sync_peer(res.selected_id == m.id);
    for (SourceId id : res.bad_sources) mark_bad(id, now);
  }

  // --- initstepslew ---------------------------------------------------------

  // Starts measuring the initstepslew servers; the entries added so far wait.
  void begin_initstepslew(TimePoint now) {
    if (options.update_once) {
      init_measuring = true;  // the configured sources themselves are measured
      return;
    }
    if (!options.initstepslew || options.initstepslew->addresses.empty()) return;
    held.swap(entries);
    entries.clear();
    init_measuring = true;
    // chronyd's initstepslew servers: an iburst, then polls at minpoll
    // (no ramp), so that they are given up on at chronyd's time.
    adding_init = true;
    for (const std::string& address : options.initstepslew->addresses) {
      SourceConfig c;
      c.address = address;
      c.iburst = true;
      add(c, now);
    }
    adding_init = false;
  }

  // Adds an entry while the initstepslew servers are measured: it waits.
  EntryId add_held(const SourceConfig& config, TimePoint now) {
    entries.swap(held);
    holding = true;
    const EntryId id = add(config, now);
    holding = false;
    entries.swap(held);
    return id;
  }

  // Whether the initstepslew servers can no longer give a correction: each
  // has had its initial burst, or can no longer collect the samples
  // selection needs within it.
  [[nodiscard]] bool initstepslew_hopeless() const {
    constexpr int kBurstUpdates = kReachBits - 1;
    for (const Entry& e : entries)
      for (const Member& m : e.members) {
        if (!m.source || !m.source->online()) continue;
        const int size = m.source->reach_size();
        if (size >= kBurstUpdates) continue;
        if (kBurstUpdates - size + m.source->stats().samples() >= kMinSamplesForRegression) return false;
      }
    return true;
  }

  void check_initstepslew(TimePoint now, Actions& a) {
    if (!init_measuring || !initstepslew_hopeless()) return;
    if (options.update_once) {
      a.events.push_back(LogEvent{LogLevel::Warn, "No suitable source for synchronisation"});
      init_measuring = false;
      a.quit = 1;
      return;
    }
    a.events.push_back(LogEvent{LogLevel::Warn, "No suitable source for initstepslew"});
    end_initstepslew(now);
  }

  void end_initstepslew(TimePoint now) {
    init_measuring = false;
    init_switch_at = now + Duration::from_seconds(kInitSwitchDelayS);
  }

  // The initstepslew servers go; the configured entries start.
  void switch_from_initstepslew(TimePoint now, Actions& a) {
    init_switch_at.reset();
    for (const Entry& e : entries)
      for (const Member& m : e.members) selection.remove(m.id);
    entries.clear();
    // As chronyd: the selection loss is reported while no source is left
    // ("no sources"), not later as if the configured ones had failed.
    run_selection(now, std::nullopt, a);
    entries.swap(held);
    update_sync_ramp();
    for (auto& e : entries)
      for (auto& m : e.members)
        if (m.source) m.source->start(now);
    sync_local_options();
  }

  // When the next fallback frequency applies (raw clock, approximately).
  [[nodiscard]] std::optional<TimePoint> fallback_at() const {
    const std::optional<TimePoint> last = reference.last_update();
    const std::optional<double> after = fallback.next_after_s();
    if (!last || !after) return std::nullopt;
    return *last + Duration::from_seconds(*after);
  }

  void run_fallback_drift(TimePoint now, Actions& a) {
    const std::optional<TimePoint> last = reference.last_update();
    if (!last || !fallback.enabled()) return;
    // Measured as fallback_at() schedules it, so that a due deadline is
    // always consumed (the pending slew makes no difference that matters).
    const std::optional<double> freq = fallback.due((now - *last).to_seconds());
    if (!freq) return;
    notify(reference.set_frequency(now, *freq), a);
    reference.set_unsynchronised();
  }

  // Timers of sources and DNS retries.
  void run_timers(TimePoint now, RandomSource& rng, Actions& a) {
    run_fallback_drift(now, a);
    reference.note_time(now);
    if (init_switch_at && *init_switch_at <= now) switch_from_initstepslew(now, a);
    bool reach_lost = false;
    for (auto& e : entries) {
      for (auto& m : e.members) {
        if (!m.source) continue;
        Source& s = *m.source;
        const auto t = s.next_timer();
        if (!t || *t > now) continue;
        // Requests to different sources leave at least a sampling
        // separation apart, so that they do not queue behind each other.
        if (last_dispatch) {
          const TimePoint earliest = *last_dispatch + sampling_separation(s.poll(), rng);
          if (now < earliest && now >= *last_dispatch) {
            s.defer_timer(earliest);
            continue;
          }
        }
        TimerAction ta = s.handle_timer(now, rng);
        if (ta.request) last_dispatch = now;
        if (!ta.request) continue;
        m.pending_at_tx = clock.remaining_slew();
        a.sends.push_back(SendRequest{m.id, *ta.request, ta.receive_deadline});
        if (s.reach() == 0) {
          if (m.unreachable_run < 1000000000) ++m.unreachable_run;
          reach_lost = true;
          if (s.reach_size() >= kReachBits) mark_bad(m.id, now);
        } else {
          m.unreachable_run = 0;
        }
      }
      if (!e.local && !e.literal && e.resolve_at && *e.resolve_at <= now) {
        a.resolves.push_back(ResolveRequest{e.id, e.config.address, e.config.port});
        // Ask again after the back-off if no answer comes.
        e.resolve_at = now + Duration::from_seconds(e.retry_s);
        e.retry_s = std::min(e.retry_s * 2.0, options.resolve_retry_max_s);
      }
    }
    if (reach_lost) run_selection(now, std::nullopt, a);
    check_initstepslew(now, a);
  }

  [[nodiscard]] std::optional<TimePoint> wakeup() const {
    std::optional<TimePoint> best;
    auto consider = [&](std::optional<TimePoint> t) {
      if (t && (!best || *t < *best)) best = t;
    };
    // The served state switches to the local reference by itself.
    consider(reference.local_switch_at());
    consider(init_switch_at);
    consider(fallback_at());
    for (const auto& e : entries) {
      if (!e.local && !e.literal) consider(e.resolve_at);
      for (const auto& m : e.members)
        if (m.source && started) consider(m.source->next_timer());
    }
    return best;
  }

  void finish(Actions& a) { a.next_wakeup = wakeup(); }
};

SyncEngine::SyncEngine(ClockControl& clock, const EngineOptions& options)
    : impl_(std::make_unique<Impl>(clock, options)) {
  impl_->sync_local_options();
}

SyncEngine::~SyncEngine() = default;

EntryId SyncEngine::add_entry(const SourceConfig& config, TimePoint now) {
  if (impl_->init_measuring || impl_->init_switch_at) return impl_->add_held(config, now);
  return impl_->add(config, now);
}

void SyncEngine::remove_entry(EntryId entry, TimePoint now) {
  static_cast<void>(now);
  impl_->remove(entry);
}

ReloadResult SyncEngine::reload(const std::vector<SourceConfig>& sources, TimePoint now) {
  ReloadResult r;
  // While the initstepslew servers are measured, the configured entries wait
  // aside: the reload applies to them.
  const bool waiting = impl_->init_measuring || impl_->init_switch_at.has_value();
  if (waiting) {
    impl_->entries.swap(impl_->held);
    impl_->holding = true;
  }
  const auto log_entry = [&](const SourceConfig& c, bool added) {
    if (c.is_local_clock()) return;
    r.events.push_back(LogEvent{LogLevel::Info, std::string(added ? "Added " : "Removed ") +
                                                    (c.mode == SourceMode::Pool ? "pool " : "source ") +
                                                    c.address});
  };
  std::vector<bool> wanted_taken(sources.size(), false);
  std::vector<EntryId> to_remove;
  for (auto& e : impl_->entries) {
    bool keep = false;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      if (!wanted_taken[i] && same_entry(e.config, sources[i])) {
        wanted_taken[i] = true;
        e.config.origin = sources[i].origin;
        keep = true;
        break;
      }
    }
    // Waiting entries were never started: the reload is what adds them.
    if (keep) {
      r.kept.push_back(e.id);
      if (waiting) log_entry(e.config, true);
    } else {
      to_remove.push_back(e.id);
      if (!waiting) log_entry(e.config, false);
    }
  }
  for (EntryId id : to_remove) {
    impl_->remove(id);
    r.removed.push_back(id);
  }
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (!wanted_taken[i]) {
      r.added.push_back(impl_->add(sources[i], now));
      log_entry(sources[i], true);
    }
  if (waiting) {
    impl_->holding = false;
    impl_->entries.swap(impl_->held);
  }
  return r;
}

void SyncEngine::set_options(const EngineOptions& options) {
  impl_->options = options;
  impl_->sync_local_options();
}

void SyncEngine::load_drift(const DriftData& drift) {
  impl_->reference.load_drift(drift);
  for (auto& e : impl_->entries)
    for (auto& m : e.members)
      if (m.source) m.source->stats().set_frequency_prior(impl_->frequency_prior());
}

DriftData SyncEngine::drift() const { return impl_->reference.drift(); }

Actions SyncEngine::start(TimePoint now) {
  Actions a;
  impl_->started = true;
  impl_->begin_initstepslew(now);
  for (auto& e : impl_->entries)
    for (auto& m : e.members)
      if (m.source) m.source->start(now);
  impl_->run_selection(now, std::nullopt, a);
  for (auto& e : impl_->entries) {
    if (!e.local && !e.literal && e.resolve_at && *e.resolve_at <= now) {
      a.resolves.push_back(ResolveRequest{e.id, e.config.address, e.config.port});
      e.resolve_at = now + Duration::from_seconds(e.retry_s);
      e.retry_s = std::min(e.retry_s * 2.0, impl_->options.resolve_retry_max_s);
    }
  }
  impl_->finish(a);
  return a;
}

Actions SyncEngine::handle_timer(TimePoint now, RandomSource& rng) {
  Actions a;
  if (!impl_->started) {
    impl_->finish(a);
    return a;
  }
  impl_->run_timers(now, rng, a);
  impl_->finish(a);
  return a;
}

Actions SyncEngine::handle_reply(TimePoint now, SourceId source,
                                 std::span<const std::uint8_t> bytes, ReplyContext ctx) {
  Actions a;
  Impl::Member* m = impl_->find_member(source);
  if (m == nullptr || !m->source) {
    impl_->finish(a);
    return a;
  }
  // Measure against the cooked clock (what it reads once the slew is done).
  ctx.timer_now = now;
  ctx.rx_time = ctx.rx_time - impl_->clock.remaining_slew();
  ctx.tx_time = ctx.tx_time - m->pending_at_tx;
  ServedState ours;
  if (ctx.our_state == nullptr) {
    ours = impl_->reference.served_state(now);
    ctx.our_state = &ours;
  }
  const ReplyResult rr = m->source->handle_reply(bytes, ctx);
  if (rr.kod == KissCode::Rate && rr.disposition != ReplyDisposition::Ignored) {
    a.events.push_back(
        LogEvent{LogLevel::Warn, "Received KoD RATE from " + m->source->remote().ip.to_string()});
  }
  if (rr.disposition != ReplyDisposition::Ignored && ctx.local_refid != 0)
    m->our_refid = ctx.local_refid;
  if (m->source->reach() != 0) m->unreachable_run = 0;
  if (rr.disposition == ReplyDisposition::Accepted && rr.stats_updated) impl_->run_selection(now, source, a);
  impl_->check_initstepslew(now, a);
  impl_->finish(a);
  return a;
}

Actions SyncEngine::on_resolved(EntryId entry, const std::vector<IpAddress>& addresses,
                                TimePoint now) {
  Actions a;
  Impl::Entry* e = impl_->find_entry(entry);
  if (e == nullptr || e->local || e->literal) {
    impl_->finish(a);
    return a;
  }
  if (addresses.empty()) {
    // Failed: the retry is already scheduled by the back-off.
    impl_->finish(a);
    return a;
  }
  // Addresses already polled (a bad member's too: it needs a different one).
  auto in_use = [&](const IpAddress& ip) {
    for (const auto& m : e->members)
      if (m.source && m.source->remote().ip == ip) return true;
    return false;
  };
  std::vector<IpAddress> fresh;
  for (const auto& ip : addresses)
    if (!in_use(ip) && std::find(fresh.begin(), fresh.end(), ip) == fresh.end()) fresh.push_back(ip);
  std::size_t next = 0;
  // Unresolved or bad members first.
  for (auto& m : e->members) {
    if (next >= fresh.size()) break;
    if (!m.source || m.bad) impl_->attach(*e, m, fresh[next++], now);
  }
  if (e->config.mode == SourceMode::Pool) {
    const std::size_t max = static_cast<std::size_t>(std::max(1, e->config.max_sources));
    while (e->members.size() < max && next < fresh.size()) {
      e->members.push_back(impl_->make_member());
      impl_->attach(*e, e->members.back(), fresh[next++], now);
    }
  }
  const bool all_good = std::all_of(e->members.begin(), e->members.end(),
                                    [](const Impl::Member& m) { return m.source && !m.bad; });
  if (all_good) {
    e->resolve_at.reset();
    e->retry_s = impl_->options.resolve_retry_min_s;
  }
  impl_->finish(a);
  return a;
}

std::optional<TimePoint> SyncEngine::next_wakeup() const { return impl_->wakeup(); }

Actions SyncEngine::set_local(const LocalConfig& local, TimePoint now) {
  Actions a;
  impl_->options.reference.local = local;
  impl_->sync_local_options();
  impl_->run_selection(now, std::nullopt, a);
  impl_->finish(a);
  return a;
}

Actions SyncEngine::make_step(TimePoint now) {
  Actions a;
  const ClockCorrection corr = impl_->reference.make_step(now);
  if (corr.stepped_s != 0.0) {
    impl_->notify(corr, a);
    char buf[96];
    std::snprintf(buf, sizeof buf, "System clock was stepped by %.6f seconds", -corr.stepped_s);
    a.events.push_back(LogEvent{LogLevel::Warn, buf});
  }
  impl_->finish(a);
  return a;
}

int SyncEngine::set_online(TimePoint now, bool online, std::optional<IpAddress> address) {
  int n = 0;
  for (auto& e : impl_->entries)
    for (auto& m : e.members) {
      if (!m.source) continue;
      if (address && !(m.source->remote().ip == *address)) continue;
      m.source->set_online(now, online);
      ++n;
    }
  return n;
}

int SyncEngine::burst(TimePoint now, int good, int total, std::optional<IpAddress> address) {
  int n = 0;
  for (auto& e : impl_->entries)
    for (auto& m : e.members) {
      if (!m.source) continue;
      if (address && !(m.source->remote().ip == *address)) continue;
      m.source->initiate_burst(now, good, total);
      ++n;
    }
  return n;
}

void SyncEngine::on_clock_stepped(Duration offset) {
  for (auto& e : impl_->entries)
    for (auto& m : e.members)
      if (m.source) m.source->on_clock_stepped(offset);
  impl_->reference.on_clock_adjusted(TimePoint{}, offset.to_seconds(), 0.0);
}

Actions SyncEngine::on_unknown_step(TimePoint now, Duration jump) {
  Actions a;
  a.events.push_back(LogEvent{LogLevel::Warn, jump.ns < 0 ? "Backward time jump detected!" : "Forward time jump detected!"});
  Impl& im = *impl_;
  const Duration pending = im.clock.remaining_slew();
  if (pending.ns != 0) im.clock.slew_offset(-pending, Duration{}, im.options.reference.maxslewrate_ppm);
  for (auto& e : im.entries)
    for (auto& m : e.members)
      if (m.source) m.source->on_unknown_step(-jump);
  if (im.last_dispatch) im.last_dispatch = *im.last_dispatch + jump;
  im.reference.on_unknown_step();
  im.run_selection(now, std::nullopt, a);
  im.finish(a);
  return a;
}

ServedState SyncEngine::served_state(TimePoint now) { return impl_->reference.served_state(now); }

TrackingReport SyncEngine::tracking(TimePoint now) { return impl_->reference.tracking(now); }

std::vector<SourceRow> SyncEngine::sources(TimePoint now) {
  std::vector<SourceRow> rows;
  const TimePoint cnow = impl_->cooked(now);
  auto local_row = [&](EntryId entry) {
    SourceRow r;
    r.id = *impl_->local_id;
    r.entry = entry;
    r.name = "LOCL";
    r.refid = kLoclRefid;
    r.mode = SourceRowMode::Local;
    const SelectInfo* si = impl_->selection.info(r.id);
    r.status = si ? si->status : SelectStatus::Distant;
    r.state = source_state_char(r.status);
    r.stratum = impl_->reference.options().local.stratum;
    r.poll = kLoclPoll;
    r.reach = 0377;
    r.last_rx_ago_s = 0.0;
    r.last_sample.valid = true;
    r.last_sample.time = cnow;
    r.leap = Leap::None;
    return r;
  };
  bool local_shown = false;
  for (const auto& e : impl_->entries) {
    if (e.local) {
      if (impl_->local_id && !local_shown) {
        rows.push_back(local_row(e.id));
        local_shown = true;
      }
      continue;
    }
    for (const auto& m : e.members) {
      SourceRow r;
      r.id = m.id;
      r.entry = e.id;
      r.name = e.config.address;
      r.mode = e.config.mode == SourceMode::Peer ? SourceRowMode::Peer : SourceRowMode::Server;
      r.sel_options = impl_->select_options(e.config);
      const SelectInfo* si = impl_->selection.info(m.id);
      r.status = si ? si->status : SelectStatus::BadStats;
      r.state = source_state_char(r.status);
      r.poll = e.config.minpoll;
      if (m.source) {
        const Source& s = *m.source;
        r.address = s.remote();
        r.refid = impl_->refid_of(s.remote().ip);
        r.stratum = s.has_status() ? s.stratum() : 0;
        r.poll = s.poll();
        r.reach = s.reach();
        r.opmode = s.mode();
        if (auto rx = s.last_rx()) r.last_rx_ago_s = (cnow - *rx).to_seconds();
        r.last_sample = s.stats().last_sample_report();
        r.leap = s.has_status() ? s.leap() : Leap::Unsynchronised;
      }
      rows.push_back(std::move(r));
    }
  }
  if (impl_->local_id && !local_shown) rows.push_back(local_row(0));
  return rows;
}

std::vector<SourcestatsRow> SyncEngine::sourcestats(TimePoint now) {
  std::vector<SourcestatsRow> rows;
  const TimePoint cnow = impl_->cooked(now);
  for (const SourceRow& sr : sources(now)) {
    SourcestatsRow r;
    r.id = sr.id;
    r.name = sr.name;
    r.address = sr.address;
    r.refid = sr.refid;
    if (sr.mode != SourceRowMode::Local) {
      Impl::Member* m = impl_->find_member(sr.id);
      if (m && m->source) r.stats = m->source->stats().sourcestats_report(cnow);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<SelectdataRow> SyncEngine::selectdata(TimePoint now) {
  std::vector<SelectdataRow> rows;
  for (const SourceRow& sr : sources(now)) {
    SelectdataRow r;
    r.id = sr.id;
    r.name = sr.name;
    r.address = sr.address;
    r.refid = sr.refid;
    r.mode = sr.mode;
    if (const SelectInfo* si = impl_->selection.info(sr.id)) r.info = *si;
    r.info.status = sr.status;
    r.info.conf_options = sr.sel_options;
    r.info.eff_options = sr.sel_options;
    r.state_letter = select_status_letter(sr.status);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::optional<NtpDataReport> SyncEngine::ntpdata(const IpAddress& address) const {
  for (const auto& e : impl_->entries)
    for (const auto& m : e.members)
      if (m.source && m.source->remote().ip == address) return m.source->ntp_data();
  return std::nullopt;
}

ActivityReport SyncEngine::activity() const {
  ActivityReport r;
  for (const auto& e : impl_->entries)
    for (const auto& m : e.members) {
      if (!m.source) {
        ++r.unresolved;
        continue;
      }
      switch (m.source->mode()) {
        case SourceOpMode::Online: ++r.online; break;
        case SourceOpMode::Offline:
        case SourceOpMode::Denied: ++r.offline; break;
        case SourceOpMode::BurstWasOnline: ++r.burst_online; break;
        case SourceOpMode::BurstWasOffline: ++r.burst_offline; break;
      }
    }
  return r;
}

std::optional<SourceId> SyncEngine::selected_source() const { return impl_->selection.selected_id(); }

bool SyncEngine::synchronised() const { return impl_->reference.synchronised(); }

bool SyncEngine::local_active() const { return impl_->reference.local_active(); }

const Source* SyncEngine::source(SourceId id) const {
  for (const auto& e : impl_->entries)
    for (const auto& m : e.members)
      if (m.id == id) return m.source.get();
  return nullptr;
}

const Reference& SyncEngine::reference() const { return impl_->reference; }

const Selection& SyncEngine::selection() const { return impl_->selection; }

}  // namespace gnomon
