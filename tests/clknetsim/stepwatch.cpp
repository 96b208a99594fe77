// A preload that writes one line to stderr each time its process steps the
// system clock, for the fleet scenario in clknetsim (fleet.sh).
//
// It is loaded before clknetsim.so (LD_PRELOAD=stepwatch.so:clknetsim.so), so
// a daemon's calls that can step CLOCK_REALTIME reach it first: it notes the
// step and passes the call on, unchanged, to the next definition (clknetsim's
// simulated clock). Steps are: clock_settime and settimeofday on the realtime
// clock, and clock_adjtime, adjtimex and ntp_adjtime with ADJ_SETOFFSET.
// Slewing (adjtime, ADJ_OFFSET, ADJ_FREQUENCY) is not a step.
//
// The line is
//   stepwatch: step <seconds, + = forward> at <simulated seconds>
// where the simulated seconds are the clock's reading before the step less
// the simulation's start date (CLKNETSIM_START_DATE, clknetsim's default
// 1262304000 s), so they are the time since the start within the node's
// clock error.
//
// It never changes a call, so it controls no clock itself: where the clock
// goes is up to the next definition. clknetsim.so implements some of these
// calls with others of them (settimeofday with clock_settime, adjtimex with
// clock_adjtime); a per-thread depth count notes such a step once.
#include <dlfcn.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <typename F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

// Calls of the intercepted functions in progress on this thread.
thread_local int depth = 0;

// The simulation's start date, s since 1970.
double start_date() {
  const char* env = std::getenv("CLKNETSIM_START_DATE");
  return env != nullptr ? std::atof(env) : 1262304000.0;
}

// A time as seconds since the simulation's start.
double since_start(const struct timespec& ts) {
  return static_cast<double>(ts.tv_sec) - start_date() + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Seconds of the simulation so far, by the node's own clock.
double simulated_seconds() {
  using GetTime = int (*)(clockid_t, struct timespec*);
  static const GetTime get = next_definition<GetTime>("clock_gettime");
  struct timespec ts {};
  if (get == nullptr || get(CLOCK_REALTIME, &ts) != 0) return -1.0;
  return since_start(ts);
}

void note_step(double seconds) {
  if (depth > 1) return;  // noted by the outer call
  std::fprintf(stderr, "stepwatch: step %+.9f at %.3f\n", seconds, simulated_seconds());
  std::fflush(stderr);
}

// The step an absolute setting of the clock makes, s.
double step_to(const struct timespec* tp) { return since_start(*tp) - simulated_seconds(); }

// Counts a call in progress for as long as it lives.
struct Depth {
  Depth() { ++depth; }
  ~Depth() { --depth; }
  Depth(const Depth&) = delete;
  Depth& operator=(const Depth&) = delete;
};

// The step of an ADJ_SETOFFSET request, s.
double setoffset_seconds(const struct timex* tx) {
  const double sub = (tx->modes & ADJ_NANO) != 0 ? 1e-9 : 1e-6;
  return static_cast<double>(tx->time.tv_sec) + static_cast<double>(tx->time.tv_usec) * sub;
}

void note_timex(clockid_t id, const struct timex* tx) {
  if (tx != nullptr && id == CLOCK_REALTIME && (tx->modes & ADJ_SETOFFSET) != 0) {
    note_step(setoffset_seconds(tx));
  }
}

}  // namespace

extern "C" {

int clock_settime(clockid_t id, const struct timespec* tp) {
  using F = int (*)(clockid_t, const struct timespec*);
  static const F next = next_definition<F>("clock_settime");
  const Depth in_call;
  if (id == CLOCK_REALTIME) note_step(step_to(tp));
  return next(id, tp);
}

int settimeofday(const struct timeval* tv, const struct timezone* tz) {
  using F = int (*)(const struct timeval*, const struct timezone*);
  static const F next = next_definition<F>("settimeofday");
  const Depth in_call;
  if (tv != nullptr) {
    const struct timespec ts {tv->tv_sec, tv->tv_usec * 1000};
    note_step(step_to(&ts));
  }
  return next(tv, tz);
}

int clock_adjtime(clockid_t id, struct timex* tx) {
  using F = int (*)(clockid_t, struct timex*);
  static const F next = next_definition<F>("clock_adjtime");
  const Depth in_call;
  note_timex(id, tx);
  return next(id, tx);
}

int adjtimex(struct timex* tx) {
  using F = int (*)(struct timex*);
  static const F next = next_definition<F>("adjtimex");
  const Depth in_call;
  note_timex(CLOCK_REALTIME, tx);
  return next(tx);
}

int ntp_adjtime(struct timex* tx) {
  using F = int (*)(struct timex*);
  static const F next = next_definition<F>("ntp_adjtime");
  const Depth in_call;
  note_timex(CLOCK_REALTIME, tx);
  return next(tx);
}

}  // extern "C"
