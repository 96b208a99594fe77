// Loads the chrony-format key file named by [auth] keyfile (`keyfile` in
// chrony.conf) into a KeyTable backed by OpenSSL.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/key_file.hpp"
#include "lib/symmetric_key.hpp"

namespace gnomon {

struct LoadedKeys {
  std::shared_ptr<const KeyTable> table;  // never null; empty when no file
  std::vector<std::string> warnings;      // "FILE:LINE: ..." with no key material
};

// An empty path gives an empty table and no warnings. A missing or
// unreadable file gives an empty table and a warning (chrony carries on too).
[[nodiscard]] LoadedKeys load_key_table(const std::string& path);

}  // namespace gnomon
