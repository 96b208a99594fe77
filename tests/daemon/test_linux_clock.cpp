// LinuxClock through a recording syscall seam. No test here calls the real
// clock_adjtime() with modes != 0.
#include <catch2/catch.hpp>

#include <sys/timex.h>

#include <chrono>
#include <cmath>
#include <vector>

#include "daemon/linux_clock.hpp"

using namespace gnomon;

namespace {

// Records every timex passed in and keeps a little kernel state (tick, freq,
// status) so that reads return what was last written.
class RecordingSyscalls final : public ClockSyscalls {
 public:
  std::vector<timex> calls;
  long tick = 10000;
  long freq = 0;
  int status = STA_UNSYNC | STA_PLL;
  int fail_errno = 0;          // when set, every call fails with -fail_errno
  long hz = 100;
  TimePoint real{TimePoint::from_seconds(1.7e9)};
  Duration mono{Duration::seconds(1000)};

  int adjtime(timex& tx) override {
    calls.push_back(tx);
    if (fail_errno != 0) return -fail_errno;
    if (tx.modes & ADJ_TICK) tick = tx.tick;
    if (tx.modes & ADJ_FREQUENCY) freq = tx.freq;
    if ((tx.modes & ADJ_STATUS) && tx.modes != static_cast<unsigned>(ADJ_OFFSET_SINGLESHOT)) status = tx.status;
    tx.tick = tick;
    tx.freq = freq;
    tx.status = status;
    return TIME_OK;
  }
  TimePoint realtime() override { return real; }
  Duration monotonic() override { return mono; }
  long user_hz() override { return hz; }

  // The frequency correction the kernel applies now, ppm (+ = slower).
  [[nodiscard]] double applied_ppm() const {
    const long nominal = (1000000L + hz / 2) / hz;
    return static_cast<double>(hz) * static_cast<double>(nominal - tick) - static_cast<double>(freq) / 65536.0;
  }
  // `osc_s` seconds of the oscillator pass. CLOCK_MONOTONIC runs at the
  // adjusted rate, as on Linux; corrected_s sums what the correction did.
  void pass(double osc_s) {
    corrected_s += osc_s * applied_ppm() * 1e-6;
    mono = mono + Duration::from_seconds(osc_s * (1.0 - applied_ppm() * 1e-6));
  }
  // `d` of CLOCK_MONOTONIC passes.
  void pass_mono(Duration d) { pass(d.to_seconds() / (1.0 - applied_ppm() * 1e-6)); }
  double corrected_s = 0.0;
  [[nodiscard]] const timex& last() const { return calls.back(); }
};

constexpr unsigned kFreqModes = ADJ_FREQUENCY | ADJ_TICK;

}  // namespace

TEST_CASE("LinuxClock initialise reads the kernel frequency and turns the PLL off") {
  RecordingSyscalls sys;
  sys.tick = 9999;                  // 100 ppm slower by tick
  sys.freq = -23 * 65536;           // and 23 ppm slower by frequency
  LinuxClock clock(sys);
  REQUIRE(clock.initialise() == 0);
  CHECK(clock.nominal_tick_us() == 10000);
  CHECK(clock.frequency_ppm() == Approx(123.0));
  REQUIRE(sys.calls.size() == 4);
  CHECK(sys.calls[0].modes == 0u);
  CHECK(sys.calls[1].modes == static_cast<unsigned>(ADJ_OFFSET_SINGLESHOT));
  CHECK(sys.calls[1].offset == 0);
  CHECK(sys.calls[2].modes == static_cast<unsigned>(ADJ_OFFSET | ADJ_STATUS));
  CHECK(sys.calls[2].offset == 0);
  CHECK(sys.calls[2].status == (STA_PLL | STA_UNSYNC));
  CHECK(sys.calls[3].modes == static_cast<unsigned>(ADJ_STATUS));
  CHECK(sys.calls[3].status == STA_UNSYNC);
}

TEST_CASE("LinuxClock frequency: scaled ppm, negative to slow a fast clock") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_frequency_ppm(100.0);
  CHECK(sys.last().modes == kFreqModes);
  CHECK(sys.last().freq == -100 * 65536);
  CHECK(sys.last().tick == 10000);
  CHECK(clock.frequency_ppm() == 100.0);

  clock.set_frequency_ppm(-12.5);
  CHECK(sys.last().freq == std::lround(12.5 * 65536));
  CHECK(sys.last().tick == 10000);

  clock.set_frequency_ppm(500.0);  // still within the kernel's frequency range
  CHECK(sys.last().freq == -500 * 65536);
  CHECK(sys.last().tick == 10000);
}

TEST_CASE("LinuxClock frequency beyond 500 ppm moves the tick") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_frequency_ppm(1234.5);  // 12 ticks of 100 ppm + 34.5 ppm
  CHECK(sys.last().modes == kFreqModes);
  CHECK(sys.last().tick == 10000 - 12);
  CHECK(sys.last().freq == std::lround(-34.5 * 65536));

  clock.set_frequency_ppm(-2060.0);  // -21 ticks + 40 ppm
  CHECK(sys.last().tick == 10000 + 21);
  CHECK(sys.last().freq == std::lround(-40.0 * 65536));

  clock.set_frequency_ppm(1e6);  // clamped to the kernel's +-10 % tick range + 500 ppm
  CHECK(sys.last().tick == 10000 - 1000);
  CHECK(sys.last().freq == -500 * 65536);

  RecordingSyscalls sys1000;
  sys1000.hz = 1000;
  LinuxClock fast_hz(sys1000);
  CHECK(fast_hz.nominal_tick_us() == 1000);
  fast_hz.set_frequency_ppm(2600.0);  // 3 ticks of 1000 ppm - 400 ppm
  CHECK(sys1000.last().tick == 997);
  CHECK(sys1000.last().freq == 400 * 65536);
}

TEST_CASE("LinuxClock ignores a non-finite frequency") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_frequency_ppm(std::nan(""));
  CHECK(sys.calls.empty());
  CHECK(clock.frequency_ppm() == 0.0);
}

TEST_CASE("LinuxClock step uses ADJ_SETOFFSET with nanoseconds, moving the clock by -offset") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  REQUIRE(clock.step_offset(Duration::from_ms(250)));  // 0.25 s ahead: go back
  CHECK(sys.last().modes == static_cast<unsigned>(ADJ_SETOFFSET | ADJ_NANO));
  CHECK(sys.last().time.tv_sec == -1);
  CHECK(sys.last().time.tv_usec == 750000000);

  REQUIRE(clock.step_offset(Duration::from_seconds(-2.5)));  // behind: go forward
  CHECK(sys.last().time.tv_sec == 2);
  CHECK(sys.last().time.tv_usec == 500000000);

  REQUIRE(clock.step_offset(Duration{-100000000LL * kNsPerS - 1}));  // 1e8 s and 1 ns
  CHECK(sys.last().time.tv_sec == 100000000);
  CHECK(sys.last().time.tv_usec == 1);
}

TEST_CASE("LinuxClock step failure is reported, not thrown") {
  RecordingSyscalls sys;
  sys.fail_errno = EPERM;
  LinuxClock clock(sys);
  CHECK_FALSE(clock.step_offset(Duration::seconds(1)));
  CHECK(clock.last_error() == -EPERM);
  CHECK(clock.failures() == 1);
  CHECK(clock.initialise() == -EPERM);
}

TEST_CASE("LinuxClock slews with an extra frequency and ends the slew on time") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_frequency_ppm(50.0);
  // 2 ms ahead, over 4 s: 500 ppm extra slow-down on top of the 50 ppm.
  clock.slew_offset(Duration::from_ms(2), Duration::seconds(4), 83333.0);
  CHECK(sys.last().modes == kFreqModes);
  CHECK(sys.last().tick == 10000 - 6);  // 550 ppm = 6 ticks - 50 ppm
  CHECK(sys.last().freq == 50 * 65536);
  CHECK(clock.frequency_ppm() == 50.0);  // the slew is not part of it
  REQUIRE(clock.slew_end_in());
  // 4 s of oscillator time; CLOCK_MONOTONIC, 550 ppm slow, counts less.
  CHECK(clock.slew_end_in()->to_seconds() == Approx(4.0 * (1.0 - 550e-6)));

  sys.pass(1.0);
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.0015));
  CHECK(clock.slew_end_in()->to_seconds() == Approx(3.0 * (1.0 - 550e-6)));
  const auto calls = sys.calls.size();
  clock.update();  // not due yet: nothing changes
  CHECK(sys.calls.size() == calls);

  sys.pass(3.0);
  clock.update();  // due: back to the base frequency
  CHECK(sys.last().modes == kFreqModes);
  CHECK(sys.last().tick == 10000);
  CHECK(sys.last().freq == -50 * 65536);
  CHECK(clock.remaining_slew() == Duration{});
  CHECK_FALSE(clock.slew_end_in());
}

TEST_CASE("LinuxClock slew rate is bounded, and a late update slews the overshoot back") {
  RecordingSyscalls sys;
  LinuxClock clock(sys, LinuxClockOptions{.max_slew_rate_ppm = 1000.0});
  // -1 s (the clock is behind) would want 1e6 ppm: capped at 1000 ppm (speed up).
  clock.slew_offset(Duration::seconds(-1), Duration::seconds(1), 83333.0);
  CHECK(sys.last().tick == 10000 + 10);
  CHECK(sys.last().freq == 0);
  CHECK(clock.slew_end_in()->to_seconds() == Approx(1000.0 * (1.0 + 1000e-6)));  // running fast

  // The caller's bound is lower still.
  clock.slew_offset(Duration{}, Duration::seconds(1), 300.0);
  CHECK(sys.last().tick == 10000);
  CHECK(sys.last().freq == 300 * 65536);

  // Update 10 s late: 3 ms too far; that comes back over 2 s at 1500 ppm > the
  // previous 300 ppm rate, so at 300 ppm.
  sys.pass(1000.0 / 0.3 + 10.0);
  clock.update();
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.003).margin(1e-9));
  CHECK(sys.last().freq == -300 * 65536);
  sys.pass(10.0);
  clock.update();
  CHECK(clock.remaining_slew() == Duration{});
  CHECK(sys.last().freq == 0);
  CHECK(sys.last().tick == 10000);
}

TEST_CASE("LinuxClock ends a fast slew on the offset although CLOCK_MONOTONIC runs at the slewed rate") {
  for (double offset_s : {0.11283, -0.11283, 0.5, -2.0}) {
    RecordingSyscalls sys;
    LinuxClock clock(sys);
    clock.set_frequency_ppm(100.0);
    const double base_before = sys.corrected_s;
    clock.slew_offset(Duration::from_seconds(offset_s), Duration{}, 83333.333);
    // Wake exactly when the clock says the slew ends, as the daemon does.
    for (int i = 0; i < 4 && clock.slew_end_in(); ++i) {
      sys.pass_mono(*clock.slew_end_in());
      clock.update();
    }
    CHECK_FALSE(clock.slew_end_in());
    // What the slew removed, beyond the 100 ppm base frequency over the
    // slew's own time (|offset| / rate of oscillator time).
    const double slewed_s = sys.corrected_s - base_before;
    const double base_part_s = 100e-6 * std::fabs(offset_s) / (83333.333e-6);
    CHECK(slewed_s - base_part_s == Approx(offset_s).margin(2e-6));
  }
}

TEST_CASE("LinuxClock slews a small overshoot back over 2 s") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.slew_offset(Duration::from_ms(10), Duration::seconds(1), 83333.0);  // 10000 ppm for 1 s
  CHECK(sys.last().tick == 10000 - 100);
  sys.pass(1.12);  // 0.12 s late: 1.2 ms too far
  clock.update();
  CHECK(clock.remaining_slew().to_seconds() == Approx(-0.0012).margin(1e-9));
  CHECK(sys.last().tick == 10000 + 6);  // back at 600 ppm (1.2 ms over 2 s)
  CHECK(std::abs(sys.last().freq) <= 1);
  CHECK(clock.slew_end_in()->to_seconds() == Approx(2.0 * (1.0 + 600e-6)));
}

TEST_CASE("LinuxClock slews add up, and a step does not cancel a slew") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.slew_offset(Duration::from_ms(1), Duration::seconds(10), 83333.0);
  sys.pass(5.0);
  clock.slew_offset(Duration::from_ms(1), Duration::seconds(10), 83333.0);  // 0.5 + 1 ms pending
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.0015));
  CHECK(sys.last().freq == -150 * 65536);
  REQUIRE(clock.step_offset(Duration::seconds(5)));
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.0015));
}

TEST_CASE("LinuxClock leap status bits") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_leap(Leap::Insert);
  CHECK(sys.last().modes == static_cast<unsigned>(ADJ_STATUS));
  CHECK((sys.last().status & STA_INS) != 0);
  CHECK((sys.last().status & STA_DEL) == 0);
  clock.set_leap(Leap::Delete);
  CHECK((sys.last().status & STA_INS) == 0);
  CHECK((sys.last().status & STA_DEL) != 0);
  clock.set_leap(Leap::None);
  CHECK((sys.last().status & (STA_INS | STA_DEL)) == 0);
  CHECK((sys.last().status & STA_PLL) == 0);
}

TEST_CASE("LinuxClock sync status: error bounds in us, STA_UNSYNC kept without rtcsync") {
  RecordingSyscalls sys;
  LinuxClock clock(sys);
  clock.set_sync_status(true, 0.0001, 0.002);
  CHECK(sys.last().modes == static_cast<unsigned>(ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR));
  CHECK(sys.last().esterror == 100);
  CHECK(sys.last().maxerror == 2000);
  CHECK((sys.last().status & STA_UNSYNC) != 0);

  RecordingSyscalls sys2;
  LinuxClock rtc(sys2, LinuxClockOptions{.rtcsync = true});
  rtc.set_leap(Leap::Insert);
  rtc.set_sync_status(true, 0.0001, 0.002);
  CHECK((sys2.last().status & STA_UNSYNC) == 0);
  CHECK((sys2.last().status & STA_INS) != 0);  // the leap bit survives
  rtc.set_sync_status(true, 0.0001, 20.0);  // beyond 16 s: unsynchronised
  CHECK((sys2.last().status & STA_UNSYNC) != 0);
  CHECK(sys2.last().maxerror == 16000000);
  rtc.set_sync_status(false, 0.0, 0.0);
  CHECK(sys2.last().esterror == 16000000);
}

TEST_CASE("RealClockSyscalls reads the clock (modes 0 only)") {
  RealClockSyscalls real;
  timex tx{};
  tx.modes = 0;  // read only: never anything else in a test
  const int state = real.adjtime(tx);
  CHECK(state >= 0);
  CHECK(tx.tick > 0);
  const auto sys_now = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::fabs(static_cast<double>(real.realtime().unix_ns - sys_now)) < 1e9);
  CHECK(real.user_hz() > 0);
  const Duration a = real.monotonic();
  CHECK(real.monotonic() >= a);
}
