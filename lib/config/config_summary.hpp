// Human views of a loaded Config: the one-screen `gnomond --check-config`
// summary, and `gnomond --print-config` TOML (the chrony.conf migration path).
#pragma once

#include <string>

#include "lib/config.hpp"

namespace gnomon {

// One screen: sources (hostnames are marked unresolved: the daemon resolves
// them at run time), the local clock, the NTP server and its allow/deny
// rules, clock, control, log and metrics. Ends with a newline.
[[nodiscard]] std::string format_summary(const Config& config);

// The effective configuration as TOML that load_toml_text() reads back to an
// equal Config (apart from source_file and each source's origin).
[[nodiscard]] std::string format_as_toml(const Config& config);

}  // namespace gnomon
