#include "daemon/ntp_server.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "daemon/clock_precision.hpp"

namespace gnomon::daemon {

namespace {

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

// A classic BPF program for the reuseport group of one listen address: the
// worker is a multiplicative hash of the source address (IPv4) or of its /64
// (IPv6, the two words XORed) modulo the number of workers. Offsets are from
// the network header.
bool attach_worker_by_source(int fd, bool v4, std::size_t workers) {
  const auto n = static_cast<std::uint32_t>(workers);
  constexpr std::uint32_t kGolden = 0x9E3779B1u;
  std::array<sock_filter, 8> code{};
  std::size_t len = 0;
  auto stmt = [&](std::uint16_t op, std::uint32_t k) { code[len++] = sock_filter{op, 0, 0, k}; };
  if (v4) {
    stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_NET_OFF + 12));  // source address
  } else {
    stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_NET_OFF + 8));   // source, bits 0..31
    stmt(BPF_MISC | BPF_TAX, 0);
    stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_NET_OFF + 12));  // bits 32..63
    stmt(BPF_ALU | BPF_XOR | BPF_X, 0);
  }
  stmt(BPF_ALU | BPF_MUL | BPF_K, kGolden);
  stmt(BPF_ALU | BPF_RSH | BPF_K, 16);
  stmt(BPF_ALU | BPF_MOD | BPF_K, n);
  stmt(BPF_RET | BPF_A, 0);
  sock_fprog prog{static_cast<unsigned short>(len), code.data()};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0;
}

}  // namespace

NtpServer::NtpServer(boost::asio::io_context* main_ctx) : main_ctx_(main_ctx) {}

NtpServer::~NtpServer() { stop(); }

std::error_code NtpServer::open(const ServerConfig& config) {
  std::size_t n = config.threads > 0 ? static_cast<std::size_t>(config.threads)
                                     : std::max(1u, std::thread::hardware_concurrency());
#ifdef GNOMON_PORTABLE_IO
  n = 1;
#endif
  if (main_ctx_ != nullptr) n = 1;
  if (config.ratelimit.enabled && config.clientloglimit == 0) {
    // chrony refuses this combination too: the limiter keeps its state in the log.
    spdlog::error("Rate limiting cannot be enabled with noclientlog (clientloglimit = 0)");
    return std::make_error_code(std::errc::invalid_argument);
  }
  const ClockPrecision precision = measure_clock_precision();
  precision_log2_ = precision.log2;
  spdlog::info("Clock precision {:.1f} ns (log2 {})", precision.quantum_s * 1e9, precision.log2);

  WorkerSetup setup;
  if (config.ratelimit.enabled) setup.options.min_reply_poll = config.ratelimit.interval;
  setup.limiter = RateLimiter::from_config(config.ratelimit);
  setup.client_log_bytes = static_cast<std::size_t>(config.clientloglimit / n);
  if (config.clientloglimit != 0 && setup.client_log_bytes == 0) setup.client_log_bytes = 1;
  setup.precision_log2 = precision.log2;
  for (std::size_t i = 0; i < n; ++i) {
    Worker w;
    boost::asio::io_context* ctx = main_ctx_;
    if (ctx == nullptr) {
      w.own_ctx = std::make_unique<boost::asio::io_context>(1);
      ctx = w.own_ctx.get();
    }
    w.server = std::make_unique<NtpServerWorker>(*ctx, setup);
    // Each worker opens what the first one could.
    if (auto ec = w.server->open(i == 0 ? config.listen : listening_, n > 1)) return ec;
    if (i == 0) {
      for (std::size_t a = 0; a < w.server->listener_count(); ++a) listening_.push_back(w.server->listener_address(a));
    }
    workers_.push_back(std::move(w));
  }
  if (n > 1) {
    for (std::size_t a = 0; a < listening_.size(); ++a) {
      if (!attach_worker_by_source(workers_[0].server->native_handle(a), listening_[a].ip.is_v4(), n)) {
        spdlog::warn("Could not pin clients to workers on {} ({}): rate limits and client records are per "
                     "client port there",
                     listening_[a].to_string(), std::strerror(errno));
      }
    }
  }
  return {};
}

void NtpServer::start() {
  for (auto& w : workers_) {
    w.server->start();
    if (w.own_ctx) {
      w.thread = std::thread([ctx = w.own_ctx.get()] {
        auto guard = boost::asio::make_work_guard(*ctx);
        ctx->run();
      });
    }
  }
}

void NtpServer::stop() {
  for (auto& w : workers_) {
    if (w.own_ctx) w.own_ctx->stop();
  }
  for (auto& w : workers_) {
    if (w.thread.joinable()) w.thread.join();
    w.server->close();
  }
  workers_.clear();
}

void NtpServer::set_state(const ServedState& state, Duration correction) {
  for (auto& w : workers_) w.server->post_state(state, correction);
}

void NtpServer::set_access(std::shared_ptr<const AccessTable> access) {
  for (auto& w : workers_) w.server->post_access(access);
}

void NtpServer::set_nts_keys(std::shared_ptr<const NtsKeyRing> keys) {
  for (auto& w : workers_) w.server->post_nts_keys(keys);
}

ServerCountersSnapshot NtpServer::counters() const {
  ServerCountersSnapshot s;
  for (const auto& w : workers_) s.add(w.server->counters());
  return s;
}

std::uint32_t NtpServer::client_capacity() const {
  std::uint32_t n = 0;
  for (const auto& w : workers_) n += w.server->client_capacity();
  return n;
}

std::optional<ClientRecordReport> NtpServer::client_report(std::uint32_t index, TimePoint now,
                                                           std::uint32_t min_hits, bool reset) {
  for (auto& w : workers_) {
    const std::uint32_t cap = w.server->client_capacity();
    if (index < cap) return w.server->client_report(index, now, min_hits, reset);
    index -= cap;
  }
  return std::nullopt;
}

std::optional<ClientRecordReport> NtpServer::find_client(const IpAddress& ip, TimePoint now) const {
  for (const auto& w : workers_) {
    if (auto r = w.server->find_client(ip, now)) return r;
  }
  return std::nullopt;
}

ClientLogStats NtpServer::client_stats() const {
  ClientLogStats s;
  for (const auto& w : workers_) {
    const ClientLogStats ws = w.server->client_stats();
    s.evictions += ws.evictions;
    s.records += ws.records;
    s.timestamps += ws.timestamps;
    s.timestamps_span_s = std::max(s.timestamps_span_s, ws.timestamps_span_s);
  }
  return s;
}

}  // namespace gnomon::daemon
