#include "daemon/daemon.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "daemon/logging.hpp"
#include "daemon/random_pool.hpp"
#include "daemon/socket_util.hpp"
#include "lib/acl.hpp"
#include "lib/config/config_loader.hpp"
#include "lib/local_reference.hpp"

namespace gnomon::daemon {

namespace {
// Precision of our clock readings, log2 s: kernel timestamps are in ns.
constexpr std::int8_t kPrecision = -26;
// How often served state is recomputed and handed to the workers.
constexpr auto kTickInterval = std::chrono::seconds(1);
}  // namespace

Daemon::Daemon(Config config, Options options)
    : config_(std::move(config)),
      options_(std::move(options)),
      signals_(ctx_, SIGINT, SIGTERM, SIGHUP),
      tick_timer_(ctx_) {
  RandomPool seed;
  local_fuzz_seed_ = seed.next_u64();
}

ServedState Daemon::current_served_state() const {
  TimePoint now = realtime_now();
  if (config_.local.enabled) return local_reference_state(config_.local, now, kPrecision, local_fuzz_seed_);
  ServedState unsync;
  unsync.precision = kPrecision;
  return unsync;
}

void Daemon::apply_access() {
  if (!server_) return;
  server_->set_access(std::make_shared<const AccessTable>(AccessTable::build(config_.server.access)));
}

int Daemon::run() {
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
    server_->set_state(current_served_state());
    server_->start();
    for (const auto& a : config_.server.listen) {
      spdlog::info("Serving NTP on {} ({} worker{})", a.to_string(), server_->worker_count(),
                   server_->worker_count() == 1 ? "" : "s");
    }
  }
  if (config_.local.enabled) {
    spdlog::info("Local reference enabled at stratum {}", config_.local.stratum);
  }
  wait_signal();
  schedule_tick();
  spdlog::info("gnomond {} started{}", GNOMON_VERSION,
               options_.no_clock_control || !config_.clock.control ? " (clock control disabled)" : "");
  ctx_.run();
  if (server_) {
    log_server_counters();
    server_->stop();
  }
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

void Daemon::tick() {
  if (server_) server_->set_state(current_served_state());
}

}  // namespace gnomon::daemon
