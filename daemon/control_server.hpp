// The control channel: chrony's command protocol (v6) on UDP and on a Unix
// datagram socket. UDP serves monitoring commands to loopback and to
// `[control] allow` subnets; the Unix socket (mode 0660 in a 0750 directory)
// serves every command. The protocol itself is lib/cmdmon_server.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/datagram_protocol.hpp>

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/server_counters.hpp"
#include "lib/acl.hpp"
#include "lib/cmdmon_server.hpp"
#include "lib/config.hpp"

namespace gnomon::daemon {

struct ControlCounters {
  Counter received;
  Counter answered;
  Counter dropped;      // malformed, denied or rate-limited
  Counter rate_limited;
  Counter denied;
};

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& ctx, cmdmon::ControlDataProvider& provider);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Opens the UDP listeners and the Unix socket. Errors name what failed.
  std::error_code open(const ControlConfig& config, std::string& what);
  void set_access(const std::vector<AccessRule>& rules);
  // The monitoring commands UDP may ask for, by chronyc name; unknown names
  // (refused by the config loaders) leave chronyd's default.
  void set_open_commands(const std::vector<std::string>& names);
  // Called for every UDP command datagram (for the `clients` command counts).
  void set_access_logger(std::function<void(const IpAddress&, bool dropped)> logger) {
    access_logger_ = std::move(logger);
  }
  void close();

  [[nodiscard]] const ControlCounters& counters() const { return counters_; }

 private:
  using FailureLog = std::function<void(std::string, std::error_code)>;
  // The Unix datagram socket at `path`; failures go to `failed`.
  void open_unix(const std::string& path, const FailureLog& failed);
  struct UdpListener;
  void wait_udp(UdpListener& l);
  void wait_unix();
  // Token bucket per client address for UDP commands (chrony's cmdratelimit
  // defaults: interval -4, burst 8); loopback is not limited.
  bool rate_ok(const IpAddress& ip);

  boost::asio::io_context& ctx_;
  cmdmon::ControlDataProvider& provider_;
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::unique_ptr<boost::asio::local::datagram_protocol::socket> unix_;
  std::string unix_path_;
  AccessTable access_;
  cmdmon::OpenCommands open_commands_;
  std::function<void(const IpAddress&, bool)> access_logger_;
  ControlCounters counters_;
  struct Bucket {
    IpAddress ip;
    double tokens = 0.0;
    std::int64_t last_ns = 0;
  };
  std::vector<Bucket> buckets_;  // small and bounded: evicts the oldest
};

}  // namespace gnomon::daemon
