// systemd's service notification protocol (sd_notify(3)) without libsystemd:
// one datagram of "KEY=VALUE" lines per notification, sent to the AF_UNIX
// socket named by $NOTIFY_SOCKET (a file system path, or an abstract socket
// name written with a leading '@'). Outside systemd there is no
// NOTIFY_SOCKET and every call does nothing.
//
// gnomond sends READY=1 once it serves, STATUS= lines as its
// synchronisation changes, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 at
// exit, and WATCHDOG=1 every half of $WATCHDOG_USEC from its main loop.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "lib/reference.hpp"

namespace gnomon::daemon {

class SdNotifier {
 public:
  // Disabled: notify() does nothing.
  SdNotifier() = default;
  // Sends to `socket_path` ('@' = abstract). `watchdog` is the watchdog
  // timeout systemd expects pings within (nullopt = no watchdog).
  SdNotifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog);
  ~SdNotifier();
  SdNotifier(SdNotifier&& other) noexcept;
  SdNotifier& operator=(SdNotifier&& other) noexcept;
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;

  // From NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog only
  // when WATCHDOG_PID is unset or names this process, as sd_watchdog_enabled).
  [[nodiscard]] static SdNotifier from_environment();

  [[nodiscard]] bool enabled() const { return !path_.empty(); }
  [[nodiscard]] const std::string& socket_path() const { return path_; }
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_timeout() const { return watchdog_; }

  // Sends one notification ("READY=1\nSTATUS=..."). Never throws; returns
  // the errno of a failed send (success and "disabled" are both no error).
  std::error_code notify(std::string_view message) noexcept;

 private:
  void close_socket() noexcept;

  std::string path_;
  std::optional<std::chrono::microseconds> watchdog_;
  int fd_ = -1;
};

// The one-line STATUS= text for the state in `t` (gnomon's signs):
//   "Synchronised to NAME, offset +12.3us, stratum S" (S: the stratum we serve)
//   "Serving local clock at stratum N"
//   "Not synchronised"
[[nodiscard]] std::string sync_status_text(const TrackingReport& t);

// "+12.3us", "-1.234ms", "+0.500s": chronyc's unit choice for an offset.
[[nodiscard]] std::string format_offset_short(double offset_s);

}  // namespace gnomon::daemon
