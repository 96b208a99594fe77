// chrony's key file (lib/key_file.hpp): any text. Keys that come out are
// usable (non-empty, AES keys of the exact length); messages have a line.
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "lib/key_file.hpp"

using namespace gnomon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ParsedKeyFile f = parse_key_file(text);
  for (const auto& k : f.keys) {
    GNOMON_FUZZ_CHECK(k.secret.size() > 0);
    GNOMON_FUZZ_CHECK(required_key_len(k.algorithm) == 0 || k.secret.size() == required_key_len(k.algorithm));
  }
  for (const auto& m : f.messages) GNOMON_FUZZ_CHECK(m.line >= 1);
  return 0;
}
