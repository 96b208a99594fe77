// gnomond -Q: query the configured sources once, print each one's offset,
// and exit without touching the clock (the ntpdate replacement).
#pragma once

#include "lib/config.hpp"

namespace gnomon::daemon {

// Returns the exit code: 0 if at least one source answered, 1 otherwise.
int run_query_once(Config config);

}  // namespace gnomon::daemon
