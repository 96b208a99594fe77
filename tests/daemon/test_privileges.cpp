#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "daemon/pid_file.hpp"
#include "daemon/privileges.hpp"

using namespace gnomon;
using namespace gnomon::daemon;

namespace {

constexpr std::uint64_t kSysTime = std::uint64_t{1} << kCapSysTime;
constexpr std::uint64_t kNetBind = std::uint64_t{1} << kCapNetBindService;

SocketAddress addr(const char* text) { return *SocketAddress::parse(text, 123); }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

TEST_CASE("privileges: CAP_SYS_TIME only with clock control, CAP_NET_BIND_SERVICE only below port 1024") {
  Config c;
  c.control.listen.clear();
  CHECK(needed_capabilities(c) == kSysTime);
  c.clock.control = false;
  CHECK(needed_capabilities(c) == 0);
  c.server.enabled = true;
  c.server.listen = {addr("127.0.0.1:11123")};
  CHECK(needed_capabilities(c) == 0);
  c.server.listen.push_back(addr("[::]:123"));
  CHECK(needed_capabilities(c) == kNetBind);
  c.server.listen = {addr("127.0.0.1:11123")};
  c.control.listen = {addr("127.0.0.1:323")};
  CHECK(needed_capabilities(c) == kNetBind);
  c.control.listen.clear();
  c.metrics.listen = addr("127.0.0.1:9123");
  CHECK(needed_capabilities(c) == 0);
  c.metrics.listen = addr("127.0.0.1:80");
  c.clock.control = true;
  CHECK(needed_capabilities(c) == (kSysTime | kNetBind));
  // A server section that is off binds nothing.
  c.metrics.listen.reset();
  c.server.enabled = false;
  c.server.listen = {addr("0.0.0.0:123")};
  CHECK(needed_capabilities(c) == kSysTime);
}

TEST_CASE("privileges: users and paths") {
  std::string err;
  auto root = lookup_user("root", err);
  REQUIRE(root);
  CHECK(root->uid == 0);
  CHECK_FALSE(lookup_user("no-such-user-gnomon", err));
  CHECK(err.find("no-such-user-gnomon") != std::string::npos);
  CHECK(parent_directory("/var/lib/gnomon/drift") == "/var/lib/gnomon");
  CHECK(parent_directory("/drift") == "/");
  CHECK(parent_directory("drift").empty());
}

TEST_CASE("pid file: exclusive, refuses a live owner, replaces a stale one, removed when done") {
  std::string path = "/tmp/gnomon-test-" + std::to_string(::getpid()) + ".pid";
  ::unlink(path.c_str());
  {
    PidFile p;
    REQUIRE(p.create(path).empty());
    CHECK(read_file(path) == std::to_string(::getpid()));
  }
  CHECK(::access(path.c_str(), F_OK) != 0);

  // A live process (our child, paused) holds it.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  {
    std::ofstream(path) << child << "\n";
    PidFile p;
    std::string err = p.create(path);
    CHECK(err.find("another gnomond") != std::string::npos);
    CHECK(read_file(path) == std::to_string(child));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  {
    // Now stale: replaced.
    PidFile p;
    CHECK(p.create(path).empty());
    CHECK(read_file(path) == std::to_string(::getpid()));
    p.remove();
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
  {
    std::ofstream(path) << "garbage\n";
    PidFile p;
    CHECK(p.create(path).empty());
  }
  CHECK(::access(path.c_str(), F_OK) != 0);
  PidFile bad;
  CHECK_FALSE(bad.create("/nonexistent-dir/x.pid").empty());
}
