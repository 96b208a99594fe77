#include "daemon/time_sync.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <variant>

#include <spdlog/spdlog.h>

#include "daemon/atomic_file.hpp"
#include "daemon/socket_util.hpp"
#include "lib/drift_file.hpp"
#include "lib/noop_clock.hpp"

namespace gnomon::daemon {

namespace {

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
    spdlog::info("Disabled control of system clock");
  }
  ClockControl& clock = linux_clock_ ? static_cast<ClockControl&>(*linux_clock_) : *clock_;
  EngineOptions options = EngineOptions::from_config(config_);
  options.refid_of = refid_of;
  engine_ = std::make_unique<SyncEngine>(clock, options);
  rng_ = std::make_unique<RandomAdapter>();
  io_ = std::make_unique<NtpClientIo>(
      ctx_, [this](const ReceivedReply& r) { on_reply(r); },
      [this](EntryId e, const std::vector<IpAddress>& a) { on_resolved(e, a); });
  load_drift();
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
  process(engine_->start(now()));
  notify_state();
}

void TimeSync::stop() {
  timer_.cancel();
  if (io_) io_->close_all();
  if (engine_ && !config_.clock.driftfile.empty() && engine_->synchronised()) write_drift(engine_->drift());
}

void TimeSync::reload(const std::vector<SourceConfig>& sources) {
  ReloadResult r = engine_->reload(sources, now());
  spdlog::info("Sources reloaded: {} kept, {} added, {} removed", r.kept.size(), r.added.size(),
               r.removed.size());
  process(engine_->handle_timer(now(), *rng_));
}

void TimeSync::refresh() {
  if (linux_clock_) linux_clock_->update();
  process(engine_->handle_timer(now(), *rng_));
}

void TimeSync::make_step() { process(engine_->make_step(now())); }

void TimeSync::notify_state() {
  if (on_state_) on_state_(engine_->served_state(now()), correction());
}

void TimeSync::process(Actions actions) {
  for (const auto& e : actions.events) log_event(e);
  TimePoint t = now();
  for (const auto& s : actions.sends) io_->send(s, t);
  for (const auto& r : actions.resolves) io_->resolve(r);
  if (actions.write_drift) write_drift(*actions.write_drift);
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
  if (!wakeup) wakeup = now() + Duration::seconds(1);
  Duration d = *wakeup - now();
  if (d.ns < 0) d = Duration{};
  // A running slew must end on time, or the clock overshoots.
  if (linux_clock_) {
    if (auto end = linux_clock_->slew_end_in(); end && *end < d) d = *end;
  }
  // Wake at least every second so that served state and slews stay fresh.
  if (d > Duration::seconds(1)) d = Duration::seconds(1);
  timer_.expires_after(std::chrono::nanoseconds(d.ns));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_timer();
  });
}

void TimeSync::on_timer() { refresh(); }

void TimeSync::on_reply(const ReceivedReply& r) {
  Duration corr = correction();
  ReplyContext ctx;
  ctx.rx_time = r.rx_raw + corr;
  ctx.tx_time = r.tx_raw + corr;
  ctx.from = r.from;
  ctx.local_refid = refid_of(r.local.ip);
  process(engine_->handle_reply(now(), r.source, r.bytes, ctx));
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
