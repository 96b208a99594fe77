#include "lib/config/config_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace gnomon {

FileText read_text_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {std::nullopt, std::strerror(errno)};
  if (S_ISDIR(st.st_mode)) return {std::nullopt, "is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {std::nullopt, "cannot open for reading"};
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigFileBytes) {
      return {std::nullopt, "larger than " + std::to_string(kMaxConfigFileBytes) + " bytes"};
    }
  }
  if (in.bad()) return {std::nullopt, "read error"};
  return {std::move(text), {}};
}

std::optional<ConfigDiagnostic> check_file_permissions(const std::string& path,
                                                       const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return std::nullopt;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return ConfigDiagnostic{path, 0, 0, false,
                          what + " is writable by group or others (mode " + mode + ")",
                          "owner-only write, e.g. chmod go-w " + path};
}

}  // namespace gnomon
