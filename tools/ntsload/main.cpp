// gnomon-nts-load: a closed-loop NTS (RFC 8915) request load for benchmarks
// of NTS servers (gnomond's or chronyd's) on loopback.
//
// It runs `sessions` NTS-KE exchanges, then signs a pool of distinct
// requests (each with its own transmit timestamp and unique identifier, one
// cookie and no placeholder: a steady-state client's request), spread over
// the sessions' keys, and keeps `window` of them
// in flight, reusing pool entries that are not in flight. NTS servers keep
// no per-request state, so every request costs the server a full cookie
// decryption, request authentication, a new cookie and an encrypted reply.
// Every reply is checked (mode 4, origin, length, echoed identifier) and the
// first `verify` replies are also authenticated with the S2C key.
//
// Exit status: 0, 1 if the key exchange or the socket failed, 2 on a usage error.
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_ntp.hpp"
#include "lib/packet.hpp"
#include "tools/ntsload/nts_ke_blocking.hpp"

using namespace gnomon;

namespace {

constexpr char kUsage[] =
    "usage: gnomon-nts-load --server ADDR --port N --ke-port N [options]\n"
    "  --server ADDR    numeric IPv4 or IPv6 address of the NTS server\n"
    "  --port N         its NTP port (overridden by the port NTS-KE negotiates)\n"
    "  --ke-port N      its NTS-KE port\n"
    "  --name NAME      name its certificate must be for (the address)\n"
    "  --trusted FILE   trusted certificate(s), PEM\n"
    "  --window N       requests in flight, 1..4096 (64)\n"
    "  --sessions N     NTS-KE exchanges, i.e. clients' keys, 1..256 (1)\n"
    "  --pool N         distinct signed requests, >= 2 x window (4096)\n"
    "  --duration S     seconds of sending, at most 3600 (5)\n"
    "  --timeout S      a request unanswered this long is lost (0.2)\n"
    "  --verify N       authenticate the first N replies fully (1000)\n"
    "  --json           one JSON object instead of text\n";

class SeededRandom final : public RandomSource {
 public:
  SeededRandom() : rng_(std::random_device{}()) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
  }

 private:
  std::mt19937_64 rng_;
};

struct Entry {
  std::vector<std::uint8_t> bytes;
  std::size_t session = 0;
  bool in_flight = false;
  std::int64_t sent_ns = 0;
};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::uint64_t tx_key(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Authenticates a reply with the S2C key (the last field is the authenticator).
bool authentic(const std::vector<std::uint8_t>& reply, const AeadKey& s2c, Aead& aead) {
  ParsedPacket p;
  if (parse_packet(reply, p) != ParseError::None || p.extensions_count == 0) return false;
  const ExtensionField& a = p.extension_fields().back();
  if (a.type != kEfNtsAuthenticator || a.body.size() < 4) return false;
  const std::size_t nonce_len = (a.body[0] << 8) | a.body[1];
  const std::size_t sealed_len = (a.body[2] << 8) | a.body[3];
  const std::size_t nonce_pad = (nonce_len + 3) & ~std::size_t{3};
  if (sealed_len < kAeadTagLen || 4 + nonce_pad + sealed_len > a.body.size()) return false;
  const std::size_t offset = static_cast<std::size_t>(a.body.data() - reply.data()) - 4;
  std::vector<std::uint8_t> plain(sealed_len - kAeadTagLen);
  return aead.open(s2c, a.body.subspan(4, nonce_len), std::span<const std::uint8_t>(reply.data(), offset),
                   a.body.subspan(4 + nonce_pad, sealed_len), plain);
}

}  // namespace

int main(int argc, char** argv) {
  std::string server;
  std::string name;
  std::string trusted;
  long port = 0;
  long ke_port = 0;
  long window = 64;
  long sessions = 1;
  long pool_size = 4096;
  long verify = 1000;
  double duration_s = 5.0;
  double timeout_s = 0.2;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--server") server = value();
    else if (arg == "--name") name = value();
    else if (arg == "--trusted") trusted = value();
    else if (arg == "--port") port = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--ke-port") ke_port = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--window") window = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--sessions") sessions = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--pool") pool_size = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--verify") verify = std::strtol(value().c_str(), nullptr, 10);
    else if (arg == "--duration") duration_s = std::strtod(value().c_str(), nullptr);
    else if (arg == "--timeout") timeout_s = std::strtod(value().c_str(), nullptr);
    else if (arg == "--json") json = true;
    else {
      std::fprintf(stderr, "unknown option %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (server.empty() || port <= 0 || port > 65535 || ke_port <= 0 || ke_port > 65535 || window < 1 ||
      window > 4096 || pool_size < 2 * window || pool_size > 1000000 || !(duration_s > 0 && duration_s <= 3600) ||
      !(timeout_s > 0 && timeout_s <= 10) || verify < 0 || sessions < 1 || sessions > 256) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (name.empty()) name = server;

  std::vector<ntsload::KeResult> kes;
  for (long i = 0; i < sessions; ++i) {
    std::string error;
    auto ke = ntsload::run_key_exchange(server, static_cast<std::uint16_t>(ke_port), name, trusted, error);
    if (!ke) {
      std::fprintf(stderr, "NTS-KE with %s:%ld failed: %s\n", server.c_str(), ke_port, error.c_str());
      return 1;
    }
    if (ke->ntp_port) port = *ke->ntp_port;
    kes.push_back(std::move(*ke));
  }

  // The pool of signed requests.
  AesSivCmac256 aead;
  SeededRandom rng;
  std::vector<Entry> pool(static_cast<std::size_t>(pool_size));
  std::unordered_map<std::uint64_t, std::size_t> by_tx;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    const ntsload::KeResult& ke = kes[i % kes.size()];
    std::vector<std::vector<std::uint8_t>> jar;
    while (jar.size() < kNtsCookieJarSize) jar.push_back(ke.cookies[jar.size() % ke.cookies.size()]);
    std::array<std::uint8_t, kMaxNtpPacketLen> buf{};
    NtpHeader h;
    h.version = 4;
    h.mode = NtpMode::Client;
    std::array<std::uint8_t, 4> r{};
    rng.fill(r);
    h.transmit_ts = NtpTimestamp{static_cast<std::uint32_t>(i), (static_cast<std::uint32_t>(r[0]) << 24) | r[1]};
    encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(buf.data(), kNtpHeaderLen));
    NtsClientSession session;
    session.install(ke.keys, jar);  // a full jar: one cookie used, one asked back
    const std::size_t len = session.sign_request(buf, kNtpHeaderLen, aead, rng);
    if (len == 0) {
      std::fprintf(stderr, "cannot sign requests\n");
      return 1;
    }
    pool[i].bytes.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    pool[i].session = i % kes.size();
    by_tx[tx_key(buf.data() + kTransmitTsOffset)] = i;
  }

  // One connected UDP socket: the kernel drops datagrams from anyone else.
  const bool v6 = server.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_storage ss{};
  socklen_t sl = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, server.c_str(), &a->sin6_addr);
    sl = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, server.c_str(), &a->sin_addr);
    sl = sizeof *a;
  }
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
    std::fprintf(stderr, "socket: %s\n", std::strerror(errno));
    return 1;
  }
  const int bufsize = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);

  constexpr std::size_t kBatch = 64;
  std::uint64_t sent = 0, replies = 0, invalid = 0, naks = 0, lost = 0, verified = 0, verify_failed = 0;
  double rtt_sum_us = 0;
  std::size_t in_flight = 0;
  std::size_t cursor = 0;
  const std::int64_t timeout_ns = static_cast<std::int64_t>(timeout_s * 1e9);
  const std::int64_t start = steady_ns();
  const std::int64_t stop = start + static_cast<std::int64_t>(duration_s * 1e9);
  std::int64_t last_sweep = start;
  std::array<std::array<std::uint8_t, kMaxNtpPacketLen>, kBatch> rx{};
  std::array<iovec, kBatch> rx_iov{};
  std::array<mmsghdr, kBatch> rx_msgs{};
  std::array<iovec, kBatch> tx_iov{};
  std::array<mmsghdr, kBatch> tx_msgs{};
  std::array<std::size_t, kBatch> tx_index{};
  std::int64_t now = start;
  while (true) {
    now = steady_ns();
    const bool sending = now < stop;
    if (!sending && in_flight == 0) break;
    if (!sending && now > stop + timeout_ns) break;
    // Fill the window.
    while (sending && in_flight < static_cast<std::size_t>(window)) {
      std::size_t n = 0;
      while (n < kBatch && in_flight + n < static_cast<std::size_t>(window)) {
        std::size_t tries = 0;
        while (pool[cursor].in_flight && tries++ < pool.size()) cursor = (cursor + 1) % pool.size();
        if (pool[cursor].in_flight) break;
        pool[cursor].in_flight = true;  // reserved; sent below
        tx_index[n] = cursor;
        tx_iov[n] = iovec{pool[cursor].bytes.data(), pool[cursor].bytes.size()};
        tx_msgs[n] = mmsghdr{};
        tx_msgs[n].msg_hdr.msg_iov = &tx_iov[n];
        tx_msgs[n].msg_hdr.msg_iovlen = 1;
        cursor = (cursor + 1) % pool.size();
        ++n;
      }
      if (n == 0) break;
      const int m = ::sendmmsg(fd, tx_msgs.data(), static_cast<unsigned>(n), 0);
      const std::size_t ok = m > 0 ? static_cast<std::size_t>(m) : 0;
      const std::int64_t t = steady_ns();
      for (std::size_t j = 0; j < n; ++j) {
        if (j < ok) {
          pool[tx_index[j]].sent_ns = t;
        } else {
          pool[tx_index[j]].in_flight = false;  // not sent
        }
      }
      sent += ok;
      in_flight += ok;
      if (ok < n) break;
    }
    // Read replies.
    for (std::size_t j = 0; j < kBatch; ++j) {
      rx_iov[j] = iovec{rx[j].data(), rx[j].size()};
      rx_msgs[j] = mmsghdr{};
      rx_msgs[j].msg_hdr.msg_iov = &rx_iov[j];
      rx_msgs[j].msg_hdr.msg_iovlen = 1;
    }
    const int got = ::recvmmsg(fd, rx_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) {
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, 1);
    }
    const std::int64_t t_rx = steady_ns();
    for (int j = 0; j < got; ++j) {
      const std::uint8_t* d = rx[static_cast<std::size_t>(j)].data();
      const std::size_t len = rx_msgs[static_cast<std::size_t>(j)].msg_len;
      if (len < kNtpHeaderLen) {
        ++invalid;
        continue;
      }
      auto it = by_tx.find(tx_key(d + kOriginTsOffset));
      if (it == by_tx.end() || !pool[it->second].in_flight) {
        ++invalid;
        continue;
      }
      Entry& e = pool[it->second];
      e.in_flight = false;
      --in_flight;
      const bool mode_ok = (d[0] & 7) == 4 && ((d[0] >> 3) & 7) == 4;
      const std::uint32_t refid = (static_cast<std::uint32_t>(d[12]) << 24) | (d[13] << 16) | (d[14] << 8) | d[15];
      if (mode_ok && d[1] == 0 && refid == kKodNtsNak) {
        ++naks;
        continue;
      }
      // The identifier is the request's first field; the reply echoes it first.
      const bool uid_ok = len >= 84 && std::memcmp(d + 48, e.bytes.data() + 48, 36) == 0;
      if (!mode_ok || len != e.bytes.size() || !uid_ok) {
        ++invalid;
        continue;
      }
      if (verified + verify_failed < static_cast<std::uint64_t>(verify)) {
        const std::vector<std::uint8_t> reply(d, d + len);
        (authentic(reply, kes[e.session].keys.s2c, aead) ? verified : verify_failed)++;
      }
      ++replies;
      rtt_sum_us += static_cast<double>(t_rx - e.sent_ns) / 1e3;
    }
    // Requests that will not be answered any more.
    if (t_rx - last_sweep > 10'000'000) {
      last_sweep = t_rx;
      for (auto& e : pool) {
        if (e.in_flight && t_rx - e.sent_ns > timeout_ns) {
          e.in_flight = false;
          --in_flight;
          ++lost;
        }
      }
    }
  }
  ::close(fd);
  const double seconds = static_cast<double>(std::min(now, stop) - start) / 1e9;
  const double rate = seconds > 0 ? static_cast<double>(replies) / seconds : 0.0;
  const double rtt = replies > 0 ? rtt_sum_us / static_cast<double>(replies) : 0.0;
  if (json) {
    std::printf("{\"sent\": %llu, \"replies\": %llu, \"naks\": %llu, \"invalid\": %llu, \"lost\": %llu, "
                "\"verified\": %llu, \"verify_failed\": %llu, \"seconds\": %.3f, \"replies_per_s\": %.1f, "
                "\"mean_rtt_us\": %.1f, \"request_bytes\": %zu}\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(replies),
                static_cast<unsigned long long>(naks), static_cast<unsigned long long>(invalid),
                static_cast<unsigned long long>(lost), static_cast<unsigned long long>(verified),
                static_cast<unsigned long long>(verify_failed), seconds, rate, rtt, pool[0].bytes.size());
  } else {
    std::printf("sent %llu, replies %llu (%.0f/s), NAKs %llu, invalid %llu, lost %llu, authenticated %llu/%llu, "
                "mean RTT %.1f us, request %zu bytes\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(replies), rate,
                static_cast<unsigned long long>(naks), static_cast<unsigned long long>(invalid),
                static_cast<unsigned long long>(lost), static_cast<unsigned long long>(verified),
                static_cast<unsigned long long>(verified + verify_failed), rtt, pool[0].bytes.size());
  }
  return 0;
}
