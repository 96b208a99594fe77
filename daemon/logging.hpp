// spdlog set-up for gnomond: one logger on stderr (journald collects it).
#pragma once

#include <spdlog/spdlog.h>

#include "lib/config.hpp"

namespace gnomon::daemon {

// `debug` (-d) forces the debug level; otherwise `level` from [log] applies.
void init_logging(LogLevel level, bool debug);
void set_log_level(LogLevel level, bool debug);

}  // namespace gnomon::daemon
