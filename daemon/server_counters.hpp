// Counters of the NTP server. Each worker owns one set and is its only
// writer; other threads (control, metrics) read them. Single-writer relaxed
// atomics cost a plain load and store on the hot path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "lib/server.hpp"

namespace gnomon::daemon {

class Counter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct ServerCounters {
  Counter received;     // datagrams read from the NTP sockets
  Counter answered;     // replies sent
  Counter send_errors;  // replies the kernel refused
  Counter kod_sent;
  Counter interleaved;       // replies in interleaved mode
  Counter rx_kernel_stamps;  // answered requests with a kernel receive timestamp
  Counter rx_daemon_stamps;  // ... with the daemon's own reading instead
  Counter tx_kernel_stamps;  // replies carrying a kernel transmit timestamp (interleaved)
  Counter tx_daemon_stamps;  // ... carrying the daemon's transmit time
  Counter kernel_tx_read;    // kernel transmit timestamps read back and kept
  std::array<Counter, kDropReasonCount> dropped;  // indexed by DropReason

  [[nodiscard]] std::uint64_t dropped_total() const {
    std::uint64_t t = 0;
    for (std::size_t i = 1; i < dropped.size(); ++i) t += dropped[i].get();
    return t;
  }
};

// A plain snapshot, summed over workers.
struct ServerCountersSnapshot {
  std::uint64_t received = 0;
  std::uint64_t answered = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t kod_sent = 0;
  std::uint64_t interleaved = 0;
  std::uint64_t rx_kernel_stamps = 0;
  std::uint64_t rx_daemon_stamps = 0;
  std::uint64_t tx_kernel_stamps = 0;
  std::uint64_t tx_daemon_stamps = 0;
  std::uint64_t kernel_tx_read = 0;
  std::array<std::uint64_t, kDropReasonCount> dropped{};

  void add(const ServerCounters& c) {
    received += c.received.get();
    answered += c.answered.get();
    send_errors += c.send_errors.get();
    kod_sent += c.kod_sent.get();
    interleaved += c.interleaved.get();
    rx_kernel_stamps += c.rx_kernel_stamps.get();
    rx_daemon_stamps += c.rx_daemon_stamps.get();
    tx_kernel_stamps += c.tx_kernel_stamps.get();
    tx_daemon_stamps += c.tx_daemon_stamps.get();
    kernel_tx_read += c.kernel_tx_read.get();
    for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += c.dropped[i].get();
  }
  [[nodiscard]] std::uint64_t dropped_total() const {
    std::uint64_t t = 0;
    for (std::size_t i = 1; i < dropped.size(); ++i) t += dropped[i];
    return t;
  }
};

}  // namespace gnomon::daemon
