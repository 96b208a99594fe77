// One NTP server worker: its own socket per listen address (SO_REUSEPORT when
// there are several workers), its own io_context thread, counters, random
// pool and copies of the served state and access table. Workers share no
// lock on the hot path; the main thread hands them new state by posting.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <memory>
#include <system_error>
#include <vector>

#include "daemon/random_pool.hpp"
#include "daemon/server_counters.hpp"
#include "lib/acl.hpp"
#include "lib/net_address.hpp"
#include "lib/server.hpp"
#include "lib/sync_types.hpp"

namespace gnomon::daemon {

class NtpServerWorker {
 public:
  NtpServerWorker(boost::asio::io_context& ctx, const ServerOptions& options);
  NtpServerWorker(const NtpServerWorker&) = delete;
  NtpServerWorker& operator=(const NtpServerWorker&) = delete;

  // Binds every address; call before the context runs.
  std::error_code open(const std::vector<SocketAddress>& listen, bool reuse_port);
  void start();
  void close();

  // Thread-safe: posted to the worker's context.
  // `correction` is added to raw CLOCK_REALTIME readings (-x mode's virtual clock).
  void post_state(const ServedState& state, Duration correction);
  void post_access(std::shared_ptr<const AccessTable> access);

  [[nodiscard]] const ServerCounters& counters() const { return counters_; }

 private:
  struct Listener {
    explicit Listener(boost::asio::io_context& ctx) : socket(ctx) {}
    boost::asio::ip::udp::socket socket;
    SocketAddress local;
  };

  void wait_readable(Listener& l);
  void service(Listener& l);
  // Reads and answers datagrams; true if it stopped with more possibly pending.
  bool drain(Listener& l);
  // Handles one datagram; returns the reply length (0 = no reply).
  std::size_t handle(const std::uint8_t* data, std::size_t len, TimePoint rx,
                     const SocketAddress& client, std::uint8_t* out, std::size_t out_cap);

  boost::asio::io_context& ctx_;
  ServerOptions options_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  ServedState state_;
  Duration correction_{};
  std::shared_ptr<const AccessTable> access_;
  ServerCounters counters_;
  RandomPool random_;
};

}  // namespace gnomon::daemon
