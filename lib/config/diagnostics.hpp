// Diagnostics produced while loading a configuration, returned as data.
// The loaders never log: the daemon prints these and decides the exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/config.hpp"

namespace gnomon {

struct ConfigDiagnostic {
  std::string file;
  int line = 0;       // 1-based; 0 = the whole file
  int column = 0;     // 1-based; 0 = the whole line
  bool error = true;  // false = warning
  std::string message;
  std::string allowed;  // what would have been accepted; "" if not applicable
  bool operator==(const ConfigDiagnostic&) const = default;
};

// "file:line:col: error: message (allowed: ...)"; line and column are left
// out when they are 0.
[[nodiscard]] std::string format_diagnostic(const ConfigDiagnostic& d);

[[nodiscard]] bool has_errors(const std::vector<ConfigDiagnostic>& diagnostics);

// The outcome of loading one configuration: a Config when there was no
// error, and every error and warning found (in file order).
struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigDiagnostic> diagnostics;
  [[nodiscard]] bool ok() const { return config.has_value(); }
};

}  // namespace gnomon
