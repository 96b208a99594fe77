// The precision we serve: how finely this process can read the system clock,
// measured at startup the way chronyd does it (the smallest positive step
// between consecutive CLOCK_REALTIME readings, which on modern hardware is
// the cost of a read rather than the clock's resolution).
#pragma once

#include <cstdint>

namespace gnomon::daemon {

struct ClockPrecision {
  double quantum_s = 0.0;     // smallest step seen, seconds
  std::int8_t log2 = 0;       // rounded log2 of quantum_s, within -30..0
};

// Busy-reads the clock until it has seen 100 steps (well under a
// millisecond on a fine clock; bounded at about 1 s on a coarse one).
[[nodiscard]] ClockPrecision measure_clock_precision();

}  // namespace gnomon::daemon
