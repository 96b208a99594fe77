// The client side of gnomond: the controlled clock, the SyncEngine (sources,
// selection, discipline), the client sockets and DNS, and the drift file.
// It executes the engine's actions and reports what we serve after each one.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>

#include "daemon/chrony_logs.hpp"
#include "daemon/linux_clock.hpp"
#include "daemon/step_detector.hpp"
#include "daemon/ntp_client.hpp"
#include "daemon/random_pool.hpp"
#include "lib/clock.hpp"
#include "lib/config.hpp"
#include "lib/sync_engine.hpp"

namespace gnomon::daemon {

// What the NTP server needs after each change: the state to serve and the
// correction to add to raw CLOCK_REALTIME readings (non-zero only in -x mode,
// where the clock is corrected virtually, as chronyd -x does).
using StateListener = std::function<void(const ServedState&, Duration correction)>;

class TimeSync {
 public:
  TimeSync(boost::asio::io_context& ctx, const Config& config, StateListener on_state);
  ~TimeSync();
  TimeSync(const TimeSync&) = delete;
  TimeSync& operator=(const TimeSync&) = delete;

  // Opens the clock (Linux driver or no-control) and loads the drift file.
  // Returns false if the clock cannot be controlled.
  bool open();
  void start();
  // Saves the drift file (always, as chronyd does at exit: the frequency
  // and skew the clock runs with now) and closes sockets.
  void stop();
  // Logs an error now if the drift file's directory cannot be written, so
  // that the operator learns of it at start rather than an hour later.
  // (Called after any privilege drop.) Never fatal.
  void check_drift_directory();
  void reload(const std::vector<SourceConfig>& sources);
  // Recomputes the served state (called periodically).
  void refresh();

  [[nodiscard]] SyncEngine& engine() { return *engine_; }
  // The controlled clock's reading now.
  [[nodiscard]] TimePoint now();
  [[nodiscard]] bool panicked() const { return panicked_; }
  // -q is over: the daemon exits with this status.
  [[nodiscard]] std::optional<int> quit_status() const { return quit_status_; }
  [[nodiscard]] bool clock_controlled() const { return linux_clock_ != nullptr; }

  // chronyc's makestep/burst/online/offline.
  void make_step();
  // The core's deadlines changed outside a timer or a reply (a command put
  // a source online or into a burst): wait for the new next one.
  void reschedule();
  // chronyc's local / local off.
  void set_local(const LocalConfig& local);

 private:
  class RandomAdapter;
  void process(Actions actions);
  void schedule(std::optional<TimePoint> wakeup);
  void on_timer();
  // Hands a step of the clock that we did not make to the core.
  void check_clock_jump();
  void on_reply(const ReceivedReply& r);
  void on_resolved(EntryId entry, const std::vector<IpAddress>& addrs);
  void write_drift(const DriftData& d);
  void load_drift();
  // chrony-style logs ([log] dir): after a reply of `source`, and after any
  // change of the reference (pre_update_: the tracking state before a reply).
  void log_reply(SourceId source);
  void log_tracking();
  [[nodiscard]] Duration correction();
  void notify_state();

  boost::asio::io_context& ctx_;
  Config config_;
  StateListener on_state_;
  RealClockSyscalls syscalls_;
  StepDetector step_detector_;
  std::unique_ptr<LinuxClock> linux_clock_;
  std::unique_ptr<ClockControl> clock_;
  std::unique_ptr<SyncEngine> engine_;
  std::unique_ptr<NtpClientIo> io_;
  std::unique_ptr<RandomAdapter> rng_;
  boost::asio::steady_timer timer_;
  bool panicked_ = false;
  std::optional<int> quit_status_;
  bool drift_warned_ = false;
  std::optional<std::string> last_selected_;

  // chrony-style logs and what was last logged of each source and the reference.
  struct SourceLogState {
    std::uint32_t valid_rx = 0;
    std::uint32_t good_rx = 0;
    int samples = 0;
    double freq = 0.0;
    double skew = 0.0;
  };
  ChronyLogs logs_;
  std::unordered_map<SourceId, SourceLogState> source_log_;
  int logged_updates_ = 0;
  bool logged_synchronised_ = false;
  double last_sys_offset_s_ = 0.0;
  std::optional<TrackingReport> pre_update_;
};

}  // namespace gnomon::daemon
