// The NTP client's I/O: each request goes out on a new UDP socket with a
// kernel-chosen random source port (RFC 9109), and the reply's kernel receive
// timestamp comes back with it. The request's kernel transmit timestamp is
// read from the socket's error queue (SO_TIMESTAMPING, software) before the
// reply is handed on. Names are resolved asynchronously. Results
// are handed to a callback; this class makes no decisions of its own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lib/net_address.hpp"
#include "lib/sync_engine.hpp"
#include "lib/time.hpp"

namespace gnomon::daemon {

struct ReceivedReply {
  SourceId source = 0;
  std::span<const std::uint8_t> bytes;
  TimePoint rx_raw{};   // receive timestamp (raw CLOCK_REALTIME)
  TimePoint tx_raw{};   // transmit timestamp of the request (raw CLOCK_REALTIME)
  bool rx_kernel = false;  // rx_raw is the kernel's, not read after recvmsg
  bool tx_kernel = false;  // tx_raw is the kernel's (error queue), not read before send
  SocketAddress from;
  SocketAddress local;  // our address the reply arrived at
};

class NtpClientIo {
 public:
  using ReplyHandler = std::function<void(const ReceivedReply&)>;
  using ResolveHandler = std::function<void(EntryId, const std::vector<IpAddress>&)>;

  NtpClientIo(boost::asio::io_context& ctx, ReplyHandler on_reply, ResolveHandler on_resolved);
  ~NtpClientIo();
  NtpClientIo(const NtpClientIo&) = delete;
  NtpClientIo& operator=(const NtpClientIo&) = delete;

  // Sends on a fresh socket; a previous request's socket of the same source
  // is closed. The socket stays open until `receive_deadline` (wall clock,
  // converted with `now`) so that late or duplicate replies are still seen
  // and rejected by the core.
  void send(const SendRequest& req, TimePoint now);
  void resolve(const ResolveRequest& req);
  void close_all();

  [[nodiscard]] std::uint64_t send_errors() const { return send_errors_; }

 private:
  struct Pending;
  void wait_reply(const std::shared_ptr<Pending>& p);
  void read_reply(const std::shared_ptr<Pending>& p);
  static void read_tx_timestamp(Pending& p);

  boost::asio::io_context& ctx_;
  ReplyHandler on_reply_;
  ResolveHandler on_resolved_;
  std::map<SourceId, std::shared_ptr<Pending>> pending_;
  std::shared_ptr<bool> alive_;
  std::uint64_t send_errors_ = 0;
};

}  // namespace gnomon::daemon
