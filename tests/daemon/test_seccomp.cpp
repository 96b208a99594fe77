// daemon/seccomp_filter.hpp (gnomond -F): in a forked child, the filter lets
// the daemon's own work through (clock, sockets, files, threads) and kills
// the process on anything else (exec, ptrace, chroot, ...).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <thread>

#include "daemon/seccomp_filter.hpp"

using gnomon::daemon::install_seccomp_filter;
using gnomon::daemon::SeccompAction;

namespace {

// Runs `body` in a child under the filter; returns the raw wait status.
int run_filtered(const std::function<int()>& body, SeccompAction action = SeccompAction::KillProcess) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!install_seccomp_filter(action).empty()) ::_exit(90);
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

bool killed_by_sigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }
bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace

TEST_CASE("seccomp: the daemon's own work is allowed", "[seccomp]") {
  const int status = run_filtered([] {
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME, &ts) != 0) return 1;
    // A UDP round trip on loopback, as the NTP client and server do.
    const int a = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int b = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (a < 0 || b < 0) return 2;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(b, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 3;
    if (::getsockname(b, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 4;
    const char msg[48] = {0x23};
    if (::sendto(a, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 48) return 5;
    char buf[64];
    if (::recv(b, buf, sizeof(buf), 0) != 48) return 6;
    // A file written and renamed, as the drift file is.
    char path[] = "/tmp/gnomon-seccomp-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0 || ::write(fd, "1.0 2.0\n", 8) != 8 || ::fsync(fd) != 0) return 7;
    ::close(fd);
    const std::string moved = std::string(path) + ".new";
    if (::rename(path, moved.c_str()) != 0 || ::unlink(moved.c_str()) != 0) return 8;
    // A thread (server workers, DNS).
    int from_thread = 0;
    std::thread t([&] { from_thread = 42; });
    t.join();
    if (from_thread != 42) return 9;
    // Memory.
    void* p = std::malloc(1 << 20);
    if (p == nullptr) return 10;
    std::free(p);
    return 0;
  });
  CHECK(exited_ok(status));
  if (!exited_ok(status)) INFO("child exit " << WEXITSTATUS(status));
}

TEST_CASE("seccomp: exec, ptrace and other calls off the list kill the process", "[seccomp]") {
  CHECK(killed_by_sigsys(run_filtered([] {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execv("/bin/true", argv);
    return 0;  // not reached: exec is not allowed
  })));
  CHECK(killed_by_sigsys(run_filtered([] {
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    return 0;
  })));
  // Harmless calls that are not on the list: killed before they run.
  CHECK(killed_by_sigsys(run_filtered([] {
    ::syscall(SYS_chroot, "/");
    return 0;
  })));
  CHECK(killed_by_sigsys(run_filtered([] {
    ::syscall(SYS_getpgrp);
    return 0;
  })));
  // Another thread is filtered too (TSYNC).
  CHECK(killed_by_sigsys(run_filtered([] {
    std::thread t([] { ::syscall(SYS_getpgrp); });
    t.join();
    return 0;
  })));
}

TEST_CASE("seccomp: -F -1 logs instead of killing", "[seccomp]") {
  const int status = run_filtered(
      [] {
        ::syscall(SYS_getpgrp);
        return 0;
      },
      SeccompAction::Log);
  CHECK(exited_ok(status));
}
