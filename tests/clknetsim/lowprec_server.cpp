// A minimal NTP server for clknetsim scenarios that behaves like busybox
// ntpd serving time: its timestamps are exact (read from the clock at
// receive and at transmit, nothing random added), but the precision field
// it advertises is coarse (-9, about 2 ms, by default), as busybox ntpd's is.
// A client that floors its delay or widens its dispersion by the server's
// precision sees every sample as 2 ms uncertain although it is not.
//
// It is linked dynamically so that clknetsim's preload makes it a node; the
// stand-in (standin.cpp) execs it for the server nodes when
// GNOMON_SIM_SERVER_PROGRAM names it. It answers client requests (mode 3)
// on UDP port 123 as a stratum-1 server with zero root delay and
// dispersion, and logs "chronyd exiting" on SIGTERM, as the suite's exit
// check expects of every node.
//
// Environment: GNOMON_SIM_SERVER_PRECISION, the advertised precision, log2 s
// (default -9).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

// Seconds from 1900 (NTP era 0) to 1970.
constexpr std::uint64_t kNtpUnixOffset = 2208988800ULL;

void put_timestamp(unsigned char* p, const timespec& ts) {
  const auto sec = static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) + kNtpUnixOffset);
  const auto frac = static_cast<std::uint32_t>((static_cast<std::uint64_t>(ts.tv_nsec) << 32) / 1000000000ULL);
  const std::uint32_t be_sec = htonl(sec);
  const std::uint32_t be_frac = htonl(frac);
  std::memcpy(p, &be_sec, 4);
  std::memcpy(p + 4, &be_frac, 4);
}

}  // namespace

int main() {
  int precision = -9;
  if (const char* p = std::getenv("GNOMON_SIM_SERVER_PRECISION")) precision = std::atoi(p);
  if (precision < -32 || precision > 0) precision = -9;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    std::perror("lowprec_server: socket");
    return 1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(123);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    std::perror("lowprec_server: bind");
    return 1;
  }
  std::fprintf(stderr, "lowprec_server: serving with precision %d\n", precision);

  unsigned char buf[1024];
  while (g_stop == 0) {
    fd_set rfds;
    FD_ZERO(&rfds);
    FD_SET(fd, &rfds);
    if (select(fd + 1, &rfds, nullptr, nullptr, nullptr) <= 0) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    timespec rx{};
    clock_gettime(CLOCK_REALTIME, &rx);
    if (n < 48) continue;
    const int version = (buf[0] >> 3) & 7;
    const int mode = buf[0] & 7;
    if (mode != 3) continue;
    unsigned char reply[48] = {};
    reply[0] = static_cast<unsigned char>((0 << 6) | (version << 3) | 4);  // no leap, server
    reply[1] = 1;                                                         // stratum
    reply[2] = buf[2];                                                    // poll
    reply[3] = static_cast<unsigned char>(static_cast<std::int8_t>(precision));
    std::memcpy(reply + 12, "GPS", 3);                                    // reference id
    timespec ref = rx;
    ref.tv_sec -= 16;
    put_timestamp(reply + 16, ref);                                       // reference time
    std::memcpy(reply + 24, buf + 40, 8);                                 // origin = their transmit
    put_timestamp(reply + 32, rx);                                        // receive
    timespec tx{};
    clock_gettime(CLOCK_REALTIME, &tx);
    put_timestamp(reply + 40, tx);                                        // transmit
    sendto(fd, reply, sizeof reply, 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
  std::fprintf(stderr, "chronyd exiting\n");
  return 0;
}
