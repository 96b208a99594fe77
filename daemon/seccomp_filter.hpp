// gnomond -F: a seccomp allow-list of the system calls the running daemon
// needs (sockets, timers, the clock, its own files, DNS, threads, memory).
// Any other system call kills the whole process (SIGSYS), so that an
// exploited bug cannot go on to exec, ptrace, mount or load modules.
// Installed after the sockets are open and privileges are dropped.
#pragma once

#include <string>

namespace gnomon::daemon {

enum class SeccompAction : unsigned char {
  KillProcess,  // -F / -F 1: a forbidden call kills the daemon
  Log,          // -F -1: a forbidden call is allowed and logged by the kernel (debugging)
};

// Installs the filter on every thread of the process. Returns "" on
// success, else what failed.
[[nodiscard]] std::string install_seccomp_filter(SeccompAction action = SeccompAction::KillProcess);

}  // namespace gnomon::daemon
