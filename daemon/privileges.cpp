#include "daemon/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include <spdlog/spdlog.h>

namespace gnomon::daemon {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool privileged_port(const SocketAddress& a) { return a.port != 0 && a.port < 1024; }

int last_capability() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = 0;
  if (in >> last && last > 0 && last < 64) return last;
  return CAP_LAST_CAP;
}

// Whether `ids` may create files in `st` by its mode bits (a warning only).
bool writable_by(const struct stat& st, const UserIds& ids) {
  if (ids.uid == 0) return true;
  if (st.st_uid == ids.uid) return (st.st_mode & S_IWUSR) != 0 && (st.st_mode & S_IXUSR) != 0;
  if (st.st_gid == ids.gid) return (st.st_mode & S_IWGRP) != 0 && (st.st_mode & S_IXGRP) != 0;
  return (st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_IXOTH) != 0;
}

void prepare_directory(const std::string& dir, const PrivilegeDrop& drop) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      spdlog::warn("Cannot check {}: {}", dir, std::strerror(errno));
      return;
    }
    if (::mkdir(dir.c_str(), 0750) != 0) {
      spdlog::warn("Could not create {}: {}", dir, std::strerror(errno));
      return;
    }
    if (::chown(dir.c_str(), drop.ids.uid, drop.ids.gid) != 0) {
      spdlog::warn("Could not give {} to {}: {}", dir, drop.user, std::strerror(errno));
      return;
    }
    spdlog::info("Created {} for user {}", dir, drop.user);
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    spdlog::warn("{} is not a directory", dir);
  } else if (!writable_by(st, drop.ids)) {
    spdlog::warn("{} is not writable by user {}; what gnomond saves there will fail", dir, drop.user);
  }
}

bool set_capabilities(std::uint64_t caps) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
    auto word = static_cast<std::uint32_t>(caps >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = 0;
  }
  return ::syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

std::string parent_directory(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {};
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::optional<UserIds> lookup_user(const std::string& name, std::string& error) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* result = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result);
  if (rc != 0 || result == nullptr) {
    error = rc != 0 ? std::string("cannot look up user '") + name + "': " + std::strerror(rc)
                    : std::string("no such user '") + name + "'";
    return std::nullopt;
  }
  return UserIds{pw.pw_uid, pw.pw_gid};
}

std::uint64_t needed_capabilities(const Config& config) {
  std::uint64_t caps = 0;
  if (config.clock.control) caps |= std::uint64_t{1} << kCapSysTime;
  bool low_port = false;
  if (config.server.enabled) {
    for (const auto& a : config.server.listen) low_port = low_port || privileged_port(a);
  }
  for (const auto& a : config.control.listen) low_port = low_port || privileged_port(a);
  if (config.nts.enabled) {
    for (const auto& a : config.nts.listen) low_port = low_port || privileged_port(a);
  }
  if (config.metrics.listen) low_port = low_port || privileged_port(*config.metrics.listen);
  if (low_port) caps |= std::uint64_t{1} << kCapNetBindService;
  return caps;
}

void prepare_directories(const PrivilegeDrop& drop) {
  if (::geteuid() != 0) return;
  for (const auto& d : drop.writable_dirs) prepare_directory(d, drop);
}

std::string drop_privileges(const PrivilegeDrop& drop) {
  if (::geteuid() != 0) {
    if (::geteuid() == drop.ids.uid) return {};  // already that user: nothing to drop
    return "-u " + drop.user + " needs gnomond to be started as root";
  }
  for (const auto& f : drop.owned_files) {
    if (!f.empty() && ::chown(f.c_str(), drop.ids.uid, drop.ids.gid) != 0 && errno != ENOENT) {
      spdlog::warn("Could not give {} to {}: {}", f, drop.user, std::strerror(errno));
    }
  }
  if (drop.ids.uid == 0) return {};  // -u root: keep everything, as chronyd does

  // The bounding set first: dropping from it needs CAP_SETPCAP, which the
  // change of user below takes away.
  for (int cap = 0; cap <= last_capability(); ++cap) {
    if ((drop.keep_caps >> cap) & 1U) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return errno_text("prctl(PR_CAPBSET_DROP)");
    }
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errno_text("prctl(PR_SET_KEEPCAPS)");
  if (::setgroups(0, nullptr) != 0) return errno_text("setgroups");
  if (::setresgid(drop.ids.gid, drop.ids.gid, drop.ids.gid) != 0) return errno_text("setresgid");
  if (::setresuid(drop.ids.uid, drop.ids.uid, drop.ids.uid) != 0) return errno_text("setresuid");
  if (!set_capabilities(drop.keep_caps)) return errno_text("capset");
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return errno_text("prctl(PR_SET_KEEPCAPS, 0)");
  // gnomond never executes anything; make sure nothing it could run gains privileges.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_text("prctl(PR_SET_NO_NEW_PRIVS)");
  // There is no way back.
  if (::setuid(0) == 0) return "root could be regained after the drop";
  return {};
}

}  // namespace gnomon::daemon
