// Dropping root (-u USER) when gnomond is started as root outside systemd:
// after the sockets are bound and the clock is opened, the process becomes
// USER and keeps only the capabilities it still needs:
//   CAP_SYS_TIME          when it controls the clock (not with -x),
//   CAP_NET_BIND_SERVICE  when it listens on a port below 1024.
// Everything else goes, from the effective, permitted, inheritable and
// bounding sets. No libcap: prctl(PR_SET_KEEPCAPS), setgroups, setresgid,
// setresuid, then capset(2).
//
// Under systemd the unit starts gnomond as _gnomon with those two
// capabilities as ambient capabilities, and -u is not used.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/config.hpp"

namespace gnomon::daemon {

inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapSysTime = 25;

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

// getpwnam(3). nullopt (and `error` set) for an unknown user.
[[nodiscard]] std::optional<UserIds> lookup_user(const std::string& name, std::string& error);

// The capabilities gnomond needs after start-up, as a bit mask (1 << cap).
[[nodiscard]] std::uint64_t needed_capabilities(const Config& config);

struct PrivilegeDrop {
  UserIds ids;
  std::string user;                    // for messages
  std::uint64_t keep_caps = 0;         // from needed_capabilities()
  // Directories the daemon writes later (drift file, logs, control socket):
  // created if missing and then owned by the user; existing ones are left
  // as they are, with a warning if the user cannot write them.
  std::vector<std::string> writable_dirs;
  // Files created as root that the user must own (the control socket).
  std::vector<std::string> owned_files;
};

// As root, before anything is opened: creates the missing writable_dirs,
// owned by the user (so that the control socket directory, made 0750, is
// the user's), and warns about existing ones the user cannot write.
void prepare_directories(const PrivilegeDrop& drop);

// Drops root as described (after the sockets are bound). Returns "" on success, else why it failed
// (the caller exits 1: running as root when told not to is not an option).
[[nodiscard]] std::string drop_privileges(const PrivilegeDrop& drop);

// The directory part of `path` ("" for a bare name).
[[nodiscard]] std::string parent_directory(const std::string& path);

}  // namespace gnomon::daemon
