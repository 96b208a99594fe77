#include "daemon/time_sync.hpp"

#include <openssl/evp.h>

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <variant>

#include <spdlog/spdlog.h>

#include "daemon/atomic_file.hpp"
#include "daemon/nts_client_auth.hpp"
#include "daemon/socket_util.hpp"
#include "daemon/symmetric_keys.hpp"
#include "lib/drift_file.hpp"
#include "lib/noop_clock.hpp"

namespace gnomon::daemon {

namespace {

// Longest sleep of the sync timer, s: the core's deadlines cover all that
// changes by itself; this only bounds a wait on a deadline-free core.
constexpr std::int64_t kIdleWakeupS = 86400;

// The refid of an address as NTP defines it: the IPv4 address, or the first
// four bytes of the MD5 digest of an IPv6 address.
std::uint32_t refid_of(const IpAddress& a) {
  if (a.is_v4()) return a.v4_host_order();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(a.bytes.data(), 16, md, &md_len, EVP_md5(), nullptr) != 1 || md_len < 4) return 0;
  return (static_cast<std::uint32_t>(md[0]) << 24) | (static_cast<std::uint32_t>(md[1]) << 16) |
         (static_cast<std::uint32_t>(md[2]) << 8) | md[3];
}

void log_event(const LogEvent& e) {
  switch (e.level) {
    case LogLevel::Trace: spdlog::trace("{}", e.text); break;
    case LogLevel::Debug: spdlog::debug("{}", e.text); break;
    case LogLevel::Info: spdlog::info("{}", e.text); break;
    case LogLevel::Warn: spdlog::warn("{}", e.text); break;
    case LogLevel::Error: spdlog::error("{}", e.text); break;
  }
}

}  // namespace

class TimeSync::RandomAdapter final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override { pool_.fill(out.data(), out.size()); }

 private:
  RandomPool pool_;
};

TimeSync::TimeSync(boost::asio::io_context& ctx, const Config& config, StateListener on_state)
    : ctx_(ctx), config_(config), on_state_(std::move(on_state)), timer_(ctx) {}

TimeSync::~TimeSync() = default;

bool TimeSync::open() {
  if (config_.clock.control) {
    LinuxClockOptions o;
    o.rtcsync = config_.clock.rtcsync;
    o.max_slew_rate_ppm = config_.clock.maxslewrate_ppm;
    linux_clock_ = std::make_unique<LinuxClock>(syscalls_, o);
    if (int err = linux_clock_->initialise(); err != 0) {
      spdlog::error("Cannot control the system clock: {} (run as root with CAP_SYS_TIME, or use -x)",
                    std::strerror(-err));
      return false;
    }
  } else {
    clock_ = std::make_unique<NoControlClock>([] { return realtime_now(); });
    spdlog::debug("Disabled control of system clock");
  }
  ClockControl& clock = linux_clock_ ? static_cast<ClockControl&>(*linux_clock_) : *clock_;
  EngineOptions options = EngineOptions::from_config(config_);
  options.refid_of = refid_of;
  // Sources with `key = N` sign requests and verify replies.
  // NTS sources run NTS-KE, then sign and verify with its keys.
  options.make_authenticator = [this](const SourceConfig& c,
                                      const SocketAddress& remote) -> std::shared_ptr<ClientAuthenticator> {
    if (c.nts) return make_nts_client_auth(ctx_, c, remote, config_.nts.trusted_certs);
    return make_symmetric_client_auth(c);
  };
  engine_ = std::make_unique<SyncEngine>(clock, options);
  rng_ = std::make_unique<RandomAdapter>();
  io_ = std::make_unique<NtpClientIo>(
      ctx_, [this](const ReceivedReply& r) { on_reply(r); },
      [this](EntryId e, const std::vector<IpAddress>& a) { on_resolved(e, a); });
  load_drift();
  logs_ = ChronyLogs::from_config(config_.log);
  TimePoint t = now();
  for (const auto& s : config_.sources) engine_->add_entry(s, t);
  return true;
}

TimePoint TimeSync::now() {
  if (linux_clock_) return linux_clock_->now();
  return clock_->now();
}

Duration TimeSync::correction() {
  if (linux_clock_) return Duration{};
  return clock_->now() - realtime_now();
}

void TimeSync::start() {
  check_clock_jump();  // the first reading
  process(engine_->start(now()));
  notify_state();
}

void TimeSync::stop() {
  timer_.cancel();
  if (io_) io_->close_all();
  // As chronyd: the frequency the clock runs with now, synchronised or not
  // (unsynchronised, that is the one loaded at start with its skew, or the
  // kernel's with the worst-case skew, so nothing better is overwritten).
  if (engine_ && !config_.clock.driftfile.empty()) {
    write_drift(engine_->drift());
    if (!drift_warned_) spdlog::debug("Drift file {} saved", config_.clock.driftfile);
  }
}

void TimeSync::check_drift_directory() {
  const std::string& path = config_.clock.driftfile;
  if (path.empty()) return;
  std::size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    spdlog::error("Drift file directory {} is not writable ({}); the frequency will not be saved", dir,
                  std::strerror(errno));
  }
}

void TimeSync::reload(const std::vector<SourceConfig>& sources) {
  ReloadResult r = engine_->reload(sources, now());
  for (const auto& e : r.events) log_event(e);
  spdlog::info("Sources reloaded: {} kept, {} added, {} removed", r.kept.size(), r.added.size(),
               r.removed.size());
  process(engine_->handle_timer(now(), *rng_));
}

void TimeSync::refresh() {
  if (linux_clock_) linux_clock_->update();
  process(engine_->handle_timer(now(), *rng_));
}

void TimeSync::make_step() { process(engine_->make_step(now())); }

void TimeSync::reschedule() { schedule(engine_->next_wakeup()); }

void TimeSync::set_local(const LocalConfig& local) { process(engine_->set_local(local, now())); }

void TimeSync::notify_state() {
  if (on_state_) on_state_(engine_->served_state(now()), correction());
}

void TimeSync::process(Actions actions) {
  for (const auto& e : actions.events) log_event(e);
  TimePoint t = now();
  for (const auto& s : actions.sends) io_->send(s, t);
  for (const auto& r : actions.resolves) io_->resolve(r);
  if (actions.write_drift) write_drift(*actions.write_drift);
  if (logs_.tracking) log_tracking();
  if (actions.quit) {
    quit_status_ = actions.quit;
    ctx_.stop();
    return;
  }
  if (actions.panic) {
    panicked_ = true;
    spdlog::critical("Offset exceeds the maxchange limit: refusing to adjust the clock, exiting");
    ctx_.stop();
    return;
  }
  notify_state();
  schedule(engine_->next_wakeup());
}

void TimeSync::schedule(std::optional<TimePoint> wakeup) {
  // Nothing in the core is due by itself (no source, no slew) for at most
  // a day, then the next look is taken.
  Duration d = wakeup ? *wakeup - now() : Duration::seconds(kIdleWakeupS);
  if (d.ns < 0) d = Duration{};
  if (d > Duration::seconds(kIdleWakeupS)) d = Duration::seconds(kIdleWakeupS);
  // A running slew must end on time, or the clock overshoots.
  if (linux_clock_) {
    if (auto end = linux_clock_->slew_end_in(); end && *end < d) d = *end;
  }
  timer_.expires_after(std::chrono::nanoseconds(d.ns));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_timer();
  });
}

void TimeSync::on_timer() {
  check_clock_jump();
  refresh();
}

void TimeSync::check_clock_jump() {
  const Duration own = linux_clock_ ? linux_clock_->own_steps() : Duration{};
  const TimePoint real = syscalls_.realtime();
  const Duration mono = syscalls_.monotonic();
  if (auto jump = step_detector_.check(real, mono, own)) process(engine_->on_unknown_step(now(), *jump));
}

void TimeSync::on_reply(const ReceivedReply& r) {
  check_clock_jump();
  Duration corr = correction();
  ReplyContext ctx;
  ctx.rx_time = r.rx_raw + corr;
  ctx.tx_time = r.tx_raw + corr;
  ctx.rx_source = r.rx_kernel ? TimestampSource::Kernel : TimestampSource::Daemon;
  ctx.tx_source = r.tx_kernel ? TimestampSource::Kernel : TimestampSource::Daemon;
  ctx.from = r.from;
  ctx.local_refid = refid_of(r.local.ip);
  if (logs_.tracking) pre_update_ = engine_->tracking(now());
  process(engine_->handle_reply(now(), r.source, r.bytes, ctx));
  pre_update_.reset();
  if (logs_.measurements || logs_.statistics) log_reply(r.source);
}

void TimeSync::log_reply(SourceId id) {
  const Source* src = engine_->source(id);
  if (src == nullptr) return;
  SourceLogState& st = source_log_[id];
  const NtpDataReport& d = src->ntp_data();
  TimePoint t = now();
  std::string address = d.remote.ip.to_string();
  if (logs_.measurements && d.total_valid_rx != st.valid_rx) {
    st.valid_rx = d.total_valid_rx;
    // chrony's `log measurements`: valid replies that passed tests 1-7.
    if (d.tests.test1() && d.tests.test2() && d.tests.test3() && d.tests.test5() && d.tests.test6() &&
        d.tests.test7()) {
      MeasurementRecord m;
      m.time = t;
      m.address = address;
      m.leap = d.leap;
      m.stratum = d.stratum;
      m.tests = d.tests;
      m.local_poll = src->poll();
      m.remote_poll = d.poll;
      m.score = src->poll_score();
      m.offset_s = -d.offset_s;  // chrony: + = the local clock is slow
      m.peer_delay_s = d.peer_delay_s;
      m.peer_dispersion_s = d.peer_dispersion_s;
      m.root_delay_s = d.root_delay_s;
      m.root_dispersion_s = d.root_dispersion_s;
      m.refid = d.ref_id;
      m.mode = d.mode;
      m.interleaved = d.interleaved;
      m.tx_source = timestamp_source_letter(d.tx_source);
      m.rx_source = timestamp_source_letter(d.rx_source);
      logs_.measurements->write(format_measurement_line(m));
    }
  }
  if (logs_.statistics) {
    const SourceStats& stats = src->stats();
    LastSampleReport last = stats.last_sample_report();
    // A good reply adds a sample and a new regression (chrony logs each).
    if (last.valid && d.total_good_rx != st.good_rx && stats.samples() >= kMinSamplesForRegression) {
      SourceEstimate e = stats.regression_estimate();
      SourcestatsReport rep = stats.sourcestats_report(t);
      StatisticsRecord s;
      s.time = last.time;
      s.address = address;
      s.std_dev_s = e.std_dev_s;
      s.offset_s = e.offset_s;  // chrony: + = the local clock is fast
      s.offset_sd_s = e.offset_sd_s;
      s.freq = e.frequency;
      s.skew = e.skew;
      s.stress = st.samples > 0 && st.skew > 0.0 ? std::fabs(st.freq - e.frequency) / st.skew : 0.0;
      s.samples = stats.samples();
      s.best_start = st.samples > 0 ? std::max(0, st.samples + 1 - s.samples) : 0;
      s.runs = rep.runs;
      s.asymmetry = d.jitter_asymmetry;
      logs_.statistics->write(format_statistics_line(s));
      st.freq = e.frequency;
      st.skew = e.skew;
    }
    st.good_rx = d.total_good_rx;
    st.samples = stats.samples();
  }
}

void TimeSync::log_tracking() {
  const Reference& ref = engine_->reference();
  bool updated = ref.updates() != logged_updates_;
  bool lost = logged_synchronised_ && !ref.synchronised();
  logged_updates_ = ref.updates();
  logged_synchronised_ = ref.synchronised();
  if (!updated && !lost) return;
  TimePoint t = now();
  TrackingReport tr = engine_->tracking(t);
  TrackingReport before = pre_update_ ? *pre_update_ : tr;
  TrackingRecord rec;
  rec.time = t;
  rec.freq_ppm = tr.freq_ppm;
  rec.skew_ppm = tr.skew_ppm;
  if (updated && tr.synchronised) {
    rec.address = refid_text(tr.ref_id);
    if (tr.source_id) {
      for (const auto& row : engine_->sources(t)) {
        if (row.state == '*' || row.state == '+') ++rec.combined;
        if (row.id == *tr.source_id && row.address) rec.address = row.address->ip.to_string();
      }
    }
    rec.stratum = tr.stratum;
    rec.offset_s = tr.last_offset_s;
    rec.leap = tr.leap;
    rec.offset_sd_s = tr.offset_sd_s;
    rec.root_delay_s = tr.root_delay_s;
    rec.root_dispersion_s = tr.root_dispersion_s;
  } else {
    // chrony's line for the loss of synchronisation.
    rec.address = "0.0.0.0";
    rec.leap = Leap::Unsynchronised;
    rec.root_delay_s = tr.root_delay_s;
    rec.root_dispersion_s = tr.root_dispersion_s;
  }
  // chrony: the correction still pending from the previous update (+ = the
  // clock is slow), and the largest error since it: the root distance then
  // plus the part of the previous offset that was not corrected.
  double uncorrected_s = -before.system_time_offset_s;
  rec.remaining_correction_s = uncorrected_s;
  rec.max_error_s = before.root_delay_s / 2.0 + before.root_dispersion_s + std::fabs(last_sys_offset_s_);
  last_sys_offset_s_ = rec.offset_s - uncorrected_s;
  logs_.tracking->write(format_tracking_line(rec));
}

void TimeSync::on_resolved(EntryId entry, const std::vector<IpAddress>& addrs) {
  process(engine_->on_resolved(entry, addrs, now()));
}

void TimeSync::load_drift() {
  const std::string& path = config_.clock.driftfile;
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) {
    spdlog::info("No drift file {} yet; starting from the kernel's frequency", path);
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse_drift_file(ss.str());
  if (auto* err = std::get_if<DriftFileError>(&parsed)) {
    spdlog::warn("Ignoring drift file {}: {}; using the kernel's frequency", path, to_string(*err));
    return;
  }
  const auto& d = std::get<DriftData>(parsed);
  engine_->load_drift(d);
  spdlog::info("Frequency {:.3f} +/- {:.3f} ppm read from {}", d.freq_ppm, d.skew_ppm, path);
}

void TimeSync::write_drift(const DriftData& d) {
  const std::string& path = config_.clock.driftfile;
  if (path.empty()) return;
  if (auto ec = write_file_atomically(path, format_drift_file(d))) {
    // Never fatal: time service goes on without the drift file.
    if (!drift_warned_) spdlog::error("Could not write drift file {}: {}", path, ec.message());
    drift_warned_ = true;
    return;
  }
  drift_warned_ = false;
}

}  // namespace gnomon::daemon
