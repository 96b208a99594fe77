// Source selection (chrony's sources.c): which of the sources we measure are
// trustworthy, which one is the system peer, and which are combined with it.
//
//  1. Exclusions: noselect, too few samples, unsynchronised, stratum out of
//     range, root distance > maxdistance, std dev > maxjitter, stale.
//  2. Intervals offset +/- root distance; a Marzullo sweep finds the deepest
//     overlap. Depth <= n/2 is "no majority" (all marked x); otherwise the
//     sources whose interval contains, or lies in, the best one survive.
//  3. require / minsources, then prefer reduces the survivors.
//  4. Scores: distance = root distance + stratum weight + reselect distance;
//     the current source is replaced only when a rival's score exceeds 10.
//  5. Combining: survivors within combinelimit x the selected distance and
//     with a compatible frequency; offsets weighted by 1/distance, frequencies
//     by 1/sd^2.
// The local clock (LOCL, a candidate of kind Local) takes no part in this: it
// is selected only while no real source is, and the outcome is not a
// transient wait. Orphan mode follows chrony.
//
// Selection changes come back as log events in chrony's words; nothing is
// logged here. Offsets: local minus source, + = we are ahead.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/config.hpp"
#include "lib/source_stats.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

// Selection option bits, as chrony's SRC_SELECT_* (and the selectdata wire).
inline constexpr std::uint8_t kSelectNoselect = 0x1;
inline constexpr std::uint8_t kSelectPrefer = 0x2;
inline constexpr std::uint8_t kSelectTrust = 0x4;
inline constexpr std::uint8_t kSelectRequire = 0x8;

// chrony's per-source selection status. The comment is the selectdata letter.
enum class SelectStatus : std::uint8_t {
  Unselectable,    // N  noselect
  BadStats,        // M  too few samples / no regression yet
  Unsynchronised,  // s  source says LI 3
  BadStratum,      // r
  BadDistance,     // d  root distance > maxdistance
  Jittery,         // ~  std dev > maxjitter
  WaitsStats,      // w  others still collecting samples
  Stale,           // S  unreachable and its samples are older than the others'
  Orphan,          // O  stratum >= orphan stratum
  Untrusted,       // T
  Falseticker,     // x
  WaitsSources,    // W  not enough / required source missing
  NonPreferred,    // P  others have prefer
  WaitsUpdate,     // U
  Distant,         // D  not combined (too far, or LOCL on standby)
  Outlier,         // L
  Unselected,      // +  combined
  Selected,        // *  system peer
  Count,
};

// The selectdata state letter (N M s r d ~ w S O T x W P U D L + *).
[[nodiscard]] char select_status_letter(SelectStatus status);
// The sources-table state (chrony's RPT_*): * + - x ~ ?.
[[nodiscard]] char source_state_char(SelectStatus status);

enum class CandidateKind : std::uint8_t {
  Ntp,       // an NTP server/peer
  Local,     // the local clock LOCL (127.127.1.0 or [local])
  Refclock,  // a reference clock (not orphan-checked)
};

// One source as selection sees it at `now`.
struct SelectionCandidate {
  std::uint32_t id = 0;            // the caller's stable source id
  std::string name;                // for log messages ("192.0.2.1 (ntp.example)")
  CandidateKind kind = CandidateKind::Ntp;
  std::uint32_t refid = 0;         // the source's own refid (our refid if selected)
  // Orphan mode: the refid of our own address as this source sees it; 0 = unknown.
  std::uint32_t our_refid = 0;
  std::uint8_t options = 0;        // kSelect* bits
  std::uint8_t reach = 0;          // reach register
  int reach_size = 0;              // reach updates so far, capped at 8
  int unreachable_run = 0;         // consecutive reach updates with reach == 0
  int max_unreachable_run = 100000;  // chrony's maxunreach
  int stratum = 0;
  Leap leap = Leap::Unsynchronised;
  SelectionData data;              // SourceStats::selection_data(now)
  SourceEstimate estimate;         // SourceStats::estimate()
};

struct SelectionOptions {
  double max_distance_s = 3.0;     // maxdistance
  double max_jitter_s = 1.0;       // maxjitter
  int min_stratum = 0;
  int max_stratum = 15;
  int min_sources = 1;             // minsources
  double reselect_distance_s = 1e-4;  // reselectdist
  double stratum_weight_s = 1e-3;  // stratumweight
  double combine_limit = 3.0;      // combinelimit
  double max_clock_error_ppm = 1.0;   // maxclockerror
  // Orphan mode: NTP sources at or above this stratum are orphans (16 = off).
  int orphan_stratum = 16;
};

enum class SelectionOutcome : std::uint8_t {
  Selected,      // a real source is the system peer
  NoSources,     // no real sources at all
  NoSelectable,  // none passed the exclusions
  NoMajority,    // intersection depth <= n/2
  NotEnough,     // no/too few/no required source among the survivors
  WaitsStats,    // transient: waiting for others' statistics
  WaitsUpdate,   // transient: the best source has no new sample yet
};

// What the reference is updated with (chrony's REF_SetReference arguments).
struct ReferenceInput {
  std::uint32_t source_id = 0;
  std::uint32_t refid = 0;
  std::string name;
  int stratum = 0;                 // the source's; ours is this + 1
  Leap leap = Leap::None;          // majority vote of selectable sources
  int combined = 1;                // sources combined
  TimePoint ref_time{};
  double offset_s = 0.0;           // at ref_time, + = we are ahead
  double offset_sd_s = 0.0;
  double frequency = 0.0;          // s/s, + = we gain on the source
  double frequency_sd = 0.0;       // s/s
  double skew = 0.0;               // s/s
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
};

struct LogEvent {
  LogLevel level = LogLevel::Info;
  std::string text;
};

struct SelectionResult {
  SelectionOutcome outcome = SelectionOutcome::NoSources;
  std::optional<std::uint32_t> selected_id;  // real system peer, if any
  // The selected source has a new sample: update the reference with this.
  bool update_reference = false;
  ReferenceInput reference;
  // chrony's REF_SetUnsynchronised: no majority while a source was selected.
  bool unsynchronise = false;
  // The local clock is the reference now (no real source usable).
  bool local_active = false;
  std::optional<std::uint32_t> local_id;
  // Majority vote of the sources allowed to vote (chrony's get_leap_status).
  Leap leap_vote = Leap::None;
  // Sources that stayed falseticker/too far/jittery/bad stratum 4 updates in
  // a row: candidates for replacement (pool members).
  std::vector<std::uint32_t> bad_sources;
  std::vector<LogEvent> events;
};

// Per-source selection data, for chronyc's selectdata and sources.
struct SelectInfo {
  SelectStatus status = SelectStatus::BadStats;
  std::uint8_t conf_options = 0;
  std::uint8_t eff_options = 0;
  double score = 1.0;
  double lo_limit_s = 0.0;
  double hi_limit_s = 0.0;
  double root_distance_s = 0.0;
  double last_sample_ago_s = 0.0;
  Leap leap = Leap::Unsynchronised;
  bool leap_vote = false;
};

class Selection {
 public:
  explicit Selection(const SelectionOptions& options = {});

  void set_options(const SelectionOptions& options) { options_ = options; }
  [[nodiscard]] const SelectionOptions& options() const { return options_; }

  // Runs the selection over all candidates (every configured source,
  // including LOCL). `updated_id`: the source that just got a new sample, or
  // nullopt when run for another reason (reachability, removal, command).
  [[nodiscard]] SelectionResult select(TimePoint now,
                                       std::span<const SelectionCandidate> candidates,
                                       std::optional<std::uint32_t> updated_id);

  // A source went away (config reload) or was reset (new address).
  void remove(std::uint32_t id);
  void reset(std::uint32_t id);
  // Forget the system peer so the next select() picks afresh (chrony's
  // SRC_ReselectSource).
  void force_reselect();

  [[nodiscard]] std::optional<std::uint32_t> selected_id() const { return selected_; }
  [[nodiscard]] bool local_active() const { return local_active_; }
  // nullptr if the id was never seen.
  [[nodiscard]] const SelectInfo* info(std::uint32_t id) const;

 private:
  struct State {
    SelectInfo info;
    int updates = 0;       // new samples since the last reference update
    int distant = 0;       // updates left before it may be combined again
    int bad = 0;           // consecutive updates with a bad status
    std::array<bool, static_cast<std::size_t>(SelectStatus::Count)> reported{};
  };
  struct Endpoint {
    double offset_s;
    int tag;               // -1 low end, +1 high end
    std::size_t index;     // into the candidate span
  };

  State& state_of(std::uint32_t id);
  void set_status(State& s, std::uint32_t id, SelectStatus status);
  void mark(State& s, const SelectionCandidate& c, SelectStatus status, SelectionResult& out);
  void unselect(SelectionResult& out, LogLevel level, const std::string* message);
  void log(SelectionResult& out, LogLevel level, std::string text);
  int combine(std::span<const SelectionCandidate> cands, const std::vector<std::size_t>& sel,
              std::size_t selected_index, ReferenceInput& ref, SelectionResult& out);
  void finish_local(std::span<const SelectionCandidate> cands, bool transient,
                    SelectionResult& out);

  SelectionOptions options_;
  std::unordered_map<std::uint32_t, State> states_;
  std::optional<std::uint32_t> selected_;
  std::optional<std::uint32_t> last_updated_;
  bool reported_no_majority_ = false;
  bool report_selection_loss_ = false;
  bool forced_first_report_ = false;
  bool local_active_ = true;
  // Scratch space, kept to avoid allocating on every sample.
  std::vector<State*> st_;
  std::vector<bool> ok_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::size_t> sel_;
};

}  // namespace gnomon
