// Reading configuration files from disk for the loaders: bounded reads and
// the group/other-writable permission warning.
#pragma once

#include <optional>
#include <string>

#include "lib/config/diagnostics.hpp"

namespace gnomon {

// Largest configuration file we read; anything bigger is refused.
inline constexpr std::size_t kMaxConfigFileBytes = 4u * 1024u * 1024u;

struct FileText {
  std::optional<std::string> text;
  std::string error;  // why it could not be read, when text is empty
};

[[nodiscard]] FileText read_text_file(const std::string& path);

// A warning when `path` exists and is writable by group or others; what is
// in it decides how this machine's clock is steered.
[[nodiscard]] std::optional<ConfigDiagnostic> check_file_permissions(const std::string& path,
                                                                     const std::string& what);

}  // namespace gnomon
