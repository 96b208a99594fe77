// chrony's key file: one key per line, `ID TYPE KEY` or `ID KEY` (type MD5).
//   ID    decimal, 0..2^32-1
//   TYPE  MD5, SHA1, SHA256, SHA384, SHA512, SHA3-224/256/384/512, AES128, AES256
//   KEY   ASCII:text, HEX:hexdigits, or plain text (taken as ASCII)
// Lines starting with # ; ! or % are comments. AES keys must be exactly
// 128 or 256 bits. A bad line is skipped with a warning (chrony does the
// same); it never stops the daemon.
//
// Messages name the line and the key id, never the key material.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/symmetric_key.hpp"

namespace gnomon {

struct KeyFileMessage {
  std::size_t line = 0;   // 1-based; 0 = about the whole file
  bool warning = true;
  std::string text;       // no key material
};

struct ParsedKeyFile {
  std::vector<SymmetricKey> keys;          // in file order
  std::vector<KeyFileMessage> messages;
};

// Longest key-file line chrony reads, bytes.
inline constexpr std::size_t kMaxKeyFileLine = 2047;

// Parses the file's text. Never throws; any bytes are acceptable input.
[[nodiscard]] ParsedKeyFile parse_key_file(std::string_view text);

}  // namespace gnomon
