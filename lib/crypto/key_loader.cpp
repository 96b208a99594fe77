#include "lib/crypto/key_loader.hpp"

#include "lib/config/config_file.hpp"
#include "lib/crypto/openssl_mac.hpp"

namespace gnomon {

LoadedKeys load_key_table(const std::string& path) {
  LoadedKeys out;
  const auto provider = openssl_mac_provider();
  if (path.empty()) {
    out.table = std::make_shared<const KeyTable>(std::vector<SymmetricKey>{}, provider);
    return out;
  }
  FileText file = read_text_file(path);
  if (!file.text) {
    out.warnings.push_back(path + ": could not read the key file: " + file.error);
    out.table = std::make_shared<const KeyTable>(std::vector<SymmetricKey>{}, provider);
    return out;
  }
  ParsedKeyFile parsed = parse_key_file(*file.text);
  // The text held the secrets: wipe it before it is freed.
  for (char& c : *file.text) *static_cast<volatile char*>(&c) = 0;
  for (const auto& m : parsed.messages) {
    out.warnings.push_back(path + ":" + std::to_string(m.line) + ": " + m.text);
  }
  for (const auto& k : parsed.keys) {
    if (!provider->supports(k.algorithm)) {
      out.warnings.push_back(path + ": key " + std::to_string(k.id) + " uses " +
                             to_string(k.algorithm) + ", which this OpenSSL does not provide");
    }
  }
  out.table = std::make_shared<const KeyTable>(std::move(parsed.keys), provider);
  return out;
}

}  // namespace gnomon
