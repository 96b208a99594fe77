#include "daemon/options.hpp"

#include <string_view>

namespace gnomon::daemon {

std::string usage_text() {
  return "Usage: gnomond [-f FILE] [-x] [-d] [-Q] [-u USER] [-P PIDFILE] [--check-config]\n"
         "               [--print-config] [--version]\n"
         "  -f FILE          config file (TOML, or chrony.conf syntax); default " +
         std::string(kDefaultConfigPath) +
         "\n"
         "  -x               never adjust the system clock (measure, select and serve only)\n"
         "  -d               log to stderr at debug level\n"
         "  -Q               query the configured sources once, print offsets, exit\n"
         "  -u USER          drop root privileges to USER, keeping CAP_SYS_TIME\n"
         "  -P FILE          write the process id to FILE (created exclusively)\n"
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
    } else if (a == "-F") {
      o.seccomp = true;
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
