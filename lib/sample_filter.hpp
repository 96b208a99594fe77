// chrony's `filter N` option: the samples of N consecutive polls are reduced
// to one, which is what the source's statistics see. Polls without a good
// sample still count, so one sample comes every N polls.
//
// Reduction: of the samples whose delay is within 1.5x the smallest delay
// (all of them when fewer than 4 are), the one with the median offset (the
// mean of the two middle ones for an even count). Its delay and dispersions
// are the means of those kept; its dispersion is at least the spread of the
// offsets kept.
#pragma once

#include <optional>
#include <vector>

#include "lib/sync_types.hpp"

namespace gnomon {

class SampleFilter {
 public:
  // length <= 1: every sample passes through unchanged.
  explicit SampleFilter(int length = 0);

  [[nodiscard]] bool enabled() const { return length_ > 1; }
  // One poll's outcome: a good sample, or nullopt (no reply, or a rejected
  // one). Returns the reduced sample when the N-th poll is counted and it
  // had at least one good sample.
  [[nodiscard]] std::optional<NtpSample> accumulate(const std::optional<NtpSample>& sample);
  // Drops what was gathered (address change, clock step).
  void reset();
  // The clock was stepped back by `offset_s` s, or slewed: kept samples
  // follow it (see SourceStats for the same rebasing).
  void on_clock_stepped(Duration offset);
  void on_clock_slewed(TimePoint when, double offset_s, double dfreq);

 private:
  int length_ = 0;
  int polls_ = 0;
  std::vector<NtpSample> samples_;
};

}  // namespace gnomon
