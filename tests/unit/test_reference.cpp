// The reference and discipline: makestep, slewing, frequency blending,
// maxupdateskew, panic guard, leap, stratum and root distance, the served
// state with the local fallback, tracking, and the no-control clock.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "lib/noop_clock.hpp"
#include "lib/reference.hpp"

using namespace gnomon;

namespace {

const TimePoint kT0 = TimePoint::from_seconds(1.7e9);

// Records what it is asked; slews are never progressed (remaining_slew is
// what was accrued), unless `pending` is set directly.
class RecordingClock final : public ClockControl {
 public:
  struct Slew {
    double offset_s, correction_time_s, max_rate_ppm;
  };
  TimePoint t = kT0;
  double freq_ppm = 0.0;
  double pending_s = 0.0;
  bool can_step = true;
  std::vector<Slew> slews;
  std::vector<double> steps;
  std::vector<Leap> leaps;
  bool sync = false;
  double max_error_s = 0.0;

  TimePoint now() override { return t; }
  double frequency_ppm() const override { return freq_ppm; }
  void set_frequency_ppm(double f) override { freq_ppm = f; }
  void slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) override {
    slews.push_back({offset.to_seconds(), correction_time.to_seconds(), max_rate_ppm});
    pending_s += offset.to_seconds();
  }
  Duration remaining_slew() override { return Duration::from_seconds(pending_s); }
  bool step_offset(Duration offset) override {
    if (!can_step) return false;
    steps.push_back(offset.to_seconds());
    t = t - offset;
    return true;
  }
  void set_leap(Leap leap) override { leaps.push_back(leap); }
  void set_sync_status(bool synchronised, double, double max_error) override {
    sync = synchronised;
    max_error_s = max_error;
  }
};

ReferenceInput input(TimePoint ref_time, double offset_s, double freq = 0.0, double skew = 1e-8) {
  ReferenceInput in;
  in.source_id = 7;
  in.refid = 0x7F000001;
  in.name = "127.0.0.1";
  in.stratum = 1;
  in.leap = Leap::None;
  in.ref_time = ref_time;
  in.offset_s = offset_s;
  in.offset_sd_s = 1e-5;
  in.frequency = freq;
  in.frequency_sd = skew / 4;
  in.skew = skew;
  in.root_delay_s = 0.002;
  in.root_dispersion_s = 0.0005;
  return in;
}

bool has_event(const ReferenceResult& r, const std::string& text) {
  for (const auto& e : r.events)
    if (e.text == text) return true;
  return false;
}

}  // namespace

TEST_CASE("makestep: step above the threshold within the limit, slew otherwise", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.makestep = MakeStepConfig{1.0, 3};
  Reference ref(clock, o);

  // 0.5 s: below the threshold, slewed.
  ReferenceResult r = ref.update(clock.t, input(clock.t, 0.5));
  REQUIRE(r.updated);
  CHECK(clock.steps.empty());
  REQUIRE(clock.slews.size() == 1);
  CHECK(clock.slews[0].offset_s == Approx(0.5));
  CHECK(clock.slews[0].max_rate_ppm == Approx(83333.333));
  CHECK(r.correction.slewed_s == Approx(0.5));

  // 2 s ahead, with 0.5 s still pending: the step takes the whole 2.5 s and
  // cancels the pending slew.
  r = ref.update(clock.t, input(clock.t - Duration::from_seconds(0.5), 2.0));
  REQUIRE(clock.steps.size() == 1);
  CHECK(clock.steps[0] == Approx(2.5));
  CHECK(clock.pending_s == Approx(0.0).margin(1e-9));
  CHECK(r.correction.stepped_s == Approx(2.5));
  CHECK(has_event(r, "System clock was stepped by -2.500000 seconds"));
  CHECK(has_event(r, "System clock wrong by -2.000000 seconds"));

  // The third update is still within the limit.
  r = ref.update(clock.t, input(clock.t, -3.0));
  CHECK(clock.steps.size() == 2);
  // The fourth is not: slewed.
  r = ref.update(clock.t, input(clock.t, 5.0));
  CHECK(clock.steps.size() == 2);
  CHECK(clock.slews.back().offset_s == Approx(5.0));
}

TEST_CASE("makestep limit -1 steps at any time; no makestep never steps", "[reference]") {
  {
    RecordingClock clock;
    ReferenceOptions o;
    o.makestep = MakeStepConfig{0.1, -1};
    Reference ref(clock, o);
    for (int i = 0; i < 20; ++i) static_cast<void>(ref.update(clock.t, input(clock.t, 0.0)));
    static_cast<void>(ref.update(clock.t, input(clock.t, 0.2)));
    CHECK(clock.steps.size() == 1);
  }
  {
    RecordingClock clock;
    ReferenceOptions o;
    o.makestep.reset();
    Reference ref(clock, o);
    static_cast<void>(ref.update(clock.t, input(clock.t, 100.0)));
    CHECK(clock.steps.empty());
    CHECK(clock.slews.back().offset_s == Approx(100.0));
  }
}

TEST_CASE("a failed step is slewed instead", "[reference]") {
  RecordingClock clock;
  clock.can_step = false;
  Reference ref(clock, ReferenceOptions{});
  const ReferenceResult r = ref.update(clock.t, input(clock.t, 5.0));
  CHECK(clock.steps.empty());
  CHECK(r.correction.stepped_s == 0.0);
  CHECK(clock.pending_s == Approx(5.0));
}

TEST_CASE("the slew time follows the offset sd and update interval", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.maxslewrate_ppm = 500.0;
  o.fine_slew_rate_ppm = 0.0;  // chrony's correction only
  Reference ref(clock, o);
  static_cast<void>(ref.update(clock.t, input(clock.t, 0.001)));
  // First update: no interval yet, the driver uses its minimum time.
  CHECK(clock.slews.back().correction_time_s == Approx(0.0));
  CHECK(clock.slews.back().max_rate_ppm == Approx(500.0));
  clock.pending_s = 0.0;  // the slew completed
  clock.t = clock.t + Duration::seconds(64);
  ReferenceInput in = input(clock.t, 0.0002);
  in.offset_sd_s = 1e-4;
  static_cast<void>(ref.update(clock.t, in));
  // corr rate = 3 * 0.5 * sd * interval; time = rate / |offset|.
  // (The recording clock does not move while slewing: the interval is 64.001 s.)
  CHECK(clock.slews.back().correction_time_s == Approx(3 * 0.5 * 1e-4 * 64 / 0.0002).epsilon(1e-4));
}

TEST_CASE("small offsets are slewed faster, at most at the fine slew rate", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;  // fine ratio 0.3, fine rate 5 ppm
  Reference ref(clock, o);
  static_cast<void>(ref.update(clock.t, input(clock.t, 0.001)));
  clock.pending_s = 0.0;
  const auto slew_after = [&](double offset_s, double sd_s) {
    clock.t = clock.t + Duration::seconds(64);
    ReferenceInput in = input(clock.t, offset_s);
    in.offset_sd_s = sd_s;
    static_cast<void>(ref.update(clock.t, in));
    clock.pending_s = 0.0;
    return clock.slews.back().correction_time_s;
  };
  // 20 us at sd 100 us: chrony would take 3 * 0.5 * 1e-4 * 64 / 2e-5 = 480 s;
  // the fine ratio makes it 48 s (0.42 ppm, below the 5 ppm cap).
  CHECK(slew_after(2e-5, 1e-4) == Approx(0.3 * 0.5 * 1e-4 * 64 / 2e-5).epsilon(1e-3));
  // 200 us at sd 100 us: the fine ratio would ask 42 ppm; capped at 5 ppm.
  CHECK(slew_after(2e-4, 1e-4) == Approx(2e-4 / 5e-6).epsilon(1e-3));
  // 10 ms at sd 100 us: chrony's own rate (10 ms^2 / 9.6e-3 = 10400 ppm) is faster.
  CHECK(slew_after(1e-2, 1e-4) == Approx(3 * 0.5 * 1e-4 * 64 / 1e-2).epsilon(1e-3));
}

TEST_CASE("an update during a running slew does not hurry the planned correction",
          "[reference]") {
  // After a long gap, a large offset is slewed over a long time; the next
  // update (64 s later, small offset, small interval) must not re-slew the
  // whole pending amount within seconds (chrony's rule would).
  RecordingClock clock;
  ReferenceOptions o;
  o.fine_slew_rate_ppm = 0.0;
  Reference ref(clock, o);
  static_cast<void>(ref.update(clock.t, input(clock.t, 0.0)));
  clock.pending_s = 0.0;
  clock.t = clock.t + Duration::seconds(86400);
  ReferenceInput in = input(clock.t, 0.01);
  in.offset_sd_s = 1e-4;
  static_cast<void>(ref.update(clock.t, in));
  const double first_time_s = clock.slews.back().correction_time_s;
  CHECK(first_time_s == Approx(3 * 0.5 * 1e-4 * 86400 / 0.01).epsilon(1e-3));  // 1296 s
  // 64 s later 95% is still pending (the recording clock does not slew).
  clock.t = clock.t + Duration::seconds(64);
  clock.pending_s = 0.01 * (1.0 - 64.0 / first_time_s);
  in = input(clock.t, 1e-5);
  in.offset_sd_s = 1e-4;
  static_cast<void>(ref.update(clock.t, in));
  const double rate = (clock.pending_s) / clock.slews.back().correction_time_s;
  // About the rate planned (7.7 ppm), not chrony's 10 ms^2 / 9.6e-3 s = 10400 ppm.
  CHECK(rate == Approx(0.01 / first_time_s).epsilon(0.05));
}

TEST_CASE("the offset is extrapolated from the reference time", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  const ReferenceResult r =
      ref.update(clock.t, input(clock.t - Duration::seconds(10), 0.001, 1e-5, 1e-8));
  CHECK(r.correction.offset_s == Approx(0.001 + 10 * 1e-5));
}

TEST_CASE("frequency: blended by skews, not updated above maxupdateskew", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  ref.load_drift(DriftData{20.0, 1.0});  // our skew 1 ppm
  CHECK(clock.freq_ppm == Approx(20.0));

  // Measured skew 1 ppm: gain 3/(3+1) = 0.75 of a 10 ppm measured error.
  ReferenceResult r = ref.update(clock.t, input(clock.t, 0.0, 10e-6, 1e-6));
  const double expected = 20.0 + 0.75 * 10e-6 * (1e6 - 20.0);
  CHECK(clock.freq_ppm == Approx(expected));
  CHECK(r.correction.dfreq == Approx((expected - 20.0) / (1e6 - 20.0)));
  CHECK(ref.tracking(clock.t).resid_freq_ppm == Approx(2.5));

  // Measured skew 2000 ppm > maxupdateskew: the frequency stays.
  const double before = clock.freq_ppm;
  r = ref.update(clock.t, input(clock.t, 0.0, 300e-6, 2000e-6));
  CHECK(clock.freq_ppm == before);
  CHECK(r.correction.dfreq == 0.0);
}

TEST_CASE("frequency is clamped to maxdrift", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.max_drift_ppm = 500.0;
  Reference ref(clock, o);
  static_cast<void>(ref.update(clock.t, input(clock.t, 0.0, 0.01, 1e-9)));
  CHECK(clock.freq_ppm == Approx(500.0));
}

TEST_CASE("maxchange: the panic guard", "[reference]") {
  SECTION("exits on the first offset above the limit") {
    RecordingClock clock;
    ReferenceOptions o;
    o.maxchange = MaxChangeConfig{1.0, 0, 0};
    Reference ref(clock, o);
    const ReferenceResult r = ref.update(clock.t, input(clock.t, 2.0));
    CHECK(r.panic);
    CHECK_FALSE(r.updated);
    CHECK(clock.slews.empty());
    CHECK(has_event(r,
                    "Adjustment of -2.000 seconds exceeds the allowed maximum of 1.000 seconds "
                    "(exiting) "));
  }
  SECTION("start and ignore counts") {
    RecordingClock clock;
    ReferenceOptions o;
    o.maxchange = MaxChangeConfig{1.0, 1, 1};
    Reference ref(clock, o);
    ReferenceResult r = ref.update(clock.t, input(clock.t, 2.0));  // first update: not checked
    CHECK(r.updated);
    r = ref.update(clock.t, input(clock.t, 2.0));  // ignored once
    CHECK_FALSE(r.updated);
    CHECK_FALSE(r.panic);
    r = ref.update(clock.t, input(clock.t, 0.5));  // fine
    CHECK(r.updated);
    r = ref.update(clock.t, input(clock.t, -2.0));
    CHECK(r.panic);
  }
}

TEST_CASE("stratum, root delay and root dispersion propagate", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.local.enabled = false;
  Reference ref(clock, o);
  ReferenceInput in = input(clock.t, 0.0, 0.0, 1e-7);
  in.stratum = 3;
  in.root_delay_s = 0.004;
  in.root_dispersion_s = 0.001;
  static_cast<void>(ref.update(clock.t, in));
  const ServedState s = ref.served_state(clock.t);
  CHECK(s.stratum == 4);
  CHECK(s.refid == 0x7F000001u);
  CHECK(s.leap == Leap::None);
  CHECK(s.root_delay_s == Approx(0.004));
  CHECK(s.root_dispersion_s == Approx(0.001));
  const TrackingReport t0 = ref.tracking(clock.t);
  CHECK(s.dispersion_rate == Approx(t0.skew_ppm * 1e-6 + std::fabs(t0.resid_freq_ppm) * 1e-6 + 1e-6));
  // 1000 s later the dispersion has grown by rate x 1000 s.
  clock.t = clock.t + Duration::seconds(1000);
  const TrackingReport t = ref.tracking(clock.t);
  CHECK(t.stratum == 4);
  CHECK(t.root_dispersion_s == Approx(0.001 + 1000 * s.dispersion_rate));
  CHECK(t.synchronised);
  CHECK(t.source_id == 7u);
  CHECK(ref.root_distance_s(clock.t) == Approx(0.002 + t.root_dispersion_s));
}

TEST_CASE("unsynchronised: LI 3, stratum 0", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  ServedState s = ref.served_state(clock.t);
  CHECK_FALSE(s.synchronised());
  CHECK(s.leap == Leap::Unsynchronised);
  CHECK(s.stratum == 0);
  TrackingReport t = ref.tracking(clock.t);
  CHECK(t.stratum == 0);
  CHECK(t.ref_id == 0u);
  CHECK(t.leap == Leap::Unsynchronised);

  static_cast<void>(ref.update(clock.t, input(clock.t, 0.0)));
  CHECK(ref.served_state(clock.t).synchronised());
  CHECK(clock.sync);
  ref.set_unsynchronised();
  s = ref.served_state(clock.t);
  CHECK(s.leap == Leap::Unsynchronised);
  CHECK_FALSE(clock.sync);
  CHECK(clock.leaps.back() == Leap::Unsynchronised);
}

TEST_CASE("local reference: fallback and return", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.local.enabled = true;
  o.local.stratum = 10;
  Reference ref(clock, o);
  ServedState s = ref.served_state(clock.t);
  CHECK(s.stratum == 10);
  CHECK(s.refid == kLocalRefid);
  CHECK(s.leap == Leap::None);
  CHECK(s.root_delay_s == 0.0);
  CHECK(s.root_dispersion_s == 0.0);
  CHECK(s.reference_time < clock.t);
  TrackingReport t = ref.tracking(clock.t);
  CHECK(t.local);
  CHECK(t.stratum == 10);
  CHECK(t.ref_id == kLocalRefid);

  ReferenceInput in = input(clock.t, 0.0);
  in.stratum = 8;
  static_cast<void>(ref.update(clock.t, in));
  s = ref.served_state(clock.t);
  CHECK(s.stratum == 9);
  CHECK(s.refid == 0x7F000001u);

  // Selection found no usable source: still the source until the distance
  // grows over `distance`, as in chronyd.
  ref.set_local_active(true);
  CHECK(ref.served_state(clock.t).stratum == 9);
  ref.set_local_active(false);
  ref.set_unsynchronised();  // no majority
  CHECK(ref.served_state(clock.t).stratum == 10);
  static_cast<void>(ref.update(clock.t, in));  // upstreams returned
  CHECK(ref.served_state(clock.t).stratum == 9);

  // Root distance above `distance` (1 s) also activates it.
  clock.t = clock.t + Duration::seconds(2000000);
  CHECK(ref.served_state(clock.t).stratum == 10);
}

TEST_CASE("local reference: waitunsynced counts from the last note_time that found us unsynchronised",
          "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.local.enabled = true;
  o.local.stratum = 5;
  o.local.orphan = true;  // waitunsynced 300 s by default
  Reference ref(clock, o);
  ref.note_time(clock.t);  // start
  CHECK_FALSE(ref.served_state(clock.t).synchronised());
  CHECK(ref.local_switch_at().value() > clock.t + Duration::seconds(299));
  clock.t = clock.t + Duration::seconds(301);
  CHECK(ref.served_state(clock.t).stratum == 5);

  static_cast<void>(ref.update(clock.t, input(clock.t, 0.0)));
  ref.note_time(clock.t);
  CHECK(ref.served_state(clock.t).refid == 0x7F000001u);
  clock.t = clock.t + Duration::seconds(10);
  ref.set_unsynchronised();
  ref.note_time(clock.t);
  clock.t = clock.t + Duration::seconds(100);
  CHECK_FALSE(ref.served_state(clock.t).synchronised());
  clock.t = clock.t + Duration::seconds(201);
  CHECK(ref.served_state(clock.t).stratum == 5);
  CHECK(ref.tracking(clock.t).local);
}

TEST_CASE("local reference: the reference time is kept while 1..64 s old", "[reference]") {
  RecordingClock clock;
  ReferenceOptions o;
  o.local.enabled = true;
  Reference ref(clock, o);
  const TimePoint first = ref.served_state(clock.t).reference_time;
  CHECK(first <= clock.t - Duration::seconds(1));
  CHECK(first > clock.t - Duration::seconds(2));
  clock.t = clock.t + Duration::seconds(40);
  CHECK(ref.tracking(clock.t).ref_time == first);
  clock.t = clock.t + Duration::seconds(40);
  CHECK(ref.served_state(clock.t).reference_time > first + Duration::seconds(70));
}

TEST_CASE("leap status goes to the clock", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  ReferenceInput in = input(clock.t, 0.0);
  in.leap = Leap::Insert;
  static_cast<void>(ref.update(clock.t, in));
  REQUIRE_FALSE(clock.leaps.empty());
  CHECK(clock.leaps.back() == Leap::Insert);
  CHECK(ref.served_state(clock.t).leap == Leap::Insert);
  ref.update_leap(Leap::None);
  CHECK(clock.leaps.back() == Leap::None);
}

TEST_CASE("tracking reports offsets, RMS and the pending correction", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  static_cast<void>(ref.update(clock.t, input(clock.t, 0.002)));
  TrackingReport t = ref.tracking(clock.t);
  CHECK(t.last_offset_s == Approx(0.002));
  CHECK(t.rms_offset_s == Approx(0.002));
  CHECK(t.system_time_offset_s == Approx(0.002));  // all of it still pending
  clock.pending_s = 0.0;
  clock.t = clock.t + Duration::seconds(16);
  static_cast<void>(ref.update(clock.t, input(clock.t, -0.001)));
  t = ref.tracking(clock.t);
  CHECK(t.last_offset_s == Approx(-0.001));
  CHECK(t.last_update_interval_s == Approx(16.0).epsilon(1e-3));
  CHECK(t.rms_offset_s == Approx(0.001));  // not yet moving: the last square
  CHECK(t.freq_ppm == Approx(clock.freq_ppm));
}

TEST_CASE("the drift is saved hourly", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  int writes = 0;
  for (int i = 0; i < 130; ++i) {  // 130 updates of 64 s = 8320 s
    clock.pending_s = 0.0;
    const ReferenceResult r = ref.update(clock.t, input(clock.t, 0.0));
    if (r.write_drift) ++writes;
    clock.t = clock.t + Duration::seconds(64);
  }
  CHECK(writes == 2);
  const DriftData d = ref.drift();
  CHECK(d.freq_ppm == clock.freq_ppm);
  CHECK(d.skew_ppm > 0.0);
}

TEST_CASE("invalid input is ignored", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  ReferenceInput in = input(clock.t, std::nan(""));
  const ReferenceResult r = ref.update(clock.t, in);
  CHECK_FALSE(r.updated);
  CHECK(clock.slews.empty());
  CHECK_FALSE(ref.synchronised());
}

TEST_CASE("makestep command finishes the pending slew with a step", "[reference]") {
  RecordingClock clock;
  Reference ref(clock, ReferenceOptions{});
  clock.pending_s = 0.25;
  const ClockCorrection c = ref.make_step(clock.t);
  CHECK(c.stepped_s == Approx(0.25));
  CHECK(clock.pending_s == Approx(0.0).margin(1e-12));
  REQUIRE(clock.steps.size() == 1);
  CHECK(clock.steps[0] == Approx(0.25));
}

TEST_CASE("no-control clock: virtual corrections on the real time", "[reference][noop]") {
  TimePoint real = kT0;
  NoControlClock clock([&] { return real; });
  CHECK(clock.now() == real);
  clock.set_frequency_ppm(100.0);  // the real clock gains 100 ppm
  real = real + Duration::seconds(1000);
  // 0.1 s of the gain is taken out virtually.
  CHECK((clock.now() - real).to_seconds() == Approx(-0.1).margin(1e-9));
  clock.slew_offset(Duration::from_ms(5), Duration::seconds(10), 500.0);
  CHECK((clock.now() - real).to_seconds() == Approx(-0.105).margin(1e-9));
  CHECK(clock.remaining_slew() == Duration{});
  CHECK(clock.step_offset(Duration::seconds(2)));
  CHECK((clock.now() - real).to_seconds() == Approx(-2.105).margin(1e-9));
  CHECK(clock.intent().steps == 1);
  CHECK(clock.intent().slews == 1);
  CHECK(clock.intent().freq_ppm == 100.0);
  CHECK(clock.intent().stepped == Duration::seconds(2));

  NoControlClock recorder([&] { return real; }, false);
  recorder.set_frequency_ppm(50.0);
  CHECK(recorder.step_offset(Duration::seconds(1)));
  real = real + Duration::seconds(100);
  CHECK(recorder.now() == real);
  CHECK(recorder.intent().stepped == Duration::seconds(1));
}

TEST_CASE("the discipline works the same through the no-control clock", "[reference][noop]") {
  TimePoint real = kT0;
  NoControlClock clock([&] { return real; });
  ReferenceOptions o;
  o.makestep = MakeStepConfig{1.0, 3};
  Reference ref(clock, o);
  const ReferenceResult r = ref.update(clock.now(), input(clock.now(), 3.0, 5e-6, 1e-7));
  CHECK(r.correction.stepped_s == Approx(3.0));
  CHECK(clock.intent().steps == 1);
  CHECK(clock.frequency_ppm() > 0.0);
  const TrackingReport t = ref.tracking(clock.now());
  CHECK(t.last_offset_s == Approx(3.0));
  CHECK(t.synchronised);
}
