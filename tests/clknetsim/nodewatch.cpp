// Notes in a simulated node's log how its daemon ended, when that was not a
// clean exit: run_suite.sh starts every clknetsim node as
// `nodewatch STANDIN PROGRAM ARGS...`.
//
// A daemon that crashes or exits early inside clknetsim leaves no trace
// otherwise: the suite only sees that "chronyd exiting" is missing from its
// log. For PROGRAM chronyd (whichever daemon the stand-in then runs), this
// program runs the command as its child, passes on the signals a test sends
// (clknetsim.bash stops each node with SIGTERM), and when the daemon exits
// with a non-zero status or dies of another signal, it writes one line
// "nodewatch: chronyd node (pid N) ended with ..." to stderr, which is the
// node's log.N. Every other program is simply exec'd.
//
// Like the stand-in it is linked statically, so clknetsim's preload never
// loads into it and it never becomes a node itself.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace {

volatile sig_atomic_t child_pid = 0;

void forward(int sig) {
  if (child_pid > 0) ::kill(child_pid, sig);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s STANDIN PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  const char* program = argv[2];
  const char* base = std::strrchr(program, '/');
  base = base != nullptr ? base + 1 : program;
  if (std::strcmp(base, "chronyd") != 0) {
    ::execv(argv[1], argv + 1);
    std::fprintf(stderr, "nodewatch: cannot run %s: %s\n", argv[1], std::strerror(errno));
    return 127;
  }

  const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : forwarded) sigaddset(&block, sig);
  // Blocked until the child's pid is known, so no signal is lost.
  sigprocmask(SIG_BLOCK, &block, &old);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "nodewatch: fork: %s\n", std::strerror(errno));
    return 127;
  }
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    ::execv(argv[1], argv + 1);
    std::fprintf(stderr, "nodewatch: cannot run %s: %s\n", argv[1], std::strerror(errno));
    _exit(127);
  }
  child_pid = pid;
  struct sigaction sa {};
  sa.sa_handler = forward;
  sigemptyset(&sa.sa_mask);
  for (int sig : forwarded) sigaction(sig, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "nodewatch: waitpid: %s\n", std::strerror(errno));
      return 127;
    }
  }
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "nodewatch: chronyd node (pid %d) ended with exit status %d\n",
                   static_cast<int>(pid), WEXITSTATUS(status));
    }
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig != SIGTERM && sig != SIGINT) {
      std::fprintf(stderr, "nodewatch: chronyd node (pid %d) ended with signal %d (%s)%s\n",
                   static_cast<int>(pid), sig, strsignal(sig),
                   WCOREDUMP(status) ? ", core dumped" : "");
    }
    return 128 + sig;
  }
  return 1;
}
