// A deterministic discrete-event network for the simulator, in the manner of
// ngtcp2's test network: datagrams {time, from, to, bytes} wait in a queue
// ordered by delivery time (ties by send order). Times are TRUE time in
// seconds since the start of the simulation (see FakeClock).
//
// Each link joins two nodes. Each direction has its own delay model, a fixed
// base delay plus exponentially distributed jitter (chrony's simulation model:
// base + jitter * Exp(1)); a difference between the two base delays is the
// path asymmetry, which NTP cannot see and turns into an offset error of half
// of it. Datagrams can be lost at random, and dropped while the link is down.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <span>
#include <utility>
#include <vector>

#include "lib/sim/sim_random.hpp"

namespace gnomon::sim {

using NodeId = std::uint32_t;

// Delay of one direction: base_s + jitter_s * Exp(1), in seconds.
struct DelayModel {
  double base_s = 100e-6;
  double jitter_s = 100e-6;  // mean of the exponential part
};

// When a link carries traffic. Up by default. With period_s > 0 it is up only
// during [phase_s + k * period_s, phase_s + k * period_s + up_s) for every
// integer k (e.g. 30 min per day: period 86400, up 1800). `down` lists extra
// outages [start, end). A datagram is dropped if the link is down when it is
// sent.
struct LinkSchedule {
  double period_s = 0.0;
  double up_s = 0.0;
  double phase_s = 0.0;
  std::vector<std::pair<double, double>> down{};

  [[nodiscard]] bool is_up(double t_s) const;
};

struct LinkConfig {
  DelayModel a_to_b;
  DelayModel b_to_a;
  double loss = 0.0;  // probability that a datagram is lost, each direction
  LinkSchedule schedule;
  std::uint64_t seed = 1;

  // Same base delay and jitter both ways.
  static LinkConfig symmetric(double base_s, double jitter_s, std::uint64_t seed = 1);
  // Adds asymmetry_s / 2 to the a->b base delay and takes it from b->a
  // (positive = the a->b path is slower). The mean round trip is unchanged.
  LinkConfig& with_asymmetry(double asymmetry_s);
};

struct Datagram {
  double sent_s = 0.0;
  double deliver_s = 0.0;
  NodeId from = 0;
  NodeId to = 0;
  std::uint64_t tag = 0;  // the sender's, carried unchanged (e.g. to match replies)
  std::vector<std::uint8_t> bytes;
};

struct NetworkCounters {
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;         // random loss
  std::uint64_t dropped_down = 0; // link down or missing
  std::uint64_t delivered = 0;
};

class SimNetwork {
 public:
  // Adds (or replaces) the link between a and b. `a` is the side whose
  // outgoing delays are `a_to_b`.
  void add_link(NodeId a, NodeId b, const LinkConfig& config);
  // The link's config, to change its schedule or loss during a run. nullptr
  // if there is none.
  [[nodiscard]] LinkConfig* link_config(NodeId a, NodeId b);

  // Sends a datagram at true time now_s. Returns false if it was lost or the
  // link was down (or does not exist); then nothing will be delivered.
  bool send(double now_s, NodeId from, NodeId to, std::span<const std::uint8_t> bytes,
            std::uint64_t tag = 0);

  // Delivery time of the next datagram in flight, if any.
  [[nodiscard]] std::optional<double> next_delivery_s() const;
  // Removes and returns the earliest datagram due at or before now_s.
  [[nodiscard]] std::optional<Datagram> pop_due(double now_s);
  [[nodiscard]] std::size_t in_flight() const { return queue_.size(); }
  [[nodiscard]] const NetworkCounters& counters() const { return counters_; }

 private:
  struct Link {
    LinkConfig config;
    SimRandom random;
  };
  struct Pending {
    double deliver_s;
    std::uint64_t seq;
    Datagram datagram;
  };
  struct Later {
    bool operator()(const Pending& x, const Pending& y) const {
      return x.deliver_s != y.deliver_s ? x.deliver_s > y.deliver_s : x.seq > y.seq;
    }
  };

  std::map<std::pair<NodeId, NodeId>, Link> links_;  // key: (min, max)
  std::priority_queue<Pending, std::vector<Pending>, Later> queue_;
  std::uint64_t next_seq_ = 0;
  NetworkCounters counters_{};
};

}  // namespace gnomon::sim
