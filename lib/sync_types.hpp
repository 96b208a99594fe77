// Value types shared between the client side (sources, statistics, selection,
// reference) and the server side (what we serve).
//
// Sign convention, everywhere in gnomon: an offset is LOCAL CLOCK MINUS SOURCE
// (or true time). Positive means our clock is ahead ("fast"), as chronyc's
// "seconds fast of NTP time" and its sources column show it.
#pragma once

#include <cstdint>

#include "lib/time.hpp"

namespace gnomon {

enum class Leap : std::uint8_t { None = 0, Insert = 1, Delete = 2, Unsynchronised = 3 };

// Refid that chrony's `local` reference sends: 127.127.1.1.
inline constexpr std::uint32_t kLocalRefid = 0x7F7F0101u;
// Root delay and dispersion that an unsynchronised server sends, in seconds.
inline constexpr double kUnsyncRootDelayS = 1.0;
inline constexpr double kUnsyncRootDispersionS = 1.0;

// What the NTP server puts into replies: our system state at `reference_time`.
// Root dispersion grows with time since then at `dispersion_rate` (s/s), as
// chrony's REF_GetReferenceParams computes it at each reply.
struct ServedState {
  Leap leap = Leap::Unsynchronised;
  int stratum = 0;                 // 0 = unsynchronised (sent as 0, LI 3)
  std::uint32_t refid = 0;
  TimePoint reference_time{};
  double root_delay_s = kUnsyncRootDelayS;
  double root_dispersion_s = kUnsyncRootDispersionS;
  double dispersion_rate = 0.0;    // s of dispersion gained per s elapsed
  std::int8_t precision = -20;     // log2 s of our clock reading

  [[nodiscard]] bool synchronised() const { return leap != Leap::Unsynchronised && stratum > 0; }
};

// One accepted measurement of a source, produced by the client association.
struct NtpSample {
  TimePoint time{};                // local time the offset refers to
  double offset_s = 0.0;           // local minus source (+ = we are ahead)
  double peer_delay_s = 0.0;       // round-trip delay, >= 0
  double peer_dispersion_s = 0.0;  // error bound of this measurement
  double root_delay_s = 0.0;       // source's root delay + peer_delay_s
  double root_dispersion_s = 0.0;  // source's root dispersion + peer_dispersion_s
  int stratum = 0;                 // the source's stratum
  Leap leap = Leap::None;
};

}  // namespace gnomon
