#include "lib/sim/sim_server.hpp"

#include "lib/server.hpp"

#include <cmath>

namespace gnomon::sim {

SimServer::SimServer(const SimServerConfig& config, SocketAddress address)
    : config_(config), address_(address), random_(config.seed) {}

double SimServer::offset_at(double t_s) const {
  return config_.offset_s + config_.freq_error_ppm * 1e-6 * t_s;
}

TimePoint SimServer::clock_at(double t_s) const {
  return config_.epoch + Duration{std::llround(t_s * 1e9)} +
         Duration{std::llround(offset_at(t_s) * 1e9)};
}

ServedState SimServer::served_state(double t_s) const {
  ServedState s;
  if (!config_.synchronised) return s;  // the unsynchronised defaults
  s.leap = config_.leap;
  s.stratum = config_.stratum;
  s.refid = config_.refid;
  // As if the server had updated its clock 8 s ago.
  s.reference_time = clock_at(t_s) - Duration::seconds(8);
  s.root_delay_s = config_.root_delay_s;
  s.root_dispersion_s = config_.root_dispersion_s;
  s.dispersion_rate = 15e-6;
  s.precision = config_.precision;
  return s;
}

std::optional<SimReply> SimServer::handle(double t_s, const SocketAddress& client,
                                          std::span<const std::uint8_t> request) {
  ++counters_.requests;
  RequestContext ctx;
  ctx.request = request;
  ctx.rx_time = clock_at(t_s);
  ctx.client = client;
  ctx.allowed = true;
  ctx.rx_fuzz = random_.next_u32();
  ctx.tx_fuzz = random_.next_u32();
  const ServerReply r = build_reply(ctx, served_state(t_s), ServerOptions{}, buffer_);
  if (!r.answered() || r.length == 0) {
    ++counters_.dropped;
    return std::nullopt;
  }
  const double send_s = t_s + config_.processing_s;
  std::span<std::uint8_t> reply(buffer_.data(), r.length);
  if (r.needs_transmit_stamp) {
    stamp_transmit(reply, clock_at(send_s), random_.next_u32(), config_.precision);
  }
  ++counters_.answered;
  return SimReply{send_s, std::vector<std::uint8_t>(reply.begin(), reply.end())};
}

}  // namespace gnomon::sim
