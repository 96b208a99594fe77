#include "lib/sim/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace gnomon::sim {
namespace {

constexpr NodeId kClientNode = 0;

// The engine's request randomness, from the scenario's seed.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(std::uint64_t seed) : random_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(random_.next_u64());
  }

 private:
  SimRandom random_;
};

// Distinct, reproducible seeds for the parts of one run.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t part) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL + part * 0xBF58476D1CE4E5B9ULL + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

SocketAddress server_address(std::size_t index) {
  SocketAddress a;
  a.ip = IpAddress::v4(0xC0A87B01u + static_cast<std::uint32_t>(index));  // 192.168.123.1 + i
  a.port = 123;
  return a;
}

SocketAddress client_address(std::uint16_t port) {
  SocketAddress a;
  a.ip = IpAddress::v4(0xC0A87BC8u);  // 192.168.123.200
  a.port = port;
  return a;
}

// One request in flight: who sent it and when (client clock reading).
struct Exchange {
  SourceId source = 0;
  TimePoint tx_time{};
  double sent_true_s = 0.0;
};

class Runner {
 public:
  explicit Runner(const ScenarioConfig& config)
      : config_(config),
        clock_(clock_config(config)),
        engine_(clock_, config.engine),
        random_(derive_seed(config.seed, 1)) {
    result_.name = config.name;
    result_.selected_samples.assign(config.servers.size(), 0);
    for (std::size_t i = 0; i < config.servers.size(); ++i) {
      const ScenarioServer& spec = config.servers[i];
      SimServerConfig sc = spec.server;
      sc.seed = derive_seed(config.seed, 100 + i);
      servers_.emplace_back(sc, server_address(i));
      LinkConfig link = spec.link;
      link.seed = derive_seed(config.seed, 200 + i);
      network_.add_link(kClientNode, node_of(i), link);
    }
  }

  ScenarioResult run() {
    if (config_.drift) engine_.load_drift(*config_.drift);
    const TimePoint t0 = clock_.now();
    for (std::size_t i = 0; i < config_.servers.size(); ++i) {
      SourceConfig sc = config_.servers[i].source;
      sc.address = server_address(i).ip.to_string();
      sc.port = 123;
      const EntryId entry = engine_.add_entry(sc, t0);
      entries_[entry] = i;
    }
    if (config_.local_clock) {
      SourceConfig local;
      local.address = "127.127.1.0";
      static_cast<void>(engine_.add_entry(local, t0));
    }
    process(engine_.start(t0));

    double next_sample_s = 0.0;
    std::uint64_t sample_index = 0;
    // Bounded: every iteration either takes a sample, delivers a datagram or
    // runs the engine's timer, all of which move forward in time.
    const std::uint64_t max_iterations = 200000000ULL;
    for (std::uint64_t it = 0; it < max_iterations; ++it) {
      const double now_s = clock_.true_time_s();
      const double wake_s = wakeup_true_s(now_s);
      const double net_s = network_.next_delivery_s().value_or(INFINITY);
      double next_s = std::min({next_sample_s, wake_s, net_s});
      if (next_s > config_.duration_s) break;
      clock_.advance_to(std::max(next_s, now_s));

      if (next_s == next_sample_s) {
        take_sample(sample_index++);
        next_sample_s += 1.0;
        continue;
      }
      if (next_s == net_s) {
        if (auto d = network_.pop_due(clock_.true_time_s())) deliver(*d);
        continue;
      }
      const TimePoint now = clock_.now();
      const auto wakeup = engine_.next_wakeup();
      if (wakeup && now >= *wakeup) {
        process(engine_.handle_timer(now, random_));
        // An engine that keeps asking for the same instant must not stall
        // the run: after many calls without progress, time moves on.
        stalled_ = (engine_.next_wakeup() && *engine_.next_wakeup() <= now) ? stalled_ + 1 : 0;
        if (stalled_ > 1000) {
          clock_.advance_to(clock_.true_time_s() + 1e-3);
          stalled_ = 0;
        }
      }
      // Otherwise the clock ran slower than the estimate: the next pass
      // advances by the remaining difference.
    }
    finish();
    return std::move(result_);
  }

 private:
  static FakeClockConfig clock_config(const ScenarioConfig& c) {
    FakeClockConfig fc = c.clock;
    fc.seed = derive_seed(c.seed, 2);
    return fc;
  }
  static NodeId node_of(std::size_t index) { return static_cast<NodeId>(index + 1); }

  // The true time at which the client's clock reaches the engine's wakeup,
  // from the clock's current rate; never earlier than 1 ns from now.
  double wakeup_true_s(double now_s) {
    const auto wakeup = engine_.next_wakeup();
    if (!wakeup) return INFINITY;
    const double local_left_s = (*wakeup - clock_.now()).to_seconds();
    if (local_left_s <= 0.0) return now_s;
    const double rate = 1.0 + clock_.true_frequency_error_ppm() * 1e-6;
    return now_s + std::max(local_left_s / rate, 1e-9);
  }

  void process(const Actions& actions) {
    const double t = clock_.true_time_s();
    for (const auto& e : actions.events) result_.events.push_back(TimedEvent{t, e.text});
    for (const auto& c : actions.clock) {
      if (c.stepped.ns != 0) ++result_.steps;
    }
    if (actions.panic) result_.panic = true;
    for (const auto& send : actions.sends) {
      const auto idx = index_of(send.request.to);
      ++result_.requests;
      if (!idx) continue;
      const std::uint64_t tag = next_tag_++;
      const TimePoint tx = clock_.now();
      if (network_.send(t, kClientNode, node_of(*idx), send.request.data(), tag)) {
        exchanges_[tag] = Exchange{send.source, tx, t};
      }
    }
    // Forget requests whose replies can no longer arrive (lost on the way back).
    while (!exchanges_.empty() && exchanges_.begin()->second.sent_true_s < t - 60.0) {
      exchanges_.erase(exchanges_.begin());
    }
  }

  std::optional<std::size_t> index_of(const SocketAddress& to) const {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i].address().ip == to.ip) return i;
    }
    return std::nullopt;
  }

  void deliver(const Datagram& d) {
    const double t = clock_.true_time_s();
    if (d.to != kClientNode) {
      const std::size_t i = d.to - 1;
      const auto port = static_cast<std::uint16_t>(1024 + d.tag % 60000);
      if (auto reply = servers_[i].handle(t, client_address(port), d.bytes)) {
        static_cast<void>(network_.send(reply->send_s, d.to, kClientNode, reply->bytes, d.tag));
      }
      return;
    }
    auto it = exchanges_.find(d.tag);
    if (it == exchanges_.end()) return;
    const Exchange ex = it->second;
    exchanges_.erase(it);
    ++result_.replies;
    ReplyContext ctx;
    ctx.rx_time = clock_.now();
    ctx.tx_time = ex.tx_time;
    ctx.from = servers_[d.from - 1].address();
    process(engine_.handle_reply(ctx.rx_time, ex.source, d.bytes, ctx));
  }

  int current_reference() {
    if (const auto id = engine_.selected_source()) {
      if (const Source* src = engine_.source(*id)) {
        if (const auto idx = index_of(src->remote())) return static_cast<int>(*idx);
      }
    }
    if (engine_.local_active()) return kRefLocal;
    return kRefNone;
  }

  void take_sample(std::uint64_t index) {
    ScenarioSample s;
    s.clock = ClockSample{clock_.true_time_s(), clock_.true_offset_s(),
                          clock_.true_frequency_error_ppm()};
    s.reference = current_reference();
    if (s.reference >= 0) {
      ++result_.selected_samples[static_cast<std::size_t>(s.reference)];
    } else if (s.reference == kRefLocal) {
      ++result_.local_samples;
    } else {
      ++result_.unsync_samples;
    }
    s.stratum = engine_.served_state(clock_.now()).stratum;
    all_.push_back(s.clock);
    const auto keep = static_cast<std::uint64_t>(std::max(1, config_.keep_every));
    if (index % keep == 0) result_.samples.push_back(s);
  }

  void finish() {
    result_.sync_time_s = sync_time_s(all_, config_.sync);
    result_.fine_sync_time_s = first_hold_time_s(all_, config_.fine_sync, config_.fine_hold_s);
    result_.stats = error_stats(all_, config_.stats_start_s);
    result_.frequency_sets = clock_.count(ClockAdjustment::Kind::Frequency);
    result_.adjustments = clock_.adjustments();
    result_.final_states.assign(servers_.size(), '?');
    for (const auto& row : engine_.sources(clock_.now())) {
      if (!row.address) continue;
      if (const auto idx = index_of(*row.address)) result_.final_states[*idx] = row.state;
    }
  }

  const ScenarioConfig& config_;
  FakeClock clock_;
  SyncEngine engine_;
  SeededRandom random_;
  SimNetwork network_;
  std::vector<SimServer> servers_;
  std::map<EntryId, std::size_t> entries_;
  std::map<std::uint64_t, Exchange> exchanges_;
  std::uint64_t next_tag_ = 1;
  int stalled_ = 0;
  std::vector<ClockSample> all_;
  ScenarioResult result_;
};

}  // namespace

bool ScenarioResult::logged(const std::string& needle) const { return count_logged(needle) > 0; }

std::size_t ScenarioResult::count_logged(const std::string& needle) const {
  return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const auto& e) {
    return e.text.find(needle) != std::string::npos;
  }));
}

ScenarioResult run_scenario(const ScenarioConfig& config) { return Runner(config).run(); }

ScenarioConfig default_scenario(std::uint64_t seed) {
  ScenarioConfig c;
  c.name = "default";
  c.duration_s = 10000.0;
  c.seed = seed;
  c.clock.initial_offset_s = 0.1;
  c.clock.freq_error_ppm = 100.0;
  c.clock.wander_ppm = 1e-3;
  c.engine.reference.makestep = std::nullopt;  // chrony's default: no makestep
  ScenarioServer s;
  s.link = LinkConfig::symmetric(100e-6, 100e-6);
  c.servers.push_back(s);
  return c;
}

std::string format_csv(const ScenarioResult& result) {
  std::string out = "t_s,offset_s,freq_ppm,reference,stratum\n";
  char line[128];
  for (const auto& s : result.samples) {
    std::snprintf(line, sizeof line, "%.0f,%.9e,%.6e,%d,%d\n", s.clock.t_s, s.clock.offset_s,
                  s.clock.freq_ppm, s.reference, s.stratum);
    out += line;
  }
  return out;
}

}  // namespace gnomon::sim
