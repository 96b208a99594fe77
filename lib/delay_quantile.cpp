#include "lib/delay_quantile.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon {

namespace {
constexpr double kMinQuantile = 0.05;
constexpr double kMaxQuantile = 0.95;
}  // namespace

DelayQuantile::DelayQuantile(double p) { set_quantile(p); }

void DelayQuantile::set_quantile(double p) {
  p_ = std::isfinite(p) ? std::clamp(p, kMinQuantile, kMaxQuantile) : 0.5;
}

void DelayQuantile::accumulate(double delay_s) {
  if (!std::isfinite(delay_s)) return;
  delays_[next_] = delay_s;
  next_ = (next_ + 1) % kWindow;
  used_ = std::min(used_ + 1, kWindow);
}

std::optional<double> DelayQuantile::estimate() const {
  if (used_ == 0) return std::nullopt;
  std::array<double, kWindow> sorted = delays_;
  const auto end = sorted.begin() + static_cast<std::ptrdiff_t>(used_);
  // The k-th smallest of n with k = ceil(p n): at most a fraction p lies below it.
  const auto k = static_cast<std::size_t>(std::max(1.0, std::ceil(p_ * static_cast<double>(used_)))) - 1;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), end);
  return sorted[k];
}

bool DelayQuantile::passes(double delay_s) const {
  const std::optional<double> q = estimate();
  return !q || delay_s <= *q;
}

}  // namespace gnomon
