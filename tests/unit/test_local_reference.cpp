// lib/local_reference.hpp: chronyd's local reference activation (distance,
// activate, waitsynced, waitunsynced) and its reference time.
#include <catch2/catch.hpp>

#include "lib/local_reference.hpp"

using namespace gnomon;

namespace {

const TimePoint kT0 = TimePoint::from_seconds(1.7e9);

LocalConfig local(double distance_s = 1.0) {
  LocalConfig l;
  l.enabled = true;
  l.distance_s = distance_s;
  return l;
}

LocalInputs synced(double distance_s, double since_update_s = 0.0) {
  LocalInputs in;
  in.synchronised = true;
  in.root_distance_s = distance_s;
  in.since_update_s = since_update_s;
  in.since_unsynchronised_s = 1e9;
  return in;
}

LocalInputs unsynced(double since_s) {
  LocalInputs in;
  in.since_unsynchronised_s = since_s;
  return in;
}

}  // namespace

TEST_CASE("local activation: distance", "[local]") {
  LocalActivation a;
  CHECK(a.decide(local(), synced(0.5)) == LocalDecision::Source);
  CHECK(a.decide(local(), synced(1.5)) == LocalDecision::Local);
  CHECK(a.decide(local(2.0), synced(1.5)) == LocalDecision::Source);
  CHECK(a.decide(local(), unsynced(0.0)) == LocalDecision::Local);
  // distance 0: any synchronised distance is over it.
  CHECK(a.decide(local(0.0), synced(1e-6)) == LocalDecision::Local);
  // Without a local reference: the source, or nothing.
  LocalConfig off;
  CHECK(a.decide(off, synced(5.0)) == LocalDecision::Source);
  CHECK(a.decide(off, unsynced(1e6)) == LocalDecision::Unsynchronised);
}

TEST_CASE("local activation: activate waits for a distance below it once", "[local]") {
  LocalConfig l = local();
  l.activate_s = 0.1;
  LocalActivation a;
  CHECK(a.decide(l, unsynced(1e6)) == LocalDecision::Unsynchronised);  // never synchronised
  CHECK(a.decide(l, synced(0.5)) == LocalDecision::Source);            // not below 0.1
  CHECK(a.decide(l, synced(1.5)) == LocalDecision::Source);            // over distance, not activated
  CHECK_FALSE(a.activated());
  CHECK(a.decide(l, synced(0.05)) == LocalDecision::Source);
  CHECK(a.activated());
  CHECK(a.decide(l, synced(1.5)) == LocalDecision::Local);
  CHECK(a.decide(l, unsynced(0.0)) == LocalDecision::Local);
}

TEST_CASE("local activation: waitsynced and waitunsynced", "[local]") {
  LocalConfig l = local(0.0);
  l.wait_synced_s = 150.0;
  l.wait_unsynced_s = 20.0;
  LocalActivation a;
  CHECK(a.decide(l, synced(0.01, 100.0)) == LocalDecision::Source);
  CHECK(a.decide(l, synced(0.01, 150.0)) == LocalDecision::Local);
  CHECK(a.decide(l, unsynced(19.0)) == LocalDecision::Unsynchronised);
  CHECK(a.decide(l, unsynced(20.0)) == LocalDecision::Local);
  // chrony's default waitunsynced: 300 s with orphan, else 0.
  LocalConfig o = local();
  CHECK(o.effective_wait_unsynced_s() == 0.0);
  o.orphan = true;
  CHECK(o.effective_wait_unsynced_s() == 300.0);
  CHECK(a.decide(o, unsynced(299.0)) == LocalDecision::Unsynchronised);
  CHECK(a.decide(o, unsynced(300.0)) == LocalDecision::Local);
  o.wait_unsynced_s = 0.0;
  CHECK(a.decide(o, unsynced(0.0)) == LocalDecision::Local);
}

TEST_CASE("local activation: when the decision changes by itself", "[local]") {
  LocalActivation a;
  LocalConfig l = local();
  // 0.5 s of distance to go at 1 ms/s: 500 s.
  CHECK(a.change_in_s(l, synced(0.5), 1e-3).value() == Approx(500.0));
  CHECK_FALSE(a.change_in_s(l, synced(1.5), 1e-3));  // already local
  CHECK_FALSE(a.change_in_s(l, synced(0.5), 0.0));   // never grows
  l.wait_synced_s = 800.0;
  CHECK(a.change_in_s(l, synced(0.5, 100.0), 1e-3).value() == Approx(700.0));
  l.wait_unsynced_s = 30.0;
  CHECK(a.change_in_s(l, unsynced(10.0), 1e-3).value() == Approx(20.0));
  CHECK_FALSE(a.change_in_s(l, unsynced(40.0), 1e-3));
  l.activate_s = 0.1;  // not activated: nothing changes by itself
  CHECK_FALSE(a.change_in_s(l, unsynced(10.0), 1e-3));
  CHECK_FALSE(a.change_in_s(LocalConfig{}, unsynced(10.0), 1e-3));
}

TEST_CASE("local reference time: 1..2 s before now, kept while 1..64 s old", "[local]") {
  const TimePoint first = next_local_reference_time(std::nullopt, kT0, 0x1234);
  CHECK(first <= kT0 - Duration::seconds(1));
  CHECK(first > kT0 - Duration::seconds(2));
  CHECK(next_local_reference_time(first, kT0 + Duration::seconds(30), 0x1234) == first);
  const TimePoint later = kT0 + Duration::seconds(70);
  const TimePoint moved = next_local_reference_time(first, later, 0x1234);
  CHECK(moved <= later - Duration::seconds(1));
  CHECK(moved > later - Duration::seconds(2));
  // The clock went back: a reference time less than 1 s old moves too.
  const TimePoint back = next_local_reference_time(first, first, 0x1234);
  CHECK(back < first);

  const ServedState s = local_served_state(5, first, -20);
  CHECK(s.stratum == 5);
  CHECK(s.refid == kLocalRefid);
  CHECK(s.reference_time == first);
  CHECK(s.leap == Leap::None);
  CHECK(s.root_delay_s == 0.0);
  CHECK(s.root_dispersion_s == 0.0);
  CHECK(local_served_state(16, first, -20).stratum == 15);
}
