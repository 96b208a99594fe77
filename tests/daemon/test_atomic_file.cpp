#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/atomic_file.hpp"

namespace {

// A private temporary directory, removed (with its files) at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/gnomon-atomic-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~TempDir() {
    for (const auto& name : entries()) ::unlink((path + "/" + name).c_str());
    ::chmod(path.c_str(), 0700);
    ::rmdir(path.c_str());
  }
  [[nodiscard]] std::vector<std::string> entries() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    return out;
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("atomic write creates a file with the content and leaves no temporary") {
  TempDir dir;
  std::string file = dir.path + "/drift";
  REQUIRE_FALSE(gnomon::write_file_atomically(file, "12.345 0.678\n"));
  CHECK(read_all(file) == "12.345 0.678\n");
  CHECK(dir.entries() == std::vector<std::string>{"drift"});
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("atomic write replaces existing content, longer and shorter") {
  TempDir dir;
  std::string file = dir.path + "/drift";
  {
    std::ofstream out(file);
    out << "old content that is rather long\n";
  }
  REQUIRE_FALSE(gnomon::write_file_atomically(file, "new\n"));
  CHECK(read_all(file) == "new\n");
  std::string big(100000, 'x');
  REQUIRE_FALSE(gnomon::write_file_atomically(file, big));
  CHECK(read_all(file) == big);
  REQUIRE_FALSE(gnomon::write_file_atomically(file, ""));
  CHECK(read_all(file).empty());
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("atomic write honours the requested mode") {
  TempDir dir;
  std::string file = dir.path + "/key";
  REQUIRE_FALSE(gnomon::write_file_atomically(file, "secret", 0600));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("atomic write into a missing directory reports ENOENT") {
  TempDir dir;
  auto ec = gnomon::write_file_atomically(dir.path + "/no/such/dir/drift", "x");
  CHECK(ec == std::errc::no_such_file_or_directory);
  CHECK(dir.entries().empty());
}

// Runs the write as an unprivileged user when we are root (root ignores
// directory permissions), in a child process; returns the errno it got.
int write_unprivileged(const std::string& file, const std::string& content) {
  if (::geteuid() != 0) return gnomon::write_file_atomically(file, content).value();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(255);
    ::_exit(gnomon::write_file_atomically(file, content).value() & 0x7f);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_CASE("atomic write into an unwritable directory reports an error and keeps the old file") {
  TempDir dir;
  std::string file = dir.path + "/drift";
  REQUIRE_FALSE(gnomon::write_file_atomically(file, "old\n"));
  REQUIRE(::chmod(dir.path.c_str(), 0755) == 0);  // readable, writable by the owner only
  CHECK(write_unprivileged(file, "new\n") == EACCES);
  CHECK(read_all(file) == "old\n");
  CHECK(dir.entries() == std::vector<std::string>{"drift"});
}

TEST_CASE("atomic write below a regular file reports ENOTDIR") {
  TempDir dir;
  std::string file = dir.path + "/plain";
  REQUIRE_FALSE(gnomon::write_file_atomically(file, "x"));
  CHECK(gnomon::write_file_atomically(file + "/drift", "y") == std::errc::not_a_directory);
  CHECK(dir.entries() == std::vector<std::string>{"plain"});
}

TEST_CASE("atomic write onto a path that is a directory fails without leaving a temporary") {
  TempDir dir;
  std::string sub = dir.path + "/sub";
  REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
  std::string inner = sub + "/x";
  REQUIRE_FALSE(gnomon::write_file_atomically(inner, "x"));  // sub is not empty now
  auto ec = gnomon::write_file_atomically(sub, "content");
  CHECK(ec);
  ::unlink(inner.c_str());
  CHECK(dir.entries() == std::vector<std::string>{"sub"});
  ::rmdir(sub.c_str());
}

TEST_CASE("atomic write rejects an empty path or a directory path") {
  CHECK(gnomon::write_file_atomically("", "x") == std::errc::invalid_argument);
  CHECK(gnomon::write_file_atomically("/tmp/", "x") == std::errc::invalid_argument);
}
