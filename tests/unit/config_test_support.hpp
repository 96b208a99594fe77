// Helpers for the config loader tests: a private temporary directory and
// small file writers. Header only (tests/unit/*.cpp each become a binary).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "lib/config.hpp"
#include "lib/config/diagnostics.hpp"

namespace gnomon::test {

// A mkdtemp directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gnomon-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  // Writes `text` to `name` (subdirectories created), mode 0644; returns the path.
  std::string write(const std::string& name, std::string_view text, mode_t mode = 0644) const {
    std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out << text;
    }
    ::chmod(p.c_str(), mode);
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// The repository's conf/ directory, found from this file's own path.
inline std::filesystem::path conf_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "conf";
}

inline std::string all_messages(const LoadResult& r) {
  std::string out;
  for (const ConfigDiagnostic& d : r.diagnostics) out += format_diagnostic(d) + "\n";
  return out;
}

inline std::size_t count_errors(const LoadResult& r) {
  std::size_t n = 0;
  for (const ConfigDiagnostic& d : r.diagnostics) n += d.error ? 1 : 0;
  return n;
}

inline std::size_t count_warnings(const LoadResult& r) { return r.diagnostics.size() - count_errors(r); }

// Config without the fields that name where things were written.
inline Config without_origins(Config c) {
  c.source_file.clear();
  for (SourceConfig& s : c.sources) s.origin.clear();
  return c;
}

inline Subnet subnet(std::string_view text) { return Subnet::parse(text).subnet; }

}  // namespace gnomon::test
