#include "daemon/daemon.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>

#include <spdlog/spdlog.h>

#include "daemon/logging.hpp"
#include "daemon/seccomp_filter.hpp"
#include "daemon/signal_loop.hpp"
#include "daemon/metrics.hpp"
#include "daemon/privileges.hpp"
#include "daemon/socket_util.hpp"
#include "lib/acl.hpp"
#include "lib/config/config_loader.hpp"
#include "lib/openssl/on_demand.hpp"

namespace gnomon::daemon {

namespace {
// Least time between two STATUS= updates that only change the offset.
constexpr auto kStatusInterval = std::chrono::seconds(10);

std::string capability_names(std::uint64_t caps) {
  std::string r;
  if ((caps >> kCapSysTime) & 1U) r += "CAP_SYS_TIME";
  if ((caps >> kCapNetBindService) & 1U) r += r.empty() ? "CAP_NET_BIND_SERVICE" : " CAP_NET_BIND_SERVICE";
  return r.empty() ? "no capabilities" : r;
}

PrivilegeDrop privilege_drop_for(const Config& config, const std::string& user, const UserIds& ids) {
  PrivilegeDrop d;
  d.ids = ids;
  d.user = user;
  d.keep_caps = needed_capabilities(config);
  if (!config.clock.driftfile.empty()) d.writable_dirs.push_back(parent_directory(config.clock.driftfile));
  if (!config.log.dir.empty()) d.writable_dirs.push_back(config.log.dir);
  if (config.nts.enabled && !config.nts.keydir.empty()) d.writable_dirs.push_back(config.nts.keydir);
  if (!config.control.socket.empty()) {
    d.writable_dirs.push_back(parent_directory(config.control.socket));
    d.owned_files.push_back(config.control.socket);
  }
  return d;
}
}  // namespace

Daemon::Daemon(Config config, Options options)
    : config_(std::move(config)),
      options_(std::move(options)),
      watchdog_timer_(ctx_) {}

Daemon::~Daemon() = default;

void Daemon::apply_access() {
  if (!server_) return;
  server_->set_access(std::make_shared<const AccessTable>(AccessTable::build(config_.server.access)));
}

namespace {

bool needs_openssl(const Config& config) {
  return !config.auth.keyfile.empty() || config.nts.enabled ||
         std::any_of(config.sources.begin(), config.sources.end(),
                     [](const SourceConfig& s) { return s.nts || s.key.has_value(); });
}

}  // namespace

int Daemon::run() {
  spdlog::info("{} {} starting", program_name(), GNOMON_VERSION);
  start_time_s_ = realtime_now().to_seconds();
  notifier_ = SdNotifier::from_environment();
  std::optional<UserIds> user_ids;
  if (!options_.user.empty()) {
    std::string err;
    user_ids = lookup_user(options_.user, err);
    if (!user_ids) {
      spdlog::error("-u: {}", err);
      return kExitConfig;
    }
  }
  if (!options_.pid_file.empty()) {
    if (std::string err = pid_file_.create(options_.pid_file); !err.empty()) {
      spdlog::error("Not started: {}", err);
      return kExitFailure;
    }
  }
  // OpenSSL is loaded only for keys and NTS (lib/openssl/on_demand.hpp): now,
  // so that a missing library stops the start with a clear error.
  if (needs_openssl(config_)) {
    if (std::string err; !gnomon::openssl::load(err)) {
      spdlog::error("Not started: {} (needed for keys and NTS)", err);
      return kExitFailure;
    }
  }
  std::optional<PrivilegeDrop> drop;
  if (user_ids) {
    drop = privilege_drop_for(config_, options_.user, *user_ids);
    prepare_directories(*drop);
  }
  // Every change of the core's state reaches the workers and systemd's
  // STATUS= as it happens; nothing polls.
  sync_ = std::make_unique<TimeSync>(ctx_, config_, [this](const ServedState& s, Duration corr) {
    if (server_) server_->set_state(s, corr);
    if (status_ready_) update_status(false);
  });
  if (!sync_->open()) return kExitFailure;

  if (config_.server.enabled) {
#ifdef GNOMON_PORTABLE_IO
    server_ = std::make_unique<NtpServer>(&ctx_);
#else
    server_ = std::make_unique<NtpServer>();
#endif
    // As chronyd: an address that cannot be opened is logged and skipped;
    // none at all is fatal.
    if (auto ec = server_->open(config_.server)) {
      spdlog::error("Could not open NTP sockets: {}", ec.message());
      return kExitFailure;
    }
    apply_access();
    for (const auto& a : server_->listening()) {
      spdlog::info("Serving NTP on {} ({} worker{})", a.to_string(), server_->worker_count(),
                   server_->worker_count() == 1 ? "" : "s");
    }
  }
  if (config_.local.enabled) {
    spdlog::info("Local reference enabled at stratum {}", config_.local.stratum);
  }
  provider_ = std::make_unique<ControlProvider>(*sync_, server_.get(), [this] { reload(); });
  control_ = std::make_unique<ControlServer>(ctx_, *provider_);
  provider_->set_control_counters(&control_->counters());
  control_->set_access_logger(
      [p = provider_.get()](const IpAddress& ip, bool dropped) { p->log_command_access(ip, dropped); });
  std::string what;
  if (auto ec = control_->open(config_.control, what)) {
    // Time service matters more than monitoring: carry on without it
    // (each failure was logged).
    spdlog::debug("The control channel is partly or wholly off ({})", what);
  }
  open_metrics();
  if (config_.nts.enabled && !open_nts()) return kExitFailure;
  if (drop) {
    if (std::string err = gnomon::daemon::drop_privileges(*drop); !err.empty()) {
      spdlog::error("Could not drop root privileges to user {}: {}", options_.user, err);
      return kExitFailure;
    }
    if (::geteuid() != 0) {
      spdlog::info("Running as user {} (uid {}) with {}", options_.user, ::geteuid(),
                   capability_names(drop->keep_caps));
    }
  }
  if (options_.seccomp) {
    // After the sockets are open and privileges dropped, before any thread
    // answers the network.
    const auto action = options_.seccomp_log_only ? SeccompAction::Log : SeccompAction::KillProcess;
    if (std::string err = install_seccomp_filter(action); !err.empty()) {
      spdlog::error("Could not enable the system call filter (-F): {}", err);
      return kExitFailure;
    }
    spdlog::info("System call filter enabled{}", options_.seccomp_log_only ? " (log only)" : "");
  }
  sync_->check_drift_directory();
  // The first served state reaches the workers before they answer anyone.
  sync_->start();
  if (server_) server_->start();
  if (nts_keys_) nts_keys_->start();
  if (nts_ke_) nts_ke_->start();
  schedule_watchdog();
  update_status(true);
  status_ready_ = true;
  if (auto ec = notifier_.notify("READY=1\nSTATUS=" + status_text_)) {
    spdlog::warn("Could not notify the service manager at {}: {}", notifier_.socket_path(), ec.message());
  }
  run_signal_loop(ctx_, [this](int signo) { return on_signal(signo); });
  (void)notifier_.notify("STOPPING=1\nSTATUS=Stopping");
  if (metrics_) metrics_->close();
  sync_->stop();
  if (control_) control_->close();
  if (nts_ke_) nts_ke_->close();
  if (nts_keys_) nts_keys_->stop();
  if (server_) {
    log_server_counters();
    server_->stop();
  }
  if (sync_->panicked()) exit_code_ = kExitPanic;
  if (auto q = sync_->quit_status()) exit_code_ = *q;
  spdlog::info("{} exiting", program_name());
  return exit_code_;
}

void Daemon::log_server_counters() const {
  ServerCountersSnapshot c = server_->counters();
  std::string drops;
  for (std::size_t i = 1; i < c.dropped.size(); ++i) {
    if (c.dropped[i] == 0) continue;
    if (!drops.empty()) drops += ' ';
    drops += fmt::format("{}={}", metric_name(static_cast<DropReason>(i)), c.dropped[i]);
  }
  spdlog::info("NTP server: received {} answered {} dropped {} ({}) send errors {}", c.received,
               c.answered, c.dropped_total(), drops.empty() ? "none" : drops, c.send_errors);
}

bool Daemon::on_signal(int signo) {
  if (signo == SIGHUP) {
    reload();
    return true;
  }
  spdlog::info("Received signal {}, shutting down", signo);
  exit_code_ = kExitOk;
  return false;
}

void Daemon::reload() {
  // Type=notify services may say so (systemd 253 requires it for
  // Type=notify-reload; older ones accept it).
  timespec mono{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  (void)notifier_.notify("RELOADING=1\nMONOTONIC_USEC=" +
                         std::to_string(static_cast<std::int64_t>(mono.tv_sec) * 1000000 + mono.tv_nsec / 1000));
  struct ReadyAgain {
    Daemon& d;
    ~ReadyAgain() { (void)d.notifier_.notify("READY=1\nSTATUS=" + d.status_text_); }
  } ready_again{*this};
  LoadResult r = load_config_file(config_.source_file);
  for (const auto& d : r.diagnostics) {
    if (d.error) {
      spdlog::error("{}", format_diagnostic(d));
    } else {
      spdlog::warn("{}", format_diagnostic(d));
    }
  }
  if (!r.config) {
    spdlog::error("Reload of {} failed; keeping the running configuration", config_.source_file);
    return;
  }
  config_.sources = r.config->sources;
  config_.server.access = r.config->server.access;
  config_.control.access = r.config->control.access;
  apply_access();
  if (control_) control_->set_access(config_.control.access);
  sync_->reload(config_.sources);
  spdlog::info("Reloaded sources and access rules from {}", config_.source_file);
}

void Daemon::open_metrics() {
  if (!config_.metrics.listen) return;
  metrics_ = std::make_unique<MetricsServer>(ctx_, [this] {
    return render_metrics(collect_metrics(*sync_, server_.get(), control_ ? &control_->counters() : nullptr,
                                          start_time_s_));
  });
  if (auto ec = metrics_->open(*config_.metrics.listen)) {
    // Like the control channel: monitoring must not stop time service.
    spdlog::error("Could not open the metrics listener {}: {}; metrics are off",
                  config_.metrics.listen->to_string(), ec.message());
    metrics_.reset();
    return;
  }
  spdlog::info("Serving Prometheus metrics on http://{}/metrics", config_.metrics.listen->to_string());
}

bool Daemon::open_nts() {
  const NtsConfig& n = config_.nts;
  if (!n.keydir.empty()) ::mkdir(n.keydir.c_str(), 0700);  // an existing one is kept as it is
  nts_keys_ = std::make_unique<NtsKeyStore>(ctx_, n.keydir, [this](std::shared_ptr<const NtsKeyRing> keys) {
    if (server_) server_->set_nts_keys(keys);
    if (nts_ke_) nts_ke_->set_keys(std::move(keys));
  });
  NtsKeServerOptions o;
  o.listen = n.listen;
  o.certificate = n.certificate;
  o.key = n.key;
  o.max_connections = static_cast<std::size_t>(std::max(1, n.max_connections));
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(n.timeout_s * 1000.0));
  if (!config_.server.listen.empty() && config_.server.listen.front().port != kNtpPort) {
    o.ntp_port = config_.server.listen.front().port;
  }
  nts_ke_ = std::make_unique<NtsKeServer>(ctx_, o);
  std::string what;
  if (auto ec = nts_ke_->open(what)) {
    spdlog::error("Could not open {}: {}", what, ec.message());
    return false;
  }
  nts_keys_->open();
  if (!server_) spdlog::warn("NTS-KE is on but there is no [server]: NTS clients get keys but no time");
  for (const auto& a : nts_ke_->listening()) spdlog::info("Serving NTS-KE on {}", a.to_string());
  return true;
}

void Daemon::update_status(bool force) {
  TrackingReport t = sync_->engine().tracking(sync_->now());
  std::string kind = t.synchronised ? "sync " + t.source_name : t.local ? "local" : "unsync";
  std::string text = sync_status_text(t);
  auto now = std::chrono::steady_clock::now();
  bool send = force || kind != status_kind_ || (text != status_text_ && now - status_sent_ >= kStatusInterval);
  if (!send) return;
  status_kind_ = std::move(kind);
  status_text_ = std::move(text);
  status_sent_ = now;
  if (!force) (void)notifier_.notify("STATUS=" + status_text_);
}

void Daemon::schedule_watchdog() {
  auto timeout = notifier_.watchdog_timeout();
  if (!timeout) return;
  // Half the timeout, as sd_watchdog_enabled(3) advises. The main loop
  // sends it, so a stuck main loop stops the pings.
  watchdog_timer_.expires_after(*timeout / 2);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    (void)notifier_.notify("WATCHDOG=1");
    schedule_watchdog();
  });
}

}  // namespace gnomon::daemon
