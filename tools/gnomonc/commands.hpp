// gnomonc's commands. Each asks the daemon for what chronyc asks, in the same
// order, and prints text and CSV as the replies arrive (so that a failure
// midway prints exactly what chronyc prints), or one JSON document at the end.
#pragma once

#include <cstdio>

#include "tools/gnomonc/options.hpp"
#include "tools/gnomonc/session.hpp"

namespace gnomon::gnomonc {

struct CommandContext {
  const Options& options;
  Session& session;
  std::FILE* out;
  std::FILE* err;
};

// Runs options.words; false on any failure (gnomonc then exits with 1).
[[nodiscard]] bool run_command(const CommandContext& ctx);

}  // namespace gnomon::gnomonc
