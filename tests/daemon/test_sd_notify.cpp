#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/sd_notify.hpp"

using namespace gnomon;
using namespace gnomon::daemon;

namespace {

// A datagram socket standing in for systemd's notification socket.
struct Receiver {
  int fd = -1;
  explicit Receiver(const std::string& name) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
      sa.sun_path[0] = '\0';
    } else {
      ::unlink(name.c_str());
      len = static_cast<socklen_t>(len + 1);
    }
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
  }
  ~Receiver() { ::close(fd); }
  std::string receive() const {
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
  }
};

}  // namespace

TEST_CASE("sd_notify: a disabled notifier sends nothing and reports no error") {
  SdNotifier n;
  CHECK_FALSE(n.enabled());
  CHECK_FALSE(n.notify("READY=1"));
  CHECK_FALSE(n.watchdog_timeout().has_value());
}

TEST_CASE("sd_notify: datagrams reach an abstract socket named with '@'") {
  std::string name = "@gnomon-test-notify-" + std::to_string(::getpid());
  Receiver r(name);
  SdNotifier n(name, std::nullopt);
  REQUIRE_FALSE(n.notify("READY=1\nSTATUS=Serving local clock at stratum 10"));
  CHECK(r.receive() == "READY=1\nSTATUS=Serving local clock at stratum 10");
  REQUIRE_FALSE(n.notify("WATCHDOG=1"));
  CHECK(r.receive() == "WATCHDOG=1");
}

TEST_CASE("sd_notify: datagrams reach a file system socket; a missing one is an error, not a crash") {
  std::string path = "/tmp/gnomon-test-notify-" + std::to_string(::getpid()) + ".sock";
  {
    Receiver r(path);
    SdNotifier n(path, std::nullopt);
    REQUIRE_FALSE(n.notify("STOPPING=1"));
    CHECK(r.receive() == "STOPPING=1");
  }
  ::unlink(path.c_str());
  SdNotifier gone(path, std::nullopt);
  CHECK(gone.notify("READY=1"));
  SdNotifier vsock("vsock:2:1234", std::nullopt);
  CHECK(vsock.notify("READY=1"));
}

TEST_CASE("sd_notify: the environment gives the socket and the watchdog, for this process only") {
  std::string pid = std::to_string(::getpid());
  ::setenv("NOTIFY_SOCKET", "@x", 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::unsetenv("WATCHDOG_PID");
  SdNotifier a = SdNotifier::from_environment();
  CHECK(a.enabled());
  CHECK(a.socket_path() == "@x");
  REQUIRE(a.watchdog_timeout().has_value());
  CHECK(a.watchdog_timeout()->count() == 3000000);

  ::setenv("WATCHDOG_PID", pid.c_str(), 1);
  CHECK(SdNotifier::from_environment().watchdog_timeout().has_value());
  ::setenv("WATCHDOG_PID", "1", 1);
  CHECK_FALSE(SdNotifier::from_environment().watchdog_timeout().has_value());
  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"", "0", "abc", "12x", "-5"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    CHECK_FALSE(SdNotifier::from_environment().watchdog_timeout().has_value());
  }
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(SdNotifier::from_environment().enabled());
}

TEST_CASE("sd_notify: STATUS texts") {
  TrackingReport t;
  CHECK(sync_status_text(t) == "Not synchronised");
  t.local = true;
  t.stratum = 10;
  CHECK(sync_status_text(t) == "Serving local clock at stratum 10");
  t.local = false;
  t.synchronised = true;
  t.source_name = "0.centos.pool.ntp.org";
  t.stratum = 3;
  t.last_offset_s = -0.0001234;
  CHECK(sync_status_text(t) == "Synchronised to 0.centos.pool.ntp.org, offset -123.4us, stratum 3");
  CHECK(format_offset_short(7e-10) == "+1ns");
  CHECK(format_offset_short(0.0123456) == "+12.346ms");
  CHECK(format_offset_short(-2.5) == "-2.500s");
}
