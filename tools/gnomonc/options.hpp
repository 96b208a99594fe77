// gnomonc's command line: chronyc's options plus -j (JSON).
//   gnomonc [-4|-6] [-h HOST|SOCKET_PATH[,...]] [-p PORT] [-n] [-N] [-c] [-j] [-v] COMMAND [ARGS]
// -v asks for the legends of sources/sourcestats/selectdata (same as the
// command's own -v); --version prints the version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/gnomonc/names.hpp"

namespace gnomon::gnomonc {

struct Options {
  std::string hosts;             // empty: the default targets
  std::uint16_t port = 323;
  FamilyFilter family = FamilyFilter::Any;
  bool no_dns = false;           // -n
  bool source_names = false;     // -N: names as configured, from the daemon
  bool csv = false;              // -c
  bool json = false;             // -j
  bool verbose = false;          // -v
  std::vector<std::string> words;  // the command and its arguments, split on whitespace
};

enum class ParseOutcome { Run, Help, Version, Error };

struct ParsedOptions {
  ParseOutcome outcome = ParseOutcome::Error;
  Options options;
  std::string error;  // for ParseOutcome::Error
};

[[nodiscard]] ParsedOptions parse_options(const std::vector<std::string>& args);  // args without argv[0]
[[nodiscard]] std::string usage(const std::string& program);

}  // namespace gnomon::gnomonc
