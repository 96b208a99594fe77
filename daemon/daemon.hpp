// gnomond's top level: owns the event loop and every task, wires the core to
// the OS, and turns signals into orderly reloads and exits.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <memory>

#include "daemon/control_provider.hpp"
#include "daemon/control_server.hpp"
#include "daemon/ntp_server.hpp"
#include "daemon/options.hpp"
#include "daemon/time_sync.hpp"
#include "lib/config.hpp"

namespace gnomon::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitConfig = 78;  // EX_CONFIG

class Daemon {
 public:
  Daemon(Config config, Options options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  void wait_signal();
  void on_signal(int signo);
  void schedule_tick();
  void tick();
  void reload();
  void apply_access();
  void log_server_counters() const;

  Config config_;
  Options options_;
  boost::asio::io_context ctx_{1};
  boost::asio::signal_set signals_;
  boost::asio::steady_timer tick_timer_;
  std::unique_ptr<NtpServer> server_;
  std::unique_ptr<TimeSync> sync_;
  std::unique_ptr<ControlProvider> provider_;
  std::unique_ptr<ControlServer> control_;
  int exit_code_ = kExitOk;
};

}  // namespace gnomon::daemon
