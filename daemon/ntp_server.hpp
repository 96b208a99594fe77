// The NTP server: N workers, each with its own thread and sockets.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
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

  // Opens every worker's sockets. threads = 0 means one per core.
  std::error_code open(const ServerConfig& config);
  void start();
  void stop();

  void set_state(const ServedState& state, Duration correction);
  void set_access(std::shared_ptr<const AccessTable> access);

  [[nodiscard]] ServerCountersSnapshot counters() const;
  [[nodiscard]] std::size_t worker_count() const { return workers_.size(); }

 private:
  struct Worker {
    std::unique_ptr<boost::asio::io_context> own_ctx;
    std::unique_ptr<NtpServerWorker> server;
    std::thread thread;
  };
  boost::asio::io_context* main_ctx_;
  std::vector<Worker> workers_;
};

}  // namespace gnomon::daemon
