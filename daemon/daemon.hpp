// gnomond's top level: owns the event loop and every task, wires the core to
// the OS, and turns signals into orderly reloads and exits.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "daemon/control_provider.hpp"
#include "daemon/control_server.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/ntp_server.hpp"
#include "daemon/nts_ke_server.hpp"
#include "daemon/nts_key_store.hpp"
#include "daemon/options.hpp"
#include "daemon/pid_file.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/signal_loop.hpp"
#include "daemon/time_sync.hpp"
#include "lib/config.hpp"

namespace gnomon::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure: systemd restarts it
inline constexpr int kExitConfig = 78;  // EX_CONFIG: systemd does not restart it
// Panic: an offset beyond maxchange. The clock (or a source) is badly wrong
// and only a human should decide; a restart could step the clock by that
// offset (makestep applies at start). EX_DATAERR; systemd does not restart it.
inline constexpr int kExitPanic = 65;

class Daemon {
 public:
  Daemon(Config config, Options options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  // SIGHUP reloads; SIGTERM and SIGINT return false: exit.
  bool on_signal(int signo);
  void reload();
  void apply_access();
  void log_server_counters() const;
  // -u USER: returns false (and logs why) if the drop failed.
  bool drop_privileges();
  void open_metrics();
  // [nts]: the server keys and the NTS-KE listener; false (logged) on failure.
  bool open_nts();
  // STATUS= for systemd: sent when the kind of state changes, else at most
  // every kStatusInterval while the text (the offset) changes.
  void update_status(bool force);
  void schedule_watchdog();

  Config config_;
  Options options_;
  boost::asio::io_context ctx_{main_loop_concurrency_hint()};
  std::unique_ptr<NtpServer> server_;
  std::unique_ptr<TimeSync> sync_;
  std::unique_ptr<ControlProvider> provider_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<NtsKeyStore> nts_keys_;
  std::unique_ptr<NtsKeServer> nts_ke_;
  PidFile pid_file_;
  SdNotifier notifier_;
  boost::asio::steady_timer watchdog_timer_;
  std::string status_kind_;
  std::string status_text_;
  bool status_ready_ = false;  // READY=1 was sent: STATUS= updates may follow
  std::chrono::steady_clock::time_point status_sent_{};
  double start_time_s_ = 0.0;
  int exit_code_ = kExitOk;
};

}  // namespace gnomon::daemon
