#include <signal.h>

#include <atomic>
#include <csignal>

#include "daemon/signal_loop.hpp"

namespace gnomon::daemon {

namespace {

// The loop the handler stops, and the last signal not yet handled.
boost::asio::io_context* g_loop = nullptr;
volatile std::sig_atomic_t g_pending = 0;

extern "C" void on_loop_signal(int signo) {
  g_pending = signo;
  // Without locks (the unsafe concurrency hint), stop() sets a flag and
  // writes to the reactor's interrupter: both safe in a handler.
  if (g_loop != nullptr) g_loop->stop();
}

}  // namespace

int main_loop_concurrency_hint() { return BOOST_ASIO_CONCURRENCY_HINT_UNSAFE; }

void run_signal_loop(boost::asio::io_context& ctx, const std::function<bool(int)>& on_signal) {
  g_loop = &ctx;
  struct sigaction sa {};
  sa.sa_handler = on_loop_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  for (;;) {
    ctx.run();
    // Restarted before the flag is read: a signal from now on stops the
    // next run() at once.
    ctx.restart();
    const int signo = g_pending;
    g_pending = 0;
    if (signo == 0 || !on_signal(signo)) break;
  }
  sa.sa_handler = SIG_DFL;
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  g_loop = nullptr;
}

}  // namespace gnomon::daemon
