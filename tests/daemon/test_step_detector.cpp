// StepDetector: steps of CLOCK_REALTIME that this process did not make.
#include <catch2/catch.hpp>

#include "daemon/step_detector.hpp"

using namespace gnomon;
using gnomon::daemon::StepDetector;

TEST_CASE("StepDetector reports a jump of realtime against monotonic, not its own steps") {
  StepDetector d;
  TimePoint real = TimePoint::from_seconds(1.7e9);
  Duration mono = Duration::seconds(100);
  Duration own{};
  CHECK_FALSE(d.check(real, mono, own));  // the first reading
  // Both advance together (also while slewed: they share the frequency).
  real = real + Duration::seconds(64);
  mono = mono + Duration::seconds(64);
  CHECK_FALSE(d.check(real, mono, own));
  // Another program steps the clock back by 100 s.
  real = real + Duration::seconds(10) - Duration::seconds(100);
  mono = mono + Duration::seconds(10);
  auto jump = d.check(real, mono, own);
  REQUIRE(jump);
  CHECK(jump->to_seconds() == Approx(-100.0));
  // Our own step of +5 s is not reported.
  own = own + Duration::seconds(5);
  real = real + Duration::seconds(1) + Duration::seconds(5);
  mono = mono + Duration::seconds(1);
  CHECK_FALSE(d.check(real, mono, own));
  // A leap second (1 s back) stays below the threshold; 2 s forward does not.
  real = real + Duration::seconds(1) - Duration::seconds(1);
  mono = mono + Duration::seconds(1);
  CHECK_FALSE(d.check(real, mono, own));
  real = real + Duration::seconds(2);
  jump = d.check(real, mono, own);
  REQUIRE(jump);
  CHECK(jump->to_seconds() == Approx(2.0));
}
