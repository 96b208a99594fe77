// spdlog set-up for gnomond: one logger on stderr (journald collects it).
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "lib/config.hpp"

namespace gnomon::daemon {

// `debug` (-d) forces the debug level; otherwise `level` from [log] applies.
void init_logging(LogLevel level, bool debug);
// The name the daemon logs itself by: the base name it was started as
// (argv[0]), so that a gnomond installed as chronyd logs "chronyd exiting"
// for scripts that watch for chronyd's messages. "gnomond" until set.
void set_program_name(const char* argv0);
const std::string& program_name();
void set_log_level(LogLevel level, bool debug);

}  // namespace gnomon::daemon
