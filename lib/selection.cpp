#include "lib/selection.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace gnomon {

namespace {

// A rival must score this much better to replace the system peer.
constexpr double kScoreLimit = 10.0;
// Updates a source stays out of combining after it was found too distant.
constexpr int kDistantPenalty = 32;
// Updates with a bad status before a source is handed back for replacement.
constexpr int kBadHandleThreshold = 4;
constexpr int kReachBitsCount = 8;
// Floors that keep weights finite with degenerate statistics.
constexpr double kMinDistanceS = 1e-12;
constexpr double kMinFrequencySd = 1e-15;

constexpr std::size_t idx(SelectStatus s) { return static_cast<std::size_t>(s); }

bool is_bad_status(SelectStatus s) {
  return s == SelectStatus::Falseticker || s == SelectStatus::BadDistance ||
         s == SelectStatus::BadStratum || s == SelectStatus::Jittery;
}

__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  char buf[320];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf);
}

}  // namespace

char select_status_letter(SelectStatus status) {
  switch (status) {
    case SelectStatus::Unselectable: return 'N';
    case SelectStatus::BadStats: return 'M';
    case SelectStatus::Unsynchronised: return 's';
    case SelectStatus::BadStratum: return 'r';
    case SelectStatus::BadDistance: return 'd';
    case SelectStatus::Jittery: return '~';
    case SelectStatus::WaitsStats: return 'w';
    case SelectStatus::Stale: return 'S';
    case SelectStatus::Orphan: return 'O';
    case SelectStatus::Untrusted: return 'T';
    case SelectStatus::Falseticker: return 'x';
    case SelectStatus::WaitsSources: return 'W';
    case SelectStatus::NonPreferred: return 'P';
    case SelectStatus::WaitsUpdate: return 'U';
    case SelectStatus::Distant: return 'D';
    case SelectStatus::Outlier: return 'L';
    case SelectStatus::Unselected: return '+';
    case SelectStatus::Selected: return '*';
    case SelectStatus::Count: break;
  }
  return '?';
}

char source_state_char(SelectStatus status) {
  switch (status) {
    case SelectStatus::Falseticker: return 'x';
    case SelectStatus::Jittery: return '~';
    case SelectStatus::WaitsSources:
    case SelectStatus::NonPreferred:
    case SelectStatus::WaitsUpdate:
    case SelectStatus::Distant:
    case SelectStatus::Outlier: return '-';
    case SelectStatus::Unselected: return '+';
    case SelectStatus::Selected: return '*';
    default: return '?';
  }
}

Selection::Selection(const SelectionOptions& options) : options_(options) {}

Selection::State& Selection::state_of(std::uint32_t id) { return states_[id]; }

const SelectInfo* Selection::info(std::uint32_t id) const {
  auto it = states_.find(id);
  return it == states_.end() ? nullptr : &it->second.info;
}

void Selection::remove(std::uint32_t id) {
  states_.erase(id);
  if (last_updated_ == id) last_updated_.reset();
  if (selected_ == id) {
    selected_.reset();
    report_selection_loss_ = true;
  }
}

void Selection::reset(std::uint32_t id) {
  auto it = states_.find(id);
  if (it == states_.end()) return;
  it->second = State{};
}

void Selection::force_reselect() {
  if (selected_) {
    selected_.reset();
    report_selection_loss_ = true;
  }
}

void Selection::log(SelectionResult& out, LogLevel level, std::string text) {
  out.events.push_back(LogEvent{level, std::move(text)});
}

void Selection::set_status(State& s, std::uint32_t id, SelectStatus status) {
  s.info.status = status;
  // Bad-source counting follows the source that just got a sample.
  if (last_updated_ == id) {
    if (is_bad_status(status)) {
      ++s.bad;
    } else {
      s.bad = 0;
    }
  }
}

void Selection::mark(State& s, const SelectionCandidate& c, SelectStatus status,
                     SelectionResult& out) {
  set_status(s, c.id, status);
  if (last_updated_ == c.id && s.bad >= kBadHandleThreshold) out.bad_sources.push_back(c.id);
  if (s.reported[idx(status)]) return;
  std::string text;
  LogLevel level = LogLevel::Warn;
  switch (status) {
    case SelectStatus::BadStratum:
      if (s.bad < kBadHandleThreshold) return;
      text = format("Stratum of %s %sstratum of %d", c.name.c_str(),
                    c.stratum < options_.min_stratum ? "below min" : "above max",
                    c.stratum < options_.min_stratum ? options_.min_stratum
                                                     : options_.max_stratum);
      break;
    case SelectStatus::BadDistance:
      if (s.bad < kBadHandleThreshold) return;
      text = format("Root distance of %s exceeds maxdistance of %.3f seconds", c.name.c_str(),
                    options_.max_distance_s);
      break;
    case SelectStatus::Jittery:
      if (s.bad < kBadHandleThreshold) return;
      text = format("Jitter of %s exceeds maxjitter of %.3f seconds", c.name.c_str(),
                    options_.max_jitter_s);
      break;
    case SelectStatus::Falseticker:
      text = "Detected falseticker " + c.name;
      break;
    case SelectStatus::Selected:
      text = "Selected source " + c.name;
      level = LogLevel::Info;
      break;
    default:
      return;
  }
  log(out, level, std::move(text));
  s.reported[idx(status)] = true;
}

void Selection::unselect(SelectionResult& out, LogLevel level, const std::string* message) {
  if (selected_) {
    selected_.reset();
    report_selection_loss_ = true;
  }
  if (report_selection_loss_ && message != nullptr) {
    log(out, level, *message);
    report_selection_loss_ = false;
  }
}

void Selection::finish_local(std::span<const SelectionCandidate> cands, bool transient,
                             SelectionResult& out) {
  const bool real_selected = selected_.has_value();
  if (real_selected) {
    local_active_ = false;
  } else if (!transient) {
    local_active_ = true;
  }
  out.selected_id = selected_;
  for (const auto& c : cands) {
    if (c.kind != CandidateKind::Local) continue;
    State& s = state_of(c.id);
    s.info.conf_options = c.options;
    s.info.eff_options = c.options;
    s.info.leap = Leap::None;
    s.info.leap_vote = false;
    s.info.score = 1.0;
    s.info.lo_limit_s = 0.0;
    s.info.hi_limit_s = 0.0;
    s.info.root_distance_s = 0.0;
    s.info.last_sample_ago_s = 0.0;
    if (local_active_ && !real_selected && !out.local_id && !(c.options & kSelectNoselect)) {
      if (s.info.status != SelectStatus::Selected) log(out, LogLevel::Info, "Selected source " + c.name);
      s.info.status = SelectStatus::Selected;
      out.local_active = true;
      out.local_id = c.id;
    } else {
      s.info.status = (c.options & kSelectNoselect) ? SelectStatus::Unselectable
                                                    : SelectStatus::Distant;
    }
  }
}

SelectionResult Selection::select(TimePoint now, std::span<const SelectionCandidate> cands,
                                  std::optional<std::uint32_t> updated_id) {
  SelectionResult out;
  const std::size_t n = cands.size();
  const std::size_t npos = n;

  if (updated_id) {
    ++state_of(*updated_id).updates;
    last_updated_ = updated_id;
  }

  st_.assign(n, nullptr);
  ok_.assign(n, false);
  std::size_t n_real = 0;
  std::size_t selected_index = npos;
  for (std::size_t i = 0; i < n; ++i) {
    st_[i] = &state_of(cands[i].id);
    if (cands[i].kind == CandidateKind::Local) continue;
    ++n_real;
    if (selected_ == cands[i].id) selected_index = i;
  }
  // A system peer that is no longer among the candidates is lost.
  if (selected_ && selected_index == npos) {
    selected_.reset();
    report_selection_loss_ = true;
  }

  if (n_real == 0) {
    const std::string msg = "Can't synchronise: no sources";
    unselect(out, LogLevel::Warn, &msg);
    out.outcome = SelectionOutcome::NoSources;
    finish_local(cands, false, out);
    return out;
  }

  // Step 1: exclusions and intervals.
  bool sel_req_source = false;
  int n_badstats = 0;
  int n_unreach = 0;
  int max_badstat_reach = 0, max_badstat_reach_size = 0;
  int max_sel_reach = 0, max_sel_reach_size = 0;
  double max_reach_sample_ago = 0.0;
  const double max_clock_error = options_.max_clock_error_ppm * 1e-6;

  for (std::size_t i = 0; i < n; ++i) {
    const SelectionCandidate& c = cands[i];
    if (c.kind == CandidateKind::Local) continue;
    State& s = *st_[i];
    SelectInfo& si = s.info;
    si.leap_vote = false;
    si.leap = c.leap;
    si.conf_options = c.options;
    si.eff_options = c.options;
    if (c.options & kSelectRequire) sel_req_source = true;
    if (c.options & kSelectNoselect) {
      mark(s, c, SelectStatus::Unselectable, out);
      continue;
    }
    if (c.reach == 0) ++n_unreach;

    if (c.data.samples > 0) {
      si.lo_limit_s = c.data.lo_limit_s;
      si.hi_limit_s = c.data.hi_limit_s;
      si.root_distance_s = c.data.root_distance_s;
      si.last_sample_ago_s = c.data.last_sample_ago_s;
    }
    if (!c.data.select_ok) {
      ++n_badstats;
      mark(s, c, SelectStatus::BadStats, out);
      max_badstat_reach = std::max<int>(max_badstat_reach, c.reach);
      max_badstat_reach_size = std::max(max_badstat_reach_size, c.reach_size);
      continue;
    }
    if (c.leap == Leap::Unsynchronised) {
      mark(s, c, SelectStatus::Unsynchronised, out);
      continue;
    }
    if (c.stratum < options_.min_stratum || c.stratum > options_.max_stratum) {
      mark(s, c, SelectStatus::BadStratum, out);
      continue;
    }
    // Sources without new samples get extra dispersion for the time since
    // their last one, beyond the span of their samples.
    const double first_ago = c.data.first_sample_ago_s;
    const double last_ago = c.data.last_sample_ago_s;
    if (first_ago < 2.0 * last_ago) {
      const double extra = max_clock_error * (2.0 * last_ago - first_ago);
      si.root_distance_s += extra;
      si.lo_limit_s -= extra;
      si.hi_limit_s += extra;
    }
    if (!(si.root_distance_s <= options_.max_distance_s && si.lo_limit_s <= si.hi_limit_s)) {
      mark(s, c, SelectStatus::BadDistance, out);
      continue;
    }
    if (!(c.data.std_dev_s <= options_.max_jitter_s)) {
      mark(s, c, SelectStatus::Jittery, out);
      continue;
    }
    ok_[i] = true;
    if (c.reach != 0 && max_reach_sample_ago < first_ago) max_reach_sample_ago = first_ago;
    max_sel_reach = std::max<int>(max_sel_reach, c.reach);
    max_sel_reach_size = std::max(max_sel_reach_size, c.reach_size);
  }

  // Step 2: stale sources and orphans.
  std::size_t n_sel = 0;
  std::size_t orphan = npos;
  for (std::size_t i = 0; i < n; ++i) {
    if (!ok_[i]) continue;
    const SelectionCandidate& c = cands[i];
    State& s = *st_[i];
    if (c.reach == 0 && (s.info.last_sample_ago_s > max_reach_sample_ago ||
                         c.unreachable_run > c.max_unreachable_run)) {
      ok_[i] = false;
      mark(s, c, SelectStatus::Stale, out);
      continue;
    }
    if (c.stratum >= options_.orphan_stratum && c.kind == CandidateKind::Ntp) {
      ok_[i] = false;
      mark(s, c, SelectStatus::Orphan, out);
      if (c.stratum == options_.orphan_stratum && c.reach != 0 &&
          (orphan == npos || c.refid < cands[orphan].refid))
        orphan = i;
      continue;
    }
    ++n_sel;
  }
  if (n_sel == 0 && orphan != npos) {
    const SelectionCandidate& c = cands[orphan];
    if (c.our_refid == 0) {
      log(out, LogLevel::Error, "Unknown local refid in orphan mode");
    } else if (c.refid < c.our_refid) {
      ok_[orphan] = true;
      n_sel = 1;
    }
  }

  endpoints_.clear();
  std::size_t n_sel_trust = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!ok_[i]) continue;
    if (cands[i].options & kSelectTrust) ++n_sel_trust;
    endpoints_.push_back(Endpoint{st_[i]->info.lo_limit_s, -1, i});
    endpoints_.push_back(Endpoint{st_[i]->info.hi_limit_s, +1, i});
  }

  auto mark_ok_sources = [&](SelectStatus status) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!ok_[i]) continue;
      set_status(*st_[i], cands[i].id, status);
      ok_[i] = false;
    }
  };

  // Wait for sources still collecting samples at the same pace as the ones
  // that are ready, so that the first selection sees them all.
  if (n_badstats > 0 && n_sel > 0 && !selected_ && max_sel_reach_size < kReachBitsCount &&
      (max_sel_reach >> 1) == max_badstat_reach) {
    mark_ok_sources(SelectStatus::WaitsStats);
    unselect(out, LogLevel::Info, nullptr);
    out.outcome = SelectionOutcome::WaitsStats;
    finish_local(cands, true, out);
    return out;
  }

  // Allow one failed selection to be logged before the first success.
  if (!forced_first_report_ &&
      std::max(max_sel_reach_size, max_badstat_reach_size) == kReachBitsCount) {
    report_selection_loss_ = true;
    forced_first_report_ = true;
  }

  if (endpoints_.empty()) {
    const std::string msg =
        format("Can't synchronise: no selectable sources (%d unreachable sources)", n_unreach);
    unselect(out, LogLevel::Warn, &msg);
    out.outcome = SelectionOutcome::NoSelectable;
    finish_local(cands, false, out);
    return out;
  }

  // Step 3: the deepest overlap (Marzullo), trusted sources first.
  std::sort(endpoints_.begin(), endpoints_.end(), [](const Endpoint& a, const Endpoint& b) {
    if (a.offset_s != b.offset_s) return a.offset_s < b.offset_s;
    return a.tag < b.tag;
  });
  int depth = 0, best_depth = 0, trust_depth = 0, best_trust_depth = 0;
  double best_lo = 0.0, best_hi = 0.0, best_trust_lo = 0.0, best_trust_hi = 0.0;
  for (const Endpoint& e : endpoints_) {
    const bool trusted = (cands[e.index].options & kSelectTrust) != 0;
    if (e.tag < 0) {
      ++depth;
      if (trusted) ++trust_depth;
      if (trust_depth > best_trust_depth ||
          (trust_depth == best_trust_depth && depth > best_depth)) {
        if (trust_depth > best_trust_depth) {
          best_trust_depth = trust_depth;
          best_trust_lo = e.offset_s;
        }
        best_depth = depth;
        best_lo = e.offset_s;
      }
    } else {
      if (trust_depth == best_trust_depth) {
        if (depth == best_depth) best_hi = e.offset_s;
        best_trust_hi = e.offset_s;
      }
      if (trusted) --trust_depth;
      --depth;
    }
  }
  if (best_trust_depth > 0) {
    best_depth = best_trust_depth;
    n_sel = n_sel_trust;
  }

  if (static_cast<std::size_t>(best_depth) <= n_sel / 2) {
    if (!reported_no_majority_) {
      const char* trusted = best_trust_depth > 0 ? "trusted " : "";
      if (best_depth < 2) {
        log(out, LogLevel::Warn,
            format("Can't synchronise: no majority (no agreement among %zu %ssources)", n_sel,
                   trusted));
      } else {
        log(out, LogLevel::Warn,
            format("Can't synchronise: no majority (only %d of %zu %ssources agree)", best_depth,
                   n_sel, trusted));
      }
      reported_no_majority_ = true;
      report_selection_loss_ = false;
    }
    if (selected_) {
      out.unsynchronise = true;
      selected_.reset();
    }
    mark_ok_sources(SelectStatus::Falseticker);
    out.outcome = SelectionOutcome::NoMajority;
    finish_local(cands, false, out);
    return out;
  }

  // The survivors: intervals that contain, or lie within, the best one.
  sel_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    if (!ok_[i]) continue;
    const SelectionCandidate& c = cands[i];
    State& s = *st_[i];
    const double lo = s.info.lo_limit_s;
    const double hi = s.info.hi_limit_s;
    if ((lo <= best_lo && hi >= best_hi) || (lo >= best_lo && hi <= best_hi)) {
      if (!(best_trust_depth == 0 || (c.options & kSelectTrust) ||
            (lo >= best_trust_lo && hi <= best_trust_hi))) {
        ok_[i] = false;
        mark(s, c, SelectStatus::Untrusted, out);
        continue;
      }
      sel_.push_back(i);
      if (c.options & kSelectRequire) sel_req_source = false;
    } else {
      ok_[i] = false;
      mark(s, c, SelectStatus::Falseticker, out);
    }
  }

  if (sel_.empty() || sel_req_source ||
      static_cast<int>(sel_.size()) < options_.min_sources) {
    const std::string msg = format("Can't synchronise: %s selectable sources",
                                   sel_.empty()     ? "no"
                                   : sel_req_source ? "no required source in"
                                                    : "not enough");
    unselect(out, LogLevel::Warn, &msg);
    mark_ok_sources(SelectStatus::WaitsSources);
    out.outcome = SelectionOutcome::NotEnough;
    finish_local(cands, false, out);
    return out;
  }

  for (std::size_t i : sel_) {
    if (best_trust_depth > 0 && !(cands[i].options & kSelectTrust)) continue;
    st_[i]->info.leap_vote = true;
  }

  // Step 4: prefer.
  const bool sel_prefer = std::any_of(sel_.begin(), sel_.end(), [&](std::size_t i) {
    return (cands[i].options & kSelectPrefer) != 0;
  });
  if (sel_prefer) {
    std::size_t j = 0;
    for (std::size_t i : sel_) {
      if (!(cands[i].options & kSelectPrefer)) {
        ok_[i] = false;
        mark(*st_[i], cands[i], SelectStatus::NonPreferred, out);
      } else {
        sel_[j++] = i;
      }
    }
    sel_.resize(j);
  }

  int min_sel_stratum = cands[sel_[0]].stratum;
  for (std::size_t i : sel_) min_sel_stratum = std::min(min_sel_stratum, cands[i].stratum);

  // Step 5: scores against the current system peer.
  std::size_t max_score_index = npos;
  double max_score = 0.0;
  double sel_src_distance = 0.0;
  if (selected_index != npos) {
    sel_src_distance = st_[selected_index]->info.root_distance_s +
                       (cands[selected_index].stratum - min_sel_stratum) * options_.stratum_weight_s;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const SelectionCandidate& c = cands[i];
    if (c.kind == CandidateKind::Local) continue;
    State& s = *st_[i];
    if (!ok_[i]) {
      s.info.score = 1.0;
      s.distant = kDistantPenalty;
      continue;
    }
    double distance = s.info.root_distance_s +
                      (c.stratum - min_sel_stratum) * options_.stratum_weight_s;
    if (c.kind == CandidateKind::Ntp) distance += options_.reselect_distance_s;
    distance = std::max(distance, kMinDistanceS);
    if (selected_index != npos) {
      if (updated_id == c.id || updated_id == selected_) {
        s.info.score *= sel_src_distance / distance;
        if (!(s.info.score >= 1.0)) s.info.score = 1.0;
      }
    } else {
      s.info.score = 1.0 / distance;
    }
    if (max_score < s.info.score) {
      max_score = s.info.score;
      max_score_index = i;
    }
  }
  if (max_score_index == npos) max_score_index = sel_[0];

  if (selected_index == npos || !ok_[selected_index] ||
      (max_score_index != selected_index && max_score > kScoreLimit)) {
    // Wait until the new system peer can update the reference.
    if (st_[max_score_index]->updates == 0) {
      unselect(out, LogLevel::Info, nullptr);
      mark_ok_sources(SelectStatus::WaitsUpdate);
      out.outcome = SelectionOutcome::WaitsUpdate;
      finish_local(cands, true, out);
      return out;
    }
    selected_index = max_score_index;
    selected_ = cands[selected_index].id;
    for (auto& [id, s] : states_) {
      s.info.score = 1.0;
      s.distant = 0;
      s.reported.fill(false);
    }
    reported_no_majority_ = false;
    report_selection_loss_ = false;
    forced_first_report_ = true;
  }

  ok_[selected_index] = false;
  mark(*st_[selected_index], cands[selected_index], SelectStatus::Selected, out);
  out.outcome = SelectionOutcome::Selected;

  if (st_[selected_index]->updates == 0) {
    // No new sample of the system peer: keep the last combining marks.
    for (std::size_t i : sel_) {
      if (!ok_[i]) continue;
      State& s = *st_[i];
      mark(s, cands[i], s.distant ? SelectStatus::Distant : SelectStatus::Unselected, out);
    }
    finish_local(cands, false, out);
    return out;
  }

  for (auto& [id, s] : states_) s.updates = 0;

  // Leap second by majority of the voting sources.
  int votes = 0, ins = 0, del = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!st_[i]->info.leap_vote) continue;
    ++votes;
    if (cands[i].leap == Leap::Insert) ++ins;
    if (cands[i].leap == Leap::Delete) ++del;
  }
  out.leap_vote = ins > votes / 2 ? Leap::Insert : del > votes / 2 ? Leap::Delete : Leap::None;

  const SelectionCandidate& sc = cands[selected_index];
  ReferenceInput& ref = out.reference;
  ref.source_id = sc.id;
  ref.refid = sc.refid;
  ref.name = sc.name;
  ref.stratum = sc.stratum;
  ref.leap = out.leap_vote;
  ref.ref_time = sc.estimate.ref_time;
  ref.offset_s = sc.estimate.offset_s;
  ref.offset_sd_s = sc.estimate.offset_sd_s;
  ref.frequency = sc.estimate.frequency;
  ref.frequency_sd = sc.estimate.frequency_sd;
  ref.skew = sc.estimate.skew;
  ref.root_delay_s = sc.estimate.root_delay_s;
  ref.root_dispersion_s = sc.estimate.root_dispersion_s;
  ref.combined = combine(cands, sel_, selected_index, ref, out);
  out.update_reference = true;
  static_cast<void>(now);
  finish_local(cands, false, out);
  return out;
}

int Selection::combine(std::span<const SelectionCandidate> cands,
                       const std::vector<std::size_t>& sel, std::size_t selected_index,
                       ReferenceInput& ref, SelectionResult& out) {
  if (sel.size() <= 1) return 1;
  const double max_clock_error = options_.max_clock_error_ppm * 1e-6;
  double sel_src_distance = st_[selected_index]->info.root_distance_s;
  if (cands[selected_index].kind == CandidateKind::Ntp)
    sel_src_distance += options_.reselect_distance_s;

  double sum_ow = 0.0, sum_offset = 0.0, sum2_offset_sd = 0.0;
  double sum_fw = 0.0, sum_freq = 0.0, inv_sum2_freq_sd = 0.0, inv_sum2_skew = 0.0;
  int combined = 0;
  for (std::size_t i : sel) {
    const SelectionCandidate& c = cands[i];
    State& s = *st_[i];
    const SourceEstimate& e = c.estimate;
    if (i != selected_index) {
      if (s.info.root_distance_s > options_.combine_limit * sel_src_distance ||
          std::fabs(ref.frequency - e.frequency) >
              options_.combine_limit * (ref.skew + e.skew + max_clock_error)) {
        // A smaller penalty while the source is new.
        s.distant = c.reach_size >= kReachBitsCount ? kDistantPenalty : 1;
      } else if (s.distant > 0) {
        --s.distant;
      }
      if (s.distant > 0) {
        mark(s, c, SelectStatus::Distant, out);
        continue;
      }
      mark(s, c, SelectStatus::Unselected, out);
    }
    const double elapsed_s = (ref.ref_time - e.ref_time).to_seconds();
    const double offset = e.offset_s + elapsed_s * e.frequency;
    const double offset_sd = e.offset_sd_s + elapsed_s * e.frequency_sd;
    const double ow = 1.0 / std::max(s.info.root_distance_s, kMinDistanceS);
    const double fsd = std::max(e.frequency_sd, kMinFrequencySd);
    const double fw = 1.0 / (fsd * fsd);
    const double skew = std::max(e.skew, kMinFrequencySd);
    sum_ow += ow;
    sum_offset += ow * offset;
    sum2_offset_sd += ow * (offset_sd * offset_sd + (offset - ref.offset_s) * (offset - ref.offset_s));
    sum_fw += fw;
    sum_freq += fw * e.frequency;
    inv_sum2_freq_sd += 1.0 / (fsd * fsd);
    inv_sum2_skew += 1.0 / (skew * skew);
    ++combined;
  }
  if (combined == 0 || !(sum_ow > 0.0) || !(sum_fw > 0.0)) return 1;
  ref.offset_s = sum_offset / sum_ow;
  ref.offset_sd_s = std::sqrt(sum2_offset_sd / sum_ow);
  ref.frequency = sum_freq / sum_fw;
  ref.frequency_sd = 1.0 / std::sqrt(inv_sum2_freq_sd);
  ref.skew = 1.0 / std::sqrt(inv_sum2_skew);
  return combined;
}

}  // namespace gnomon
