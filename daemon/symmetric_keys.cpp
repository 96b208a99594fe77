#include "daemon/symmetric_keys.hpp"

#include <mutex>

#include <spdlog/spdlog.h>

#include "lib/crypto/key_loader.hpp"
#include "lib/crypto/openssl_mac.hpp"

namespace gnomon::daemon {
namespace {

std::mutex g_mutex;
std::shared_ptr<const KeyTable> g_keys;

}  // namespace

void load_symmetric_keys(const std::string& path) {
  LoadedKeys loaded = load_key_table(path);
  for (const auto& w : loaded.warnings) spdlog::warn("{}", w);
  if (!path.empty()) spdlog::info("Loaded {} symmetric keys from {}", loaded.table->size(), path);
  std::lock_guard lock(g_mutex);
  g_keys = std::move(loaded.table);
}

std::shared_ptr<const KeyTable> symmetric_keys() {
  std::lock_guard lock(g_mutex);
  if (!g_keys) {
    g_keys = std::make_shared<const KeyTable>(std::vector<SymmetricKey>{}, openssl_mac_provider());
  }
  return g_keys;
}

std::shared_ptr<ClientAuthenticator> make_symmetric_client_auth(const SourceConfig& config) {
  if (!config.key || config.nts) return nullptr;
  auto keys = symmetric_keys();
  const SymmetricKey* k = keys->find(*config.key);
  if (k == nullptr) {
    spdlog::warn("Key {} of source {} is missing from the key file; no requests are sent to it",
                 *config.key, config.address);
  } else if (k->secret.size() < kMinSecureKeyLen) {
    spdlog::warn("Key {} of source {} is too short (less than 80 bits)", *config.key, config.address);
  }
  return std::make_shared<SymmetricClientAuth>(std::move(keys), *config.key);
}

}  // namespace gnomon::daemon
