#include "daemon/ntp_server.hpp"

#include <spdlog/spdlog.h>

namespace gnomon::daemon {

NtpServer::NtpServer(boost::asio::io_context* main_ctx) : main_ctx_(main_ctx) {}

NtpServer::~NtpServer() { stop(); }

std::error_code NtpServer::open(const ServerConfig& config) {
  std::size_t n = config.threads > 0 ? static_cast<std::size_t>(config.threads)
                                     : std::max(1u, std::thread::hardware_concurrency());
#ifdef GNOMON_PORTABLE_IO
  n = 1;
#endif
  if (main_ctx_ != nullptr) n = 1;
  ServerOptions options;
  if (config.ratelimit.enabled) options.min_reply_poll = config.ratelimit.interval;
  for (std::size_t i = 0; i < n; ++i) {
    Worker w;
    boost::asio::io_context* ctx = main_ctx_;
    if (ctx == nullptr) {
      w.own_ctx = std::make_unique<boost::asio::io_context>(1);
      ctx = w.own_ctx.get();
    }
    w.server = std::make_unique<NtpServerWorker>(*ctx, options);
    if (auto ec = w.server->open(config.listen, n > 1)) return ec;
    workers_.push_back(std::move(w));
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

ServerCountersSnapshot NtpServer::counters() const {
  ServerCountersSnapshot s;
  for (const auto& w : workers_) s.add(w.server->counters());
  return s;
}

}  // namespace gnomon::daemon
