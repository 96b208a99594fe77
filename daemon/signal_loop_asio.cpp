#include <boost/asio/signal_set.hpp>

#include <csignal>

#include "daemon/signal_loop.hpp"

namespace gnomon::daemon {

int main_loop_concurrency_hint() { return 1; }

void run_signal_loop(boost::asio::io_context& ctx, const std::function<bool(int)>& on_signal) {
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> wait = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (on_signal(signo)) {
        wait();
      } else {
        ctx.stop();
      }
    });
  };
  wait();
  ctx.run();
}

}  // namespace gnomon::daemon
