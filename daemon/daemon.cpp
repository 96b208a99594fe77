#include "daemon/daemon.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "daemon/logging.hpp"
#include "lib/acl.hpp"
#include "lib/config/config_loader.hpp"

namespace gnomon::daemon {

namespace {
// How often served state is recomputed and handed to the workers.
constexpr auto kTickInterval = std::chrono::seconds(1);
}  // namespace

Daemon::Daemon(Config config, Options options)
    : config_(std::move(config)),
      options_(std::move(options)),
      signals_(ctx_, SIGINT, SIGTERM, SIGHUP),
      tick_timer_(ctx_) {}

Daemon::~Daemon() = default;

void Daemon::apply_access() {
  if (!server_) return;
  server_->set_access(std::make_shared<const AccessTable>(AccessTable::build(config_.server.access)));
}

int Daemon::run() {
  spdlog::info("gnomond {} starting", GNOMON_VERSION);
  sync_ = std::make_unique<TimeSync>(ctx_, config_, [this](const ServedState& s, Duration corr) {
    if (server_) server_->set_state(s, corr);
  });
  if (!sync_->open()) return kExitFailure;

  if (config_.server.enabled) {
#ifdef GNOMON_PORTABLE_IO
    server_ = std::make_unique<NtpServer>(&ctx_);
#else
    server_ = std::make_unique<NtpServer>();
#endif
    if (auto ec = server_->open(config_.server)) {
      spdlog::error("Could not open NTP server socket: {}", ec.message());
      return kExitFailure;
    }
    apply_access();
    for (const auto& a : config_.server.listen) {
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
  std::string what;
  if (auto ec = control_->open(config_.control, what)) {
    // Time service matters more than monitoring: carry on without it.
    spdlog::error("Could not open {}: {}; the control channel is partly or wholly off", what, ec.message());
  }
  // The first served state reaches the workers before they answer anyone.
  sync_->start();
  if (server_) server_->start();
  wait_signal();
  schedule_tick();
  ctx_.run();
  sync_->stop();
  if (control_) control_->close();
  if (server_) {
    log_server_counters();
    server_->stop();
  }
  if (sync_->panicked()) exit_code_ = kExitFailure;
  spdlog::info("gnomond exiting");
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

void Daemon::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    on_signal(signo);
  });
}

void Daemon::on_signal(int signo) {
  if (signo == SIGHUP) {
    reload();
    wait_signal();
    return;
  }
  spdlog::info("Received signal {}, shutting down", signo);
  exit_code_ = kExitOk;
  ctx_.stop();
}

void Daemon::reload() {
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

void Daemon::schedule_tick() {
  tick_timer_.expires_after(kTickInterval);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tick();
    schedule_tick();
  });
}

void Daemon::tick() { sync_->refresh(); }

}  // namespace gnomon::daemon
