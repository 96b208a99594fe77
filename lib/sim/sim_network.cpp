#include "lib/sim/sim_network.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon::sim {

bool LinkSchedule::is_up(double t_s) const {
  for (const auto& [start, end] : down) {
    if (t_s >= start && t_s < end) return false;
  }
  if (period_s <= 0.0) return true;
  double phase = std::fmod(t_s - phase_s, period_s);
  if (phase < 0.0) phase += period_s;
  return phase < up_s;
}

LinkConfig LinkConfig::symmetric(double base_s, double jitter_s, std::uint64_t seed) {
  LinkConfig c;
  c.a_to_b = DelayModel{base_s, jitter_s};
  c.b_to_a = DelayModel{base_s, jitter_s};
  c.seed = seed;
  return c;
}

LinkConfig& LinkConfig::with_asymmetry(double asymmetry_s) {
  a_to_b.base_s += asymmetry_s / 2.0;
  b_to_a.base_s -= asymmetry_s / 2.0;
  return *this;
}

void SimNetwork::add_link(NodeId a, NodeId b, const LinkConfig& config) {
  LinkConfig stored = config;
  if (a > b) std::swap(stored.a_to_b, stored.b_to_a);
  auto key = std::minmax(a, b);
  links_.insert_or_assign(std::pair{key.first, key.second}, Link{stored, SimRandom(config.seed)});
}

LinkConfig* SimNetwork::link_config(NodeId a, NodeId b) {
  auto key = std::minmax(a, b);
  auto it = links_.find(std::pair{key.first, key.second});
  return it == links_.end() ? nullptr : &it->second.config;
}

bool SimNetwork::send(double now_s, NodeId from, NodeId to, std::span<const std::uint8_t> bytes,
                      std::uint64_t tag) {
  ++counters_.sent;
  auto key = std::minmax(from, to);
  auto it = links_.find(std::pair{key.first, key.second});
  if (it == links_.end() || !it->second.config.schedule.is_up(now_s)) {
    ++counters_.dropped_down;
    return false;
  }
  Link& link = it->second;
  // Draw the loss decision and the jitter in a fixed order, so that a run
  // does not depend on whether earlier datagrams were lost.
  const bool lost = link.random.chance(link.config.loss);
  const double exp1 = link.random.exponential();
  if (lost) {
    ++counters_.lost;
    return false;
  }
  const DelayModel& model = from == key.first ? link.config.a_to_b : link.config.b_to_a;
  const double delay_s = std::max(0.0, model.base_s + model.jitter_s * exp1);
  Datagram d{now_s, now_s + delay_s, from, to, tag,
             std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
  queue_.push(Pending{d.deliver_s, next_seq_++, std::move(d)});
  return true;
}

std::optional<double> SimNetwork::next_delivery_s() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.top().deliver_s;
}

std::optional<Datagram> SimNetwork::pop_due(double now_s) {
  if (queue_.empty() || queue_.top().deliver_s > now_s) return std::nullopt;
  Datagram d = queue_.top().datagram;  // top() is const: copy, then pop
  queue_.pop();
  ++counters_.delivered;
  return d;
}

}  // namespace gnomon::sim
