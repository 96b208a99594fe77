#include "daemon/sd_notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace gnomon::daemon {

namespace {

std::optional<std::chrono::microseconds> watchdog_from_environment() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr || std::isdigit(static_cast<unsigned char>(*usec)) == 0) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(usec, &end, 10);
  if (errno != 0 || end == usec || *end != '\0' || v == 0) return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr && *pid != '\0') {
    char* pend = nullptr;
    long long p = std::strtoll(pid, &pend, 10);
    if (pend == pid || *pend != '\0' || p != static_cast<long long>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(v));
}

}  // namespace

SdNotifier::SdNotifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog)
    : path_(std::move(socket_path)), watchdog_(watchdog) {}

SdNotifier::~SdNotifier() { close_socket(); }

SdNotifier::SdNotifier(SdNotifier&& other) noexcept
    : path_(std::move(other.path_)), watchdog_(other.watchdog_), fd_(std::exchange(other.fd_, -1)) {
  other.path_.clear();
}

SdNotifier& SdNotifier::operator=(SdNotifier&& other) noexcept {
  if (this != &other) {
    close_socket();
    path_ = std::move(other.path_);
    other.path_.clear();
    watchdog_ = other.watchdog_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void SdNotifier::close_socket() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

SdNotifier SdNotifier::from_environment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return SdNotifier{};
  return SdNotifier(path, watchdog_from_environment());
}

std::error_code SdNotifier::notify(std::string_view message) noexcept {
  if (path_.empty()) return {};
  // Only file system paths and abstract names ('@'); not vsock: addresses.
  if (path_[0] != '/' && path_[0] != '@') return std::make_error_code(std::errc::address_family_not_supported);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(sa.sun_path)) return std::make_error_code(std::errc::filename_too_long);
  std::memcpy(sa.sun_path, path_.data(), path_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (path_[0] == '@') {
    sa.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL, no terminator
  } else {
    len = static_cast<socklen_t>(len + 1);
  }
  if (fd_ < 0) {
    // No SOCK_CLOEXEC in socket(): the portable build avoids socket flags.
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd_ < 0) return {errno, std::generic_category()};
    ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
  }
  // MSG_DONTWAIT: a stalled service manager must never stall the main loop.
  ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&sa), len);
  if (n < 0) return {errno, std::generic_category()};
  return {};
}

std::string format_offset_short(double offset_s) {
  if (!std::isfinite(offset_s)) return "?";
  double a = std::fabs(offset_s);
  const char* sign = offset_s < 0 ? "-" : "+";
  char buf[48];
  if (a < 1e-6) {
    std::snprintf(buf, sizeof buf, "%s%.0fns", sign, a * 1e9);
  } else if (a < 1e-3) {
    std::snprintf(buf, sizeof buf, "%s%.1fus", sign, a * 1e6);
  } else if (a < 1.0) {
    std::snprintf(buf, sizeof buf, "%s%.3fms", sign, a * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%s%.3fs", sign, a);
  }
  return buf;
}

std::string sync_status_text(const TrackingReport& t) {
  if (t.synchronised) {
    std::string name = t.source_name.empty() ? "an unnamed source" : t.source_name;
    return "Synchronised to " + name + ", offset " + format_offset_short(t.last_offset_s) + ", stratum " +
           std::to_string(t.stratum);
  }
  if (t.local) return "Serving local clock at stratum " + std::to_string(t.stratum);
  return "Not synchronised";
}

}  // namespace gnomon::daemon
