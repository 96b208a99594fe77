// gnomond's command line: chronyd's options plus gnomon's own.
#pragma once

#include <optional>
#include <string>

namespace gnomon::daemon {

inline constexpr const char* kDefaultConfigPath = "/etc/gnomon/gnomon.toml";

struct Options {
  std::string config_path = kDefaultConfigPath;
  bool no_clock_control = false;  // -x
  bool debug = false;             // -d
  bool check_config = false;      // --check-config
  bool print_config = false;      // --print-config
  bool query_once = false;        // -Q
  bool update_once = false;       // -q: set the clock once and exit
  bool version = false;           // --version
  bool help = false;              // -h / --help
  std::string user;               // -u USER: drop privileges to this user
  bool seccomp = false;           // -F: seccomp allow-list
  bool seccomp_log_only = false;  // -F -1: log forbidden calls, don't kill
  std::string pid_file;           // -P FILE
};

struct ParsedOptions {
  std::optional<Options> options;
  std::string error;  // set when options is empty
};

ParsedOptions parse_options(int argc, char** argv);
std::string usage_text();

}  // namespace gnomon::daemon
