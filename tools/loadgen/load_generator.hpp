// gnomon-load: a closed-loop NTP load generator for loopback benchmarks and
// flood tests. It keeps `window` requests in flight, each from one of
// `sources` loopback addresses (127.x.y.z, chosen per request with
// IP_PKTINFO), checks every reply (from the server's address and port,
// mode 4, version 4, origin = the transmit timestamp we sent, a slot still
// waiting) and counts replies, KoD RATE replies, invalid replies and
// requests lost (no reply within `timeout`). Bounded by `duration` and
// `count`.
#pragma once

#include <cstdint>
#include <string>

namespace gnomon::load {

struct LoadOptions {
  std::string server = "127.0.0.1";
  std::uint16_t port = 123;
  std::uint32_t sources = 1;             // distinct source addresses, IPv4 only
  std::string source_base = "127.0.0.1"; // the first of them
  std::uint32_t window = 64;             // requests in flight
  double duration_s = 5.0;               // stop sending after this long
  std::uint64_t count = 0;               // stop after this many requests; 0 = no limit
  double timeout_s = 0.2;                // a request unanswered this long is lost
  std::uint32_t sockets = 4;             // client sockets (source ports)
  double rate = 0.0;                     // requests per second at most; 0 = as fast as replies come
  bool json = false;
};

struct LoadResult {
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;      // valid replies, KoD included
  std::uint64_t kod = 0;          // KoD RATE replies
  std::uint64_t invalid = 0;      // replies that failed a check
  std::uint64_t lost = 0;         // requests that timed out or were never answered
  std::uint64_t send_errors = 0;
  double seconds = 0.0;           // from the first send to the end of sending
  double mean_rtt_us = 0.0;
};

// Runs the load; returns false (with `error` set) if the sockets could not be set up.
bool run_load(const LoadOptions& options, LoadResult& result, std::string& error);

std::string format_result(const LoadOptions& options, const LoadResult& r);

}  // namespace gnomon::load
