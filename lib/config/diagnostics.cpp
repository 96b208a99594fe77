#include "lib/config/diagnostics.hpp"

#include <algorithm>

namespace gnomon {

std::string format_diagnostic(const ConfigDiagnostic& d) {
  std::string out = d.file;
  if (d.line > 0) {
    out += ':' + std::to_string(d.line);
    if (d.column > 0) out += ':' + std::to_string(d.column);
  }
  out += d.error ? ": error: " : ": warning: ";
  out += d.message;
  if (!d.allowed.empty()) out += " (allowed: " + d.allowed + ')';
  return out;
}

bool has_errors(const std::vector<ConfigDiagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const ConfigDiagnostic& d) { return d.error; });
}

}  // namespace gnomon
