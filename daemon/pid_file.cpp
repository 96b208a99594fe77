#include "daemon/pid_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace gnomon::daemon {

namespace {

// The pid written in `path`, or -1 (missing, unreadable, garbage).
long read_pid(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  char* end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (end == buf || pid <= 0) return -1;
  return pid;
}

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

}  // namespace

PidFile::~PidFile() { remove(); }

PidFile::PidFile(PidFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

std::string PidFile::create(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0) {
      std::string text = std::to_string(::getpid()) + "\n";
      bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      int err = errno;
      ::close(fd);
      if (!ok) {
        ::unlink(path.c_str());
        return "could not write pid file " + path + ": " + std::strerror(err);
      }
      path_ = path;
      return {};
    }
    if (errno != EEXIST) return "could not create pid file " + path + ": " + std::strerror(errno);
    long pid = read_pid(path);
    if (pid > 0 && pid != static_cast<long>(::getpid()) && process_alive(pid)) {
      return "another gnomond seems to be running with pid " + std::to_string(pid) + " (pid file " + path + ")";
    }
    // Left behind by a process that is gone (or unreadable): replace it.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return "could not remove stale pid file " + path + ": " + std::strerror(errno);
    }
  }
  return "could not create pid file " + path + ": it keeps reappearing";
}

void PidFile::remove() {
  if (path_.empty()) return;
  if (read_pid(path_) == static_cast<long>(::getpid())) ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace gnomon::daemon
