// Source selection: exclusions, majority and falsetickers, prefer, scores and
// hysteresis, combining, LOCL fallback and orphan mode, with chrony's words.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "lib/selection.hpp"

using namespace gnomon;

namespace {

const TimePoint kNow = TimePoint::from_seconds(1.7e9);

// A good NTP source at `offset_s` with interval half-width `distance_s`.
SelectionCandidate cand(std::uint32_t id, double offset_s, double distance_s = 0.01,
                        int stratum = 2) {
  SelectionCandidate c;
  c.id = id;
  c.name = "192.0.2." + std::to_string(id);
  c.refid = 0xC0000200u + id;
  c.reach = 0377;
  c.reach_size = 8;
  c.stratum = stratum;
  c.leap = Leap::None;
  c.data.select_ok = true;
  c.data.samples = 8;
  c.data.offset_s = offset_s;
  c.data.root_distance_s = distance_s;
  c.data.lo_limit_s = offset_s - distance_s;
  c.data.hi_limit_s = offset_s + distance_s;
  c.data.std_dev_s = 1e-5;
  c.data.first_sample_ago_s = 500.0;
  c.data.last_sample_ago_s = 10.0;
  c.estimate.ref_time = kNow;
  c.estimate.offset_s = offset_s;
  c.estimate.offset_sd_s = 1e-5;
  c.estimate.frequency = 0.0;
  c.estimate.frequency_sd = 1e-8;
  c.estimate.skew = 1e-8;
  c.estimate.root_delay_s = distance_s;
  c.estimate.root_dispersion_s = distance_s / 2;
  c.estimate.samples = 8;
  return c;
}

SelectionCandidate local_cand(std::uint32_t id) {
  SelectionCandidate c;
  c.id = id;
  c.name = "LOCL";
  c.kind = CandidateKind::Local;
  c.stratum = 10;
  c.leap = Leap::None;
  return c;
}

bool has_event(const SelectionResult& r, const std::string& text) {
  return std::any_of(r.events.begin(), r.events.end(),
                     [&](const LogEvent& e) { return e.text == text; });
}

char state(const Selection& s, std::uint32_t id) {
  const SelectInfo* i = s.info(id);
  REQUIRE(i != nullptr);
  return source_state_char(i->status);
}

// Runs selection once per source as if each had just got a sample.
SelectionResult round(Selection& sel, const std::vector<SelectionCandidate>& c) {
  SelectionResult last;
  for (const auto& x : c) {
    if (x.kind == CandidateKind::Local) continue;
    last = sel.select(kNow, c, x.id);
  }
  return last;
}

}  // namespace

TEST_CASE("one good source is selected and updates the reference", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.002)};
  const SelectionResult r = sel.select(kNow, c, 1u);
  CHECK(r.outcome == SelectionOutcome::Selected);
  REQUIRE(r.selected_id == 1u);
  CHECK(r.update_reference);
  CHECK(r.reference.offset_s == Approx(0.002));
  CHECK(r.reference.stratum == 2);
  CHECK(r.reference.refid == 0xC0000201u);
  CHECK(r.reference.combined == 1);
  CHECK(has_event(r, "Selected source 192.0.2.1"));
  CHECK(state(sel, 1) == '*');
  CHECK(select_status_letter(sel.info(1)->status) == '*');

  // The same source again without a new sample: selected, no update, no log.
  const SelectionResult r2 = sel.select(kNow, c, std::nullopt);
  CHECK(r2.selected_id == 1u);
  CHECK_FALSE(r2.update_reference);
  CHECK(r2.events.empty());
}

TEST_CASE("five sources with one or two falsetickers: they are x and sync holds", "[selection]") {
  for (int bad : {1, 2}) {
    Selection sel;
    std::vector<SelectionCandidate> c;
    for (std::uint32_t i = 1; i <= 5; ++i) {
      const bool falseticker = static_cast<int>(i) > 5 - bad;
      // Truechimers agree near 0; falsetickers sit far apart from everybody.
      c.push_back(cand(i, falseticker ? 0.5 * i : 0.0005 * i, 0.01));
    }
    SelectionResult r = round(sel, c);
    CAPTURE(bad);
    CHECK(r.outcome == SelectionOutcome::Selected);
    REQUIRE(r.selected_id);
    CHECK(*r.selected_id <= static_cast<std::uint32_t>(5 - bad));
    for (std::uint32_t i = 1; i <= 5; ++i) {
      const bool falseticker = static_cast<int>(i) > 5 - bad;
      if (falseticker) {
        CHECK(state(sel, i) == 'x');
      } else {
        CHECK(std::string("*+-").find(state(sel, i)) != std::string::npos);
      }
    }
    // The reference is made of truechimers only.
    CHECK(std::fabs(r.reference.offset_s) < 0.005);
  }
}

TEST_CASE("three falsetickers of five: no majority, never following them", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.001), cand(3, 0.5), cand(4, -0.7),
                                    cand(5, 1.2)};
  SelectionResult r;
  std::vector<LogEvent> events;
  for (const auto& x : c) {
    r = sel.select(kNow, c, x.id);
    events.insert(events.end(), r.events.begin(), r.events.end());
    CHECK_FALSE(r.update_reference);
  }
  CHECK(r.outcome == SelectionOutcome::NoMajority);
  CHECK_FALSE(r.selected_id);
  const auto n = std::count_if(events.begin(), events.end(), [](const LogEvent& e) {
    return e.text == "Can't synchronise: no majority (only 2 of 5 sources agree)";
  });
  CHECK(n == 1);  // reported once, not on every update
  for (std::uint32_t i = 1; i <= 5; ++i) CHECK(state(sel, i) == 'x');
}

TEST_CASE("four falsetickers of five: no agreement", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.3), cand(3, 0.6), cand(4, -0.7),
                                    cand(5, 1.2)};
  const SelectionResult r = sel.select(kNow, c, 1u);
  CHECK(r.outcome == SelectionOutcome::NoMajority);
  CHECK(has_event(r, "Can't synchronise: no majority (no agreement among 5 sources)"));
}

TEST_CASE("losing the majority after a selection unsynchronises", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.001), cand(3, 0.002)};
  static_cast<void>(round(sel, c));
  REQUIRE(sel.selected_id());
  c[1] = cand(2, 0.5);
  c[2] = cand(3, -0.5);
  const SelectionResult r = sel.select(kNow, c, 2u);
  CHECK(r.outcome == SelectionOutcome::NoMajority);
  CHECK(r.unsynchronise);
  CHECK_FALSE(sel.selected_id());
  CHECK(has_event(r, "Can't synchronise: no majority (no agreement among 3 sources)"));
}

TEST_CASE("a source whose interval contains the best one survives", "[selection]") {
  Selection sel;
  // 1 and 2 overlap narrowly; 3 is wide and contains their overlap.
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.001), cand(2, 0.0015, 0.001),
                                    cand(3, 0.0, 0.05)};
  static_cast<void>(round(sel, c));
  for (std::uint32_t i = 1; i <= 3; ++i) CHECK(state(sel, i) != 'x');
}

TEST_CASE("exclusions mark sources unusable with chrony's letters", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.0), cand(3, 0.0), cand(4, 0.0),
                                    cand(5, 0.0), cand(6, 0.0), cand(7, 0.0)};
  c[1].options = kSelectNoselect;
  c[2].data.select_ok = false;  // too few samples
  c[3].leap = Leap::Unsynchronised;
  c[4].stratum = 16;
  c[5].data.root_distance_s = 4.0;  // > maxdistance 3 s
  c[6].data.std_dev_s = 2.0;        // > maxjitter 1 s
  // Keep the bad-stats source from holding the first selection back.
  c[2].reach = 0;
  const SelectionResult r = round(sel, c);
  REQUIRE(r.selected_id == 1u);
  CHECK(select_status_letter(sel.info(2)->status) == 'N');
  CHECK(select_status_letter(sel.info(3)->status) == 'M');
  CHECK(select_status_letter(sel.info(4)->status) == 's');
  CHECK(select_status_letter(sel.info(5)->status) == 'r');
  CHECK(select_status_letter(sel.info(6)->status) == 'd');
  CHECK(select_status_letter(sel.info(7)->status) == '~');
  CHECK(state(sel, 2) == '?');
  CHECK(state(sel, 7) == '~');
}

TEST_CASE("root distance above maxdistance is logged after four updates", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.0, 3.5)};
  int logged = 0;
  for (int k = 0; k < 6; ++k) {
    const SelectionResult r = sel.select(kNow, c, 2u);
    if (has_event(r, "Root distance of 192.0.2.2 exceeds maxdistance of 3.000 seconds")) {
      ++logged;
      CHECK(k == 3);
      CHECK(std::find(r.bad_sources.begin(), r.bad_sources.end(), 2u) != r.bad_sources.end());
    }
  }
  CHECK(logged == 1);
}

TEST_CASE("unreachable sources with old samples are stale", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0)};
  REQUIRE(sel.select(kNow, c, 1u).selected_id == 1u);
  c[0].reach = 0;
  const SelectionResult r = sel.select(kNow, c, std::nullopt);
  CHECK(r.outcome == SelectionOutcome::NoSelectable);
  CHECK(select_status_letter(sel.info(1)->status) == 'S');
  CHECK(has_event(r, "Can't synchronise: no selectable sources (1 unreachable sources)"));
}

TEST_CASE("no sources at all", "[selection]") {
  Selection sel;
  const SelectionResult r = sel.select(kNow, {}, std::nullopt);
  CHECK(r.outcome == SelectionOutcome::NoSources);
  CHECK_FALSE(r.selected_id);
}

TEST_CASE("prefer reduces the survivors to the preferred ones", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.001), cand(2, 0.0005, 0.02),
                                    cand(3, 0.0002, 0.002)};
  c[1].options = kSelectPrefer;
  const SelectionResult r = round(sel, c);
  CHECK(r.selected_id == 2u);
  CHECK(select_status_letter(sel.info(1)->status) == 'P');
  CHECK(state(sel, 1) == '-');
  CHECK(state(sel, 3) == '-');
}

TEST_CASE("require: no required source among the survivors", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.001), cand(3, 2.0)};
  c[2].options = kSelectRequire;  // the falseticker is the required one
  c[1].options = 0;
  SelectionResult r = round(sel, c);
  CHECK(r.outcome == SelectionOutcome::NotEnough);
  CHECK_FALSE(r.selected_id);

  c[1].options = kSelectRequire;
  r = round(sel, c);
  CHECK(r.outcome == SelectionOutcome::Selected);
}

TEST_CASE("minsources", "[selection]") {
  SelectionOptions o;
  o.min_sources = 2;
  Selection sel(o);
  std::vector<SelectionCandidate> c{cand(1, 0.0)};
  // Force the loss to be reported (full reach register).
  const SelectionResult r = sel.select(kNow, c, 1u);
  CHECK(r.outcome == SelectionOutcome::NotEnough);
  CHECK(has_event(r, "Can't synchronise: not enough selectable sources"));
  CHECK(state(sel, 1) == '-');
}

TEST_CASE("a better source replaces the system peer only at a score of 10", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01)};
  REQUIRE(sel.select(kNow, c, 1u).selected_id == 1u);
  // Source 2 is about twice as close: its score doubles with each update.
  c.push_back(cand(2, 0.0, 0.005));
  int switched_at = -1;
  for (int k = 1; k <= 8 && switched_at < 0; ++k) {
    const SelectionResult r = sel.select(kNow, c, 2u);
    if (r.selected_id == 2u) {
      switched_at = k;
      CHECK(has_event(r, "Selected source 192.0.2.2"));
    }
  }
  // (0.0101 / 0.0051)^k > 10 first at k = 4.
  CHECK(switched_at == 4);
  // A slightly better rival never replaces it.
  Selection sel2;
  std::vector<SelectionCandidate> d{cand(1, 0.0, 0.01)};
  REQUIRE(sel2.select(kNow, d, 1u).selected_id == 1u);
  d.push_back(cand(2, 0.0, 0.009));
  for (int k = 0; k < 15; ++k) CHECK(sel2.select(kNow, d, 2u).selected_id == 1u);
}

TEST_CASE("stratum penalty in the score", "[selection]") {
  Selection sel;
  // Same distance, stratum 1 and 3: the first selection picks stratum 1.
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.001, 3), cand(2, 0.0, 0.001, 1)};
  const SelectionResult r = round(sel, c);
  CHECK(r.selected_id == 2u);
}

TEST_CASE("combining weights offsets by 1/distance and frequencies by 1/sd^2", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.001, 0.01), cand(2, 0.002, 0.02)};
  c[0].estimate.frequency = 1e-6;
  c[0].estimate.frequency_sd = 1e-8;
  c[1].estimate.frequency = 2e-6;
  c[1].estimate.frequency_sd = 2e-8;
  static_cast<void>(sel.select(kNow, c, 2u));
  const SelectionResult r = sel.select(kNow, c, 1u);
  REQUIRE(r.selected_id == 1u);
  REQUIRE(r.update_reference);
  CHECK(r.reference.combined == 2);
  CHECK(r.reference.offset_s == Approx((100 * 0.001 + 50 * 0.002) / 150.0));
  CHECK(r.reference.frequency == Approx((1e16 * 1e-6 + 2.5e15 * 2e-6) / 1.25e16));
  CHECK(r.reference.frequency_sd == Approx(1.0 / std::sqrt(1e16 + 2.5e15)));
  CHECK(state(sel, 1) == '*');
  CHECK(state(sel, 2) == '+');
}

TEST_CASE("sources beyond combinelimit are not combined", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.001), cand(2, 0.0, 0.05)};
  static_cast<void>(sel.select(kNow, c, 2u));
  const SelectionResult r = sel.select(kNow, c, 1u);
  REQUIRE(r.selected_id == 1u);
  CHECK(r.reference.combined == 1);
  CHECK(r.reference.offset_s == Approx(0.0));
  CHECK(select_status_letter(sel.info(2)->status) == 'D');
  CHECK(state(sel, 2) == '-');
}

TEST_CASE("leap second by majority vote", "[selection]") {
  for (int inserting : {1, 2, 3}) {
    Selection sel;
    std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.0), cand(3, 0.0)};
    for (int i = 0; i < inserting; ++i) c[static_cast<std::size_t>(i)].leap = Leap::Insert;
    static_cast<void>(round(sel, c));
    REQUIRE(sel.selected_id());
    const SelectionResult r = sel.select(kNow, c, *sel.selected_id());
    CAPTURE(inserting);
    REQUIRE(r.update_reference);
    CHECK(r.leap_vote == r.reference.leap);
    CHECK(r.reference.leap == (inserting >= 2 ? Leap::Insert : Leap::None));
  }
}

TEST_CASE("the local clock is selected only while no real source is usable", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), local_cand(100)};
  c[0].data.select_ok = false;  // still collecting samples
  c[0].reach = 3;
  c[0].reach_size = 2;
  SelectionResult r = sel.select(kNow, c, std::nullopt);
  CHECK(r.local_active);
  CHECK(r.local_id == 100u);
  CHECK(state(sel, 100) == '*');
  CHECK(has_event(r, "Selected source LOCL"));

  c[0] = cand(1, 0.0);
  r = sel.select(kNow, c, 1u);
  CHECK(r.selected_id == 1u);
  CHECK_FALSE(r.local_active);
  CHECK(state(sel, 100) == '-');
  CHECK(state(sel, 1) == '*');

  // All upstreams lost: LOCL takes over again.
  c[0].reach = 0;
  r = sel.select(kNow, c, std::nullopt);
  CHECK(r.local_active);
  CHECK(state(sel, 100) == '*');

  // And they come back.
  c[0].reach = 1;
  r = sel.select(kNow, c, 1u);
  CHECK(r.selected_id == 1u);
  CHECK_FALSE(r.local_active);
}

TEST_CASE("a transient wait does not switch to the local clock", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01), local_cand(100)};
  REQUIRE(sel.select(kNow, c, 1u).selected_id == 1u);
  sel.force_reselect();
  // The best source has no new sample: wait for an update.
  const SelectionResult r = sel.select(kNow, c, std::nullopt);
  CHECK(r.outcome == SelectionOutcome::WaitsUpdate);
  CHECK_FALSE(r.local_active);
}

TEST_CASE("orphan mode", "[selection]") {
  SelectionOptions o;
  o.orphan_stratum = 10;
  SECTION("an orphan with a lower refid is followed when nothing else is") {
    Selection sel(o);
    std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01, 10), local_cand(100)};
    c[0].refid = 0x0A000001;
    c[0].our_refid = 0x0A000002;
    const SelectionResult r = sel.select(kNow, c, 1u);
    CHECK(r.selected_id == 1u);
    CHECK_FALSE(r.local_active);
  }
  SECTION("an orphan with a higher refid is not: we serve our local clock") {
    Selection sel(o);
    std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01, 10), local_cand(100)};
    c[0].refid = 0x0A000003;
    c[0].our_refid = 0x0A000002;
    const SelectionResult r = sel.select(kNow, c, 1u);
    CHECK_FALSE(r.selected_id);
    CHECK(r.local_active);
    CHECK(select_status_letter(sel.info(1)->status) == 'O');
  }
  SECTION("a real source below the orphan stratum wins") {
    Selection sel(o);
    std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01, 10), cand(2, 0.0, 0.01, 3)};
    c[0].refid = 0x0A000001;
    c[0].our_refid = 0x0A000002;
    const SelectionResult r = round(sel, c);
    CHECK(r.selected_id == 2u);
    CHECK(select_status_letter(sel.info(1)->status) == 'O');
  }
  SECTION("sources above the orphan stratum are ignored") {
    Selection sel(o);
    std::vector<SelectionCandidate> c{cand(1, 0.0, 0.01, 11)};
    c[0].our_refid = 0xFFFFFFFF;
    const SelectionResult r = sel.select(kNow, c, 1u);
    CHECK_FALSE(r.selected_id);
  }
}

TEST_CASE("non-finite statistics never select a source", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0)};
  c[0].data.root_distance_s = std::nan("");
  c[0].data.lo_limit_s = std::nan("");
  const SelectionResult r = sel.select(kNow, c, 1u);
  CHECK_FALSE(r.selected_id);
  CHECK(select_status_letter(sel.info(1)->status) == 'd');
}

TEST_CASE("removing the system peer loses the selection", "[selection]") {
  Selection sel;
  std::vector<SelectionCandidate> c{cand(1, 0.0), cand(2, 0.0001)};
  static_cast<void>(round(sel, c));
  const auto first = sel.selected_id();
  REQUIRE(first);
  sel.remove(*first);
  CHECK_FALSE(sel.selected_id());
  c.erase(std::remove_if(c.begin(), c.end(), [&](const auto& x) { return x.id == *first; }),
          c.end());
  const SelectionResult r = sel.select(kNow, c, c[0].id);
  CHECK(r.selected_id == c[0].id);
}
