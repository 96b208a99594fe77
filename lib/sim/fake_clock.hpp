// FakeClock: a simulated system clock, implementing ClockControl over the
// simulator's TRUE time (seconds since the start of the run, a double).
//
// Model, as in chrony's clknetsim:
// - the oscillator gains `freq_error_ppm` (+ = runs fast), plus a random
//   walk: once per true second the frequency error changes by
//   wander_ppm * N(0, 1) (1 ppb/s = wander_ppm 1e-3);
// - corrections scale the oscillator's rate as a kernel does: the clock runs
//   at (1 + e)(1 - c - s) per true second, e the oscillator's error, c the
//   frequency correction (set_frequency_ppm, lib/clock.hpp's sign) and s the
//   extra rate of a running slew. So a perfect correction is c = e/(1 + e),
//   not e: 0.01 ppm less at 100 ppm;
// - a slew runs until the pending amount is gone, at the rate asked
//   (|pending| / correction time) bounded by the caller's max rate and the
//   clock's own (maxslewrate);
// - a step moves the clock at once.
// Every call that changes the clock is logged, for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lib/clock.hpp"
#include "lib/sim/sim_random.hpp"

namespace gnomon::sim {

// Unix time of true time 0: 2025-01-01T00:00:00Z.
inline constexpr TimePoint kSimEpoch{1735689600LL * kNsPerS};

struct FakeClockConfig {
  double initial_offset_s = 0.0;    // clock minus true time at true time 0
  double freq_error_ppm = 0.0;      // uncorrected rate error, + = gains time
  double wander_ppm = 0.0;          // sigma of the per-second frequency step, ppm
  double max_slew_rate_ppm = 83333.333;
  bool can_step = true;             // step_offset() returns false when not
  std::uint64_t seed = 1;
  TimePoint epoch = kSimEpoch;
};

struct ClockAdjustment {
  enum class Kind : std::uint8_t { Frequency, Slew, Step, Leap, SyncStatus };
  Kind kind = Kind::Frequency;
  double true_s = 0.0;              // when it was asked for
  double value = 0.0;               // Frequency: ppm; Slew/Step: offset s; SyncStatus: max error s
  double correction_time_s = 0.0;   // Slew only
  double max_rate_ppm = 0.0;        // Slew only
  Leap leap = Leap::None;           // Leap only
  bool accepted = true;             // Step: whether it was made; SyncStatus: synchronised
};

class FakeClock final : public ClockControl {
 public:
  explicit FakeClock(const FakeClockConfig& config);

  // Moves true time forward to true_s (never backwards).
  void advance_to(double true_s);
  void advance(Duration d) { advance_to(true_s_ + d.to_seconds()); }

  // --- What the simulator scores (not visible to the code under test).
  [[nodiscard]] double true_time_s() const { return true_s_; }
  [[nodiscard]] TimePoint true_now() const;
  // Clock minus true time, s (+ = ahead).
  [[nodiscard]] double true_offset_s() const { return offset_s_; }
  // Rate error of the clock as it runs now, ppm (+ = gaining), including the
  // extra rate of a running slew: what clknetsim logs as the frequency.
  [[nodiscard]] double true_frequency_error_ppm() const;
  // The same without the slew.
  [[nodiscard]] double residual_frequency_ppm() const;
  // The uncorrected rate error now (what set_frequency_ppm should track).
  [[nodiscard]] double uncorrected_frequency_ppm() const { return uncorrected_ppm_; }
  [[nodiscard]] const std::vector<ClockAdjustment>& adjustments() const { return log_; }
  [[nodiscard]] std::size_t count(ClockAdjustment::Kind kind) const;
  [[nodiscard]] Leap leap() const { return leap_; }
  // Simulates an outside step of the clock (another program, a VM pause).
  void disturb(double offset_s) { offset_s_ += offset_s; }

  // --- ClockControl
  [[nodiscard]] TimePoint now() override;
  [[nodiscard]] double frequency_ppm() const override { return correction_ppm_; }
  void set_frequency_ppm(double freq_ppm) override;
  void slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) override;
  [[nodiscard]] Duration remaining_slew() override;
  [[nodiscard]] bool step_offset(Duration offset) override;
  void set_leap(Leap leap) override;
  void set_sync_status(bool synchronised, double est_error_s, double max_error_s) override;

 private:
  // Integrates the clock from true_s_ over dt_s at constant rates.
  void integrate(double dt_s);

  FakeClockConfig config_;
  SimRandom random_;
  double true_s_ = 0.0;
  double next_wander_s_ = 1.0;      // next whole true second
  double offset_s_;                 // clock minus true time
  double uncorrected_ppm_;
  double correction_ppm_ = 0.0;
  double slew_pending_s_ = 0.0;     // + = clock still ahead of where slews want it
  double slew_rate_ = 0.0;          // s/s, >= 0
  Leap leap_ = Leap::None;
  std::vector<ClockAdjustment> log_;
};

}  // namespace gnomon::sim
