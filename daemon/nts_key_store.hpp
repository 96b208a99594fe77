// The NTS server keys on disk: [nts] keydir/nts-server-keys (chrony.conf's
// ntsdumpdir), mode 0600, written atomically. Keys are loaded at start (a
// missing or bad file means fresh keys), rotated daily, and the file is
// rewritten at each rotation, which erases keys that are too old. The key
// material is never logged.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>

#include "daemon/crypto_random.hpp"
#include "lib/nts_cookie.hpp"

namespace gnomon::daemon {

inline constexpr char kNtsKeyFileName[] = "nts-server-keys";

class NtsKeyStore {
 public:
  using Listener = std::function<void(std::shared_ptr<const NtsKeyRing>)>;

  NtsKeyStore(boost::asio::io_context& ctx, std::string keydir, Listener on_keys);

  // Loads or creates the keys and tells the listener. Never fails: without a
  // writable directory the keys live in memory only (logged).
  void open();
  // Checks for a due rotation now and then (the clock may jump).
  void start();
  void stop();

  [[nodiscard]] std::shared_ptr<const NtsKeyRing> keys() const { return keys_; }
  [[nodiscard]] std::string path() const;

 private:
  void schedule();
  // True if the keys changed (and were saved).
  bool rotate_if_due();
  void save();

  boost::asio::io_context& ctx_;
  std::string keydir_;
  Listener on_keys_;
  boost::asio::steady_timer timer_;
  CryptoRandom rng_;
  std::shared_ptr<const NtsKeyRing> keys_;
  bool save_warned_ = false;
};

}  // namespace gnomon::daemon
