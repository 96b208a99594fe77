#include "daemon/nts_key_store.hpp"

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "daemon/atomic_file.hpp"
#include "daemon/socket_util.hpp"

namespace gnomon::daemon {

namespace {
// How often a due rotation is looked for.
constexpr auto kCheckInterval = std::chrono::minutes(10);
}  // namespace

NtsKeyStore::NtsKeyStore(boost::asio::io_context& ctx, std::string keydir, Listener on_keys)
    : ctx_(ctx), keydir_(std::move(keydir)), on_keys_(std::move(on_keys)), timer_(ctx) {}

std::string NtsKeyStore::path() const {
  if (keydir_.empty()) return {};
  return keydir_ + (keydir_.back() == '/' ? "" : "/") + kNtsKeyFileName;
}

void NtsKeyStore::open() {
  const std::string file = path();
  if (!file.empty()) {
    std::ifstream in(file);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      if (auto ring = NtsKeyRing::from_text(ss.str())) {
        keys_ = std::make_shared<const NtsKeyRing>(std::move(*ring));
        spdlog::info("Loaded {} NTS server key{} from {}", keys_->size(), keys_->size() == 1 ? "" : "s", file);
      } else {
        spdlog::warn("Ignoring unreadable NTS server key file {}; making new keys", file);
      }
    }
  }
  if (!keys_) keys_ = std::make_shared<const NtsKeyRing>();
  (void)rotate_if_due();
  if (on_keys_) on_keys_(keys_);
}

void NtsKeyStore::start() { schedule(); }

void NtsKeyStore::stop() { timer_.cancel(); }

void NtsKeyStore::schedule() {
  timer_.expires_after(kCheckInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (rotate_if_due() && on_keys_) on_keys_(keys_);
    schedule();
  });
}

bool NtsKeyStore::rotate_if_due() {
  NtsKeyRing ring = *keys_;
  if (!ring.rotate(realtime_now(), rng_)) return false;
  keys_ = std::make_shared<const NtsKeyRing>(std::move(ring));
  spdlog::info("New NTS server key ({} kept)", keys_->size());
  save();
  return true;
}

void NtsKeyStore::save() {
  const std::string file = path();
  if (file.empty()) return;
  if (auto ec = write_file_atomically(file, keys_->to_text(), 0600)) {
    // Not fatal: cookies then last only as long as this process.
    if (!save_warned_) spdlog::warn("Could not save NTS server keys to {}: {}", file, ec.message());
    save_warned_ = true;
    return;
  }
  save_warned_ = false;
}

}  // namespace gnomon::daemon
