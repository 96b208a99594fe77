#include "daemon/atomic_file.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace gnomon {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

// Directory part of `path` ("." when it has none, "/" for files at the root).
std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::error_code write_all(int fd, std::string_view content) {
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return {EIO, std::generic_category()};
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

std::error_code fsync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error();
  std::error_code ec;
  if (::fsync(fd) != 0) ec = last_error();
  ::close(fd);
  return ec;
}

}  // namespace

std::error_code write_file_atomically(const std::string& path, std::string_view content,
                                      mode_t mode) noexcept {
  try {
    if (path.empty() || path.back() == '/') return {EINVAL, std::generic_category()};
    std::string dir = directory_of(path);

    // mkstemp wants a writable, NUL-terminated template.
    std::string tmpl = path + ".tmp.XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return last_error();

    std::error_code ec;
    // The umask is not consulted: reading it means setting it, which races
    // with other threads.
    if (::fchmod(fd, mode) != 0) ec = last_error();
    if (!ec) ec = write_all(fd, content);
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    if (::close(fd) != 0 && !ec) ec = last_error();
    if (!ec && ::rename(name.data(), path.c_str()) != 0) ec = last_error();
    if (ec) {
      ::unlink(name.data());
      return ec;
    }
    return fsync_directory(dir);
  } catch (...) {  // only std::bad_alloc can get here
    return {ENOMEM, std::generic_category()};
  }
}

}  // namespace gnomon
