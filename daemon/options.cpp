#include "daemon/options.hpp"

#include <string_view>

namespace gnomon::daemon {

std::string usage_text() {
  return "Usage: gnomond [-f FILE] [-x] [-d] [-q] [-Q] [-u USER] [-P PIDFILE] [-F LEVEL]\n"
         "               [--check-config] [--print-config] [--version]\n"
         "  -f FILE          config file (TOML, or chrony.conf syntax); default " +
         std::string(kDefaultConfigPath) +
         "\n"
         "  -x               never adjust the system clock (measure, select and serve only)\n"
         "  -d               log to stderr at debug level\n"
         "  -q               set the clock once from the configured sources (stepped), exit\n"
         "  -Q               query the configured sources once, print offsets, exit\n"
         "  -u USER          drop root privileges to USER, keeping CAP_SYS_TIME\n"
         "  -P FILE          write the process id to FILE (created exclusively)\n"
         "  -F [LEVEL]       system call filter (seccomp): 1 = on (default), 0 = off,\n"
         "                   -1 = log forbidden calls instead of killing\n"
         "  --check-config   validate the config, print a summary, exit 0 (78 on error)\n"
         "  --print-config   print the effective config as TOML (migration from chrony.conf)\n"
         "  --version        print the version\n";
}

ParsedOptions parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string& dst) -> bool {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    if (a == "-f") {
      if (!value(o.config_path)) return {std::nullopt, "option -f needs a FILE"};
    } else if (a == "-u") {
      if (!value(o.user)) return {std::nullopt, "option -u needs a USER"};
    } else if (a == "-P") {
      if (!value(o.pid_file)) return {std::nullopt, "option -P needs a FILE"};
    } else if (a == "-x") {
      o.no_clock_control = true;
    } else if (a == "-d") {
      o.debug = true;
    } else if (a == "-Q") {
      o.query_once = true;
    } else if (a == "-q") {
      o.update_once = true;
    } else if (a == "-F") {
      // chronyd takes a level (-F 1, as Debian's default does): 0 = off,
      // -1 = log forbidden calls instead of killing (debugging), else on.
      o.seccomp = true;
      if (i + 1 < argc) {
        const std::string_view level = argv[i + 1];
        if (level == "0" || level == "1" || level == "2" || level == "-1") {
          ++i;
          o.seccomp = level != "0";
          o.seccomp_log_only = level == "-1";
        }
      }
    } else if (a == "--check-config") {
      o.check_config = true;
    } else if (a == "--print-config") {
      o.print_config = true;
    } else if (a == "--version" || a == "-v") {
      o.version = true;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else {
      return {std::nullopt, "unknown option '" + std::string(a) + "'"};
    }
  }
  return {o, {}};
}

}  // namespace gnomon::daemon
