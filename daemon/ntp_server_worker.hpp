// One NTP server worker: its own socket per listen address (SO_REUSEPORT when
// there are several workers), its own io_context thread, counters, random
// pool, client log (rate limiting, `clients`, interleaved timestamps) and
// copies of the served state and access table. Workers share no lock on the
// hot path: the main thread hands them new state by posting, and reads their
// client logs under each worker's own mutex (taken by the worker once per
// batch of datagrams).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "daemon/nts_server_auth.hpp"
#include "daemon/random_pool.hpp"
#include "daemon/server_counters.hpp"
#include "daemon/symmetric_keys.hpp"
#include "lib/acl.hpp"
#include "lib/client_log.hpp"
#include "lib/net_address.hpp"
#include "lib/server.hpp"
#include "lib/sync_types.hpp"

namespace gnomon::daemon {

struct WorkerSetup {
  ServerOptions options;
  std::size_t client_log_bytes = 0;  // this worker's share of clientloglimit; 0 = no log
  RateLimiter limiter;               // disabled = no rate limiting
  // Measured precision of the clock reads (log2 s), served instead of the
  // state's default; nullopt = serve the state's.
  std::optional<std::int8_t> precision_log2;
};

class NtpServerWorker {
 public:
  NtpServerWorker(boost::asio::io_context& ctx, const WorkerSetup& setup);
  ~NtpServerWorker();
  NtpServerWorker(const NtpServerWorker&) = delete;
  NtpServerWorker& operator=(const NtpServerWorker&) = delete;

  // Binds every address; call before the context runs.
  std::error_code open(const std::vector<SocketAddress>& listen, bool reuse_port);
  void start();
  void close();
  // The socket of listen address `i` (for attaching a reuseport program).
  [[nodiscard]] int native_handle(std::size_t i) { return listeners_.at(i)->socket.native_handle(); }
  [[nodiscard]] std::size_t listener_count() const { return listeners_.size(); }
  [[nodiscard]] const SocketAddress& listener_address(std::size_t i) const { return listeners_.at(i)->local; }

  // Thread-safe: posted to the worker's context.
  // `correction` is added to raw CLOCK_REALTIME readings (-x mode's virtual clock).
  void post_state(const ServedState& state, Duration correction);
  void post_access(std::shared_ptr<const AccessTable> access);
  // NTS server keys (cookies); nullptr or empty: NTS requests are dropped.
  void post_nts_keys(std::shared_ptr<const NtsKeyRing> keys);

  [[nodiscard]] const ServerCounters& counters() const { return counters_; }

  // The client log, for `clients` and `serverstats`. Thread-safe.
  [[nodiscard]] std::uint32_t client_capacity() const { return log_capacity_; }
  [[nodiscard]] std::optional<ClientRecordReport> client_report(ClientLog::Index index, TimePoint now,
                                                                std::uint32_t min_hits, bool reset);
  [[nodiscard]] std::optional<ClientRecordReport> find_client(const IpAddress& ip, TimePoint now) const;
  [[nodiscard]] ClientLogStats client_stats() const;

 private:
  // A reply whose kernel transmit timestamp we asked for, by the key the
  // kernel returns with it (SOF_TIMESTAMPING_OPT_ID counts stamped sends).
  struct PendingTx {
    std::uint32_t key = 0;
    ClientLog::Index record = ClientLog::kNoRecord;
    NtpTimestamp rx;
  };
  static constexpr std::size_t kPendingTx = 256;  // power of two

  struct Listener {
    explicit Listener(boost::asio::io_context& ctx) : socket(ctx) {}
    boost::asio::ip::udp::socket socket;
    SocketAddress local;
    bool tx_stamping = false;      // kernel TX timestamps come back on the error queue
    std::uint32_t next_tx_key = 0; // the kernel's key of our next stamped send
    std::array<PendingTx, kPendingTx> pending{};
  };

  // What a reply needs after it is built: its transmit stamp, and for
  // interleaved-mode clients, the timestamps to save once it is sent.
  struct ReplyMeta {
    ClientLog::Index record = ClientLog::kNoRecord;
    NtpTimestamp rx;
    bool stamp = false;       // write the transmit timestamp before sending
    bool save = false;        // save rx/tx in the client log after sending
  };

  void wait_readable(Listener& l);
  void wait_errqueue(Listener& l);
  void service(Listener& l);
  // Reads and answers datagrams; true if it stopped with more possibly pending.
  bool drain(Listener& l);
  // Reads kernel transmit timestamps from the error queue into the client log.
  void read_errqueue(Listener& l);
  // Handles one datagram (with the log locked when it is active); returns the
  // reply length (0 = no reply).
  // `where`: the client's location in the log, from ClientLog::locate()
  // (nullptr: look it up here).
  std::size_t handle(const std::uint8_t* data, std::size_t len, TimePoint rx, bool kernel_rx,
                     const SocketAddress& client, const ClientLog::Location* where, std::uint8_t* out,
                     std::size_t out_cap, ReplyMeta& meta);
  // After sending: remember the timestamps of interleaved-mode replies.
  void save_sent(Listener& l, const ReplyMeta& meta, TimePoint tx, bool stamped);

  // Datagram buffers for one batch (about 90 kB), allocated once and left
  // untouched (out of the resident set) until traffic arrives.
  struct Batch;
  std::unique_ptr<Batch> batch_;

  boost::asio::io_context& ctx_;
  ServerOptions options_;
  std::optional<std::int8_t> precision_log2_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  ServedState state_;
  Duration correction_{};
  std::shared_ptr<const AccessTable> access_;
  ServerCounters counters_;
  RandomPool random_;
  // Requests with a MAC (symmetric keys) or NTS fields; see lib/ntp_auth.hpp.
  NtsWorkerAuth nts_;
  SymmetricServerAuth auth_{symmetric_keys(), &nts_.auth};
  // Guards log_: the worker takes it once per batch, the control thread per
  // query. Never shared with another worker.
  mutable std::mutex log_mutex_;
  ClientLog log_;
  std::uint32_t log_capacity_ = 0;
};

}  // namespace gnomon::daemon
