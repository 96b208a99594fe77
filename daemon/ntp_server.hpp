// The NTP server: N workers, each with its own thread, sockets and client
// log. With several workers, a reuseport program sends every datagram from
// one client address (IPv4 address or IPv6 /64) to the same worker, whatever
// its source port, so per-worker rate limiting and client logs are exact.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "daemon/ntp_server_worker.hpp"
#include "lib/config.hpp"

namespace gnomon::daemon {

class NtpServer {
 public:
  // With `main_ctx` set (the portable build), one worker runs on the main
  // context instead of its own thread.
  explicit NtpServer(boost::asio::io_context* main_ctx = nullptr);
  ~NtpServer();
  NtpServer(const NtpServer&) = delete;
  NtpServer& operator=(const NtpServer&) = delete;

  // Opens every worker's sockets. threads = 0 means one per core. The client
  // log limit is shared out equally between the workers.
  std::error_code open(const ServerConfig& config);
  void start();
  void stop();

  void set_state(const ServedState& state, Duration correction);
  void set_access(std::shared_ptr<const AccessTable> access);
  void set_nts_keys(std::shared_ptr<const NtsKeyRing> keys);

  [[nodiscard]] ServerCountersSnapshot counters() const;
  [[nodiscard]] std::size_t worker_count() const { return workers_.size(); }
  [[nodiscard]] const std::vector<SocketAddress>& listening() const { return listening_; }
  // The precision measured at open() and served (log2 s).
  [[nodiscard]] std::int8_t precision_log2() const { return precision_log2_; }

  // The client logs of all workers as one index space (chrony's `clients`):
  // worker 0's records first. Thread-safe.
  [[nodiscard]] bool client_log_active() const { return client_capacity() != 0; }
  [[nodiscard]] std::uint32_t client_capacity() const;
  [[nodiscard]] std::optional<ClientRecordReport> client_report(std::uint32_t index, TimePoint now,
                                                                std::uint32_t min_hits, bool reset);
  [[nodiscard]] std::optional<ClientRecordReport> find_client(const IpAddress& ip, TimePoint now) const;
  [[nodiscard]] ClientLogStats client_stats() const;

 private:
  struct Worker {
    std::unique_ptr<boost::asio::io_context> own_ctx;
    std::unique_ptr<NtpServerWorker> server;
    std::thread thread;
  };
  boost::asio::io_context* main_ctx_;
  std::vector<Worker> workers_;
  std::vector<SocketAddress> listening_;  // the addresses the workers listen on  // the addresses the workers listen on
  std::int8_t precision_log2_ = -20;
};

}  // namespace gnomon::daemon
