#include "lib/sample_filter.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon {

namespace {
// Samples with a delay within this factor of the smallest are kept.
constexpr double kDelayFactor = 1.5;
// Fewer kept than this: all samples are used.
constexpr std::size_t kMinKept = 4;
// Longest filter: bounds the samples held per source.
constexpr int kMaxLength = 1024;
}  // namespace

SampleFilter::SampleFilter(int length) : length_(std::clamp(length, 0, kMaxLength)) {
  if (enabled()) samples_.reserve(static_cast<std::size_t>(length_));
}

void SampleFilter::reset() {
  polls_ = 0;
  samples_.clear();
}

std::optional<NtpSample> SampleFilter::accumulate(const std::optional<NtpSample>& sample) {
  if (!enabled()) return sample;
  if (sample && std::isfinite(sample->offset_s)) samples_.push_back(*sample);
  if (++polls_ < length_) return std::nullopt;
  std::vector<NtpSample> kept;
  kept.swap(samples_);
  polls_ = 0;
  if (kept.empty()) return std::nullopt;

  const double min_delay =
      std::min_element(kept.begin(), kept.end(), [](const NtpSample& a, const NtpSample& b) {
        return a.peer_delay_s < b.peer_delay_s;
      })->peer_delay_s;
  std::vector<NtpSample> near;
  for (const NtpSample& s : kept)
    if (s.peer_delay_s <= kDelayFactor * min_delay) near.push_back(s);
  if (near.size() < kMinKept) near = kept;
  std::sort(near.begin(), near.end(),
            [](const NtpSample& a, const NtpSample& b) { return a.offset_s < b.offset_s; });
  const std::size_t n = near.size();
  const std::size_t lo = (n - 1) / 2;
  const std::size_t hi = n / 2;

  NtpSample out = near[hi];  // stratum and leap of a recent middle sample
  const double w = lo == hi ? 1.0 : 0.5;
  out.offset_s = lo == hi ? near[lo].offset_s : 0.5 * (near[lo].offset_s + near[hi].offset_s);
  out.time = lo == hi ? near[lo].time : near[lo].time + Duration{(near[hi].time - near[lo].time).ns / 2};
  double delay = 0.0, peer_disp = 0.0, root_delay = 0.0, root_disp = 0.0;
  for (std::size_t i = lo; i <= hi; ++i) {
    delay += w * near[i].peer_delay_s;
    peer_disp += w * near[i].peer_dispersion_s;
    root_delay += w * near[i].root_delay_s;
    root_disp += w * near[i].root_dispersion_s;
  }
  // The spread of the offsets kept bounds how well the median is known.
  double mean = 0.0;
  for (const NtpSample& s : near) mean += s.offset_s;
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (const NtpSample& s : near) var += (s.offset_s - mean) * (s.offset_s - mean);
  const double spread = n > 1 ? std::sqrt(var / static_cast<double>(n - 1)) : 0.0;
  out.peer_delay_s = delay;
  out.peer_dispersion_s = std::max(peer_disp, spread);
  out.root_delay_s = root_delay;
  out.root_dispersion_s = std::max(root_disp, spread);
  return out;
}

void SampleFilter::on_clock_stepped(Duration offset) {
  on_clock_slewed(TimePoint{}, offset.to_seconds(), 0.0);
}

void SampleFilter::on_clock_slewed(TimePoint when, double offset_s, double dfreq) {
  if (!std::isfinite(offset_s) || !std::isfinite(dfreq) || std::fabs(dfreq) >= 0.5) return;
  for (NtpSample& s : samples_) {
    const double delta = (when - s.time).to_seconds() * dfreq - offset_s;
    s.offset_s += delta;
    s.time = s.time + Duration::from_seconds(delta);
  }
}

}  // namespace gnomon
