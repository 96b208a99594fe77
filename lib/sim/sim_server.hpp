// A simulated NTP server: its own clock (true time plus a fixed offset and a
// constant frequency error; a falseticker is just a server whose offset is
// large), a stratum and root distance, and real replies made by
// lib/server.hpp's build_reply() and stamp_transmit().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "lib/net_address.hpp"
#include "lib/packet.hpp"
#include "lib/sim/fake_clock.hpp"
#include "lib/sim/sim_random.hpp"
#include "lib/sync_types.hpp"

namespace gnomon::sim {

struct SimServerConfig {
  int stratum = 1;
  std::uint32_t refid = 0x47505300u;  // "GPS"
  double offset_s = 0.0;              // server clock minus true time at true 0
  double freq_error_ppm = 0.0;        // constant, + = gains
  double root_delay_s = 0.0;          // towards its own reference
  double root_dispersion_s = 10e-6;
  std::int8_t precision = -23;        // log2 s
  double processing_s = 5e-6;         // receive-to-transmit time, true s
  Leap leap = Leap::None;
  bool synchronised = true;           // false: answers as unsynchronised (LI 3, stratum 0)
  std::uint64_t seed = 1;             // for the timestamp fuzz
  TimePoint epoch = kSimEpoch;
};

struct SimReply {
  double send_s = 0.0;                // true time the reply leaves
  std::vector<std::uint8_t> bytes;
};

struct SimServerCounters {
  std::uint64_t requests = 0;
  std::uint64_t answered = 0;
  std::uint64_t dropped = 0;
};

class SimServer {
 public:
  SimServer(const SimServerConfig& config, SocketAddress address);

  // Handles a request delivered at true time t_s from `client`. Returns the
  // reply, or nothing if build_reply() drops the request.
  [[nodiscard]] std::optional<SimReply> handle(double t_s, const SocketAddress& client,
                                               std::span<const std::uint8_t> request);

  // The server's clock reading at true time t_s.
  [[nodiscard]] TimePoint clock_at(double t_s) const;
  // Its clock minus true time at t_s, s.
  [[nodiscard]] double offset_at(double t_s) const;
  [[nodiscard]] ServedState served_state(double t_s) const;
  [[nodiscard]] const SocketAddress& address() const { return address_; }
  [[nodiscard]] SimServerConfig& config() { return config_; }
  [[nodiscard]] const SimServerCounters& counters() const { return counters_; }

 private:
  SimServerConfig config_;
  SocketAddress address_;
  SimRandom random_;
  SimServerCounters counters_{};
  std::array<std::uint8_t, kMaxNtpPacketLen> buffer_{};
};

}  // namespace gnomon::sim
