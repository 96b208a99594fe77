// A running estimate of a quantile of a source's round-trip delays, for the
// `maxdelayquant` test: a sample whose delay is above the estimate fails.
//
// The estimate is the empirical quantile of the last kWindow delays of
// synchronised replies (good or not), so it follows a change of path within
// about kWindow polls. Deterministic; no allocation after construction.
#pragma once

#include <array>
#include <cstddef>
#include <optional>

namespace gnomon {

class DelayQuantile {
 public:
  static constexpr std::size_t kWindow = 64;

  // p in (0, 1); values outside are clamped to [0.05, 0.95].
  explicit DelayQuantile(double p = 0.5);

  void set_quantile(double p);
  // Adds the delay of a synchronised reply, s.
  void accumulate(double delay_s);
  // The p-quantile of the delays in the window; nullopt while empty.
  [[nodiscard]] std::optional<double> estimate() const;
  // Whether `delay_s` passes: no estimate yet, or at most the estimate.
  [[nodiscard]] bool passes(double delay_s) const;
  void reset() { used_ = next_ = 0; }

 private:
  double p_ = 0.5;
  std::array<double, kWindow> delays_{};
  std::size_t used_ = 0;
  std::size_t next_ = 0;
};

}  // namespace gnomon
