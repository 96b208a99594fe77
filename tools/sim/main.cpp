// gnomon-sim: runs the deterministic accuracy scenarios (lib/sim/scenarios)
// and prints each one's RMS and max offset error, RMS frequency error and
// time to sync beside chrony's figure for the same setup, with the ratio.
// Writes each scenario's time series (first seed) as CSV, a results table as
// Markdown, and PNG plots when gnuplot is installed. With --compare, each
// plot also shows chrony's algorithms on the same seed (NAME-chrony.csv).
//
//   gnomon-sim [--out DIR] [--seeds N] [--chrony] [--estimator NAME] [--compare]
//              [--no-plot] [--list] [NAME|PREFIX ...]
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "lib/sim/scenarios.hpp"

namespace {

using namespace gnomon::sim;

struct Options {
  std::string out_dir = "sim-out";
  std::optional<int> seeds;
  bool plot = true;
  bool list = false;
  bool chrony = false;
  bool compare = false;
  std::optional<gnomon::StatsEstimator> estimator;
  std::vector<std::string> names;
};

void usage() {
  std::puts(
      "usage: gnomon-sim [--out DIR] [--seeds N] [--chrony] [--estimator NAME] [--compare]\n"
      "                  [--no-plot] [--list] [NAME|PREFIX ...]\n"
      "Runs the named scenarios (all by default; a prefix such as 'poll' or 'jitter'\n"
      "selects a group) and prints the results beside chrony's figures.\n"
      "--chrony      use chrony's algorithms (regression, chrony's poll adaptation and slew)\n"
      "--estimator   regression, kalman or auto (steering estimate of every source)\n"
      "--compare     plot chrony's algorithms on the same seed beside gnomon's");
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      o.out_dir = argv[++i];
    } else if (a == "--seeds" && i + 1 < argc) {
      const int n = std::atoi(argv[++i]);
      if (n < 1 || n > 1000) return std::nullopt;
      o.seeds = n;
    } else if (a == "--no-plot") {
      o.plot = false;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--chrony") {
      o.chrony = true;
    } else if (a == "--compare") {
      o.compare = true;
    } else if (a == "--estimator" && i + 1 < argc) {
      const std::string e = argv[++i];
      if (e == "regression") {
        o.estimator = gnomon::StatsEstimator::Regression;
      } else if (e == "kalman") {
        o.estimator = gnomon::StatsEstimator::Kalman;
      } else if (e == "auto") {
        o.estimator = gnomon::StatsEstimator::Auto;
      } else {
        return std::nullopt;
      }
    } else if (a == "-h" || a == "--help" || (!a.empty() && a[0] == '-')) {
      return std::nullopt;
    } else {
      o.names.push_back(a);
    }
  }
  return o;
}

bool selected(const Options& o, const std::string& name) {
  if (o.names.empty()) return true;
  for (const auto& n : o.names) {
    if (name == n || name.rfind(n, 0) == 0) return true;
  }
  return false;
}

[[gnu::format(printf, 1, 2)]] std::string fmt(const char* f, ...) {
  char buf[128];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof buf, f, args);
  va_end(args);
  return buf;
}

std::string opt_s(const std::optional<double>& v) { return v ? fmt("%.0f", *v) : "never"; }

struct Row {
  ScenarioSpec spec;
  AggregateResult agg;
  double wall_s = 0.0;
};

// chrony's figure for the row, and gnomon's ratio to it.
std::pair<std::string, std::string> chrony_columns(const Row& r) {
  const ChronyFigure& c = r.spec.chrony;
  if (c.rms_offset_s) {
    return {fmt("%.0f us RMS", *c.rms_offset_s * 1e6),
            fmt("%.2f", r.agg.mean_rms_offset_s / *c.rms_offset_s)};
  }
  if (c.sync_max_s) {
    std::string fig = c.sync_min_s ? fmt("sync %.0f", *c.sync_min_s) + fmt("-%.0f s", *c.sync_max_s)
                                   : fmt("sync ~%.0f s", *c.sync_max_s);
    std::string ratio = r.agg.worst_sync_s ? fmt("%.2f", *r.agg.worst_sync_s / *c.sync_max_s) : "-";
    return {fig, ratio};
  }
  return {c.note.empty() ? "-" : c.note, "-"};
}

// Whether gnomon's targets for the row are met, or by how much they are missed.
std::string target_column(const Row& r) {
  const Target& t = r.spec.target;
  std::string out;
  auto add = [&out](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  if (t.rms_offset_s) {
    const double ratio = r.agg.mean_rms_offset_s / *t.rms_offset_s;
    add(fmt("RMS<=%.0fus ", *t.rms_offset_s * 1e6) + (ratio <= 1.0 ? "met" : fmt("x%.2f", ratio)));
  }
  if (t.sync_s) {
    const bool ok = r.agg.worst_sync_s && *r.agg.worst_sync_s <= *t.sync_s;
    add(fmt("sync<=%.0fs ", *t.sync_s) + (ok ? "met" : "missed"));
  }
  if (t.fine_sync_s) {
    // Judged on the typical (median) run, as chrony's "about N s" figures.
    const bool ok = r.agg.median_fine_sync_s && *r.agg.median_fine_sync_s <= *t.fine_sync_s;
    add(fmt("100us<=%.0fs ", *t.fine_sync_s) + (ok ? "met" : "missed") + " (median)");
  }
  return out.empty() ? "-" : out;
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Offset and frequency error from `from_s` on (the scenario's stats start,
// after the initial transient), and the stratum served; with `compare`,
// chrony's algorithms on the same seed beside gnomon's.
void plot(const std::string& dir, const std::string& name, double from_s, bool compare) {
  const std::string script = dir + "/" + name + ".gp";
  const auto csv = [&](const std::string& n) { return "'" + dir + "/" + n + ".csv' every ::1"; };
  const std::string keep = "($1 >= " + fmt("%.0f", from_s) + " ? ";
  const std::string chrony = compare ? csv(name + "-chrony") : "";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 900,600 noenhanced font ',10'\n"
       << "set output '" << dir << "/" << name << ".png'\n"
       << "set datafile separator ','\n"
       << "set multiplot layout 3,1 title '" << name << ", seed 1, from t = " << fmt("%.0f", from_s)
       << " s'\n"
       << "set grid\nset key top right\n"
       << "set ylabel 'offset (us)'\n"
       << "plot ";
    if (compare) {
      gp << chrony << " using 1:" << keep << "$2*1e6 : 1/0) with lines lw 1 lc rgb '#bbbbbb'"
         << " title 'chrony algorithms', ";
    }
    gp << csv(name) << " using 1:" << keep << "$2*1e6 : 1/0) with lines lw 1 lc rgb '#2060c0'"
       << " title 'gnomon'\n"
       << "set ylabel 'freq error (ppm)'\n"
       << "plot ";
    if (compare) {
      gp << chrony << " using 1:" << keep << "$3 : 1/0) with lines lw 1 lc rgb '#bbbbbb'"
         << " title 'chrony algorithms', ";
    }
    gp << csv(name) << " using 1:" << keep << "$3 : 1/0) with lines lw 1 lc rgb '#2060c0'"
       << " title 'gnomon (incl. slew)'\n"
       << "set ylabel 'stratum served'\nset xlabel 'true time (s)'\nset yrange [-0.5:16]\n"
       << "plot " << csv(name) << " using 1:5 with steps lw 1 lc rgb '#2060c0'"
       << " title '0 = unsynchronised'\n"
       << "unset multiplot\n";
  }
  const std::string cmd = "gnuplot '" + script + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "gnuplot failed for %s\n", name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = parse_args(argc, argv);
  if (!opts) {
    usage();
    return 2;
  }
  const auto catalogue = scenario_catalogue();
  if (opts->list) {
    for (const auto& s : catalogue) std::printf("%-26s %s\n", s.name.c_str(), s.title.c_str());
    return 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(opts->out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "cannot create %s: %s\n", opts->out_dir.c_str(), ec.message().c_str());
    return 1;
  }
  const bool gnuplot = opts->plot && have_gnuplot();

  std::vector<Row> rows;
  for (const auto& spec : catalogue) {
    if (!selected(*opts, spec.name)) continue;
    const int seeds = opts->seeds.value_or(spec.seeds);
    std::vector<ScenarioResult> runs;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 1; s <= seeds; ++s) {
      ScenarioConfig config = spec.make(static_cast<std::uint64_t>(s));
      if (opts->chrony) config.engine.use_chrony_algorithms();
      if (opts->estimator) config.engine.stats.estimator = *opts->estimator;
      runs.push_back(run_scenario(config));
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::ofstream csv(opts->out_dir + "/" + spec.name + ".csv");
      csv << format_csv(runs.front());
    }
    if (opts->compare) {
      ScenarioConfig config = spec.make(1);
      config.engine.use_chrony_algorithms();
      std::ofstream csv(opts->out_dir + "/" + spec.name + "-chrony.csv");
      csv << format_csv(run_scenario(config));
    }
    if (gnuplot) plot(opts->out_dir, spec.name, spec.make(1).stats_start_s, opts->compare);
    rows.push_back(Row{spec, aggregate(spec.name, runs), wall});
  }
  if (rows.empty()) {
    std::fprintf(stderr, "no scenario matches\n");
    return 1;
  }

  std::printf("%-24s %5s %7s %11s %10s %10s %9s %6s  %-26s %6s  %s\n", "scenario", "runs",
              "sync_s", "100us_s", "rms_off_us", "max_off_us", "rms_f_ppm", "req", "chrony", "ratio",
              "gnomon target");
  std::ofstream md(opts->out_dir + "/results.md");
  md << "| scenario | runs | sync (s) | 100 us/10 ppm (s), median/worst | RMS offset (us) | "
        "max offset (us) | RMS freq (ppm) | requests | chrony | ratio | gnomon target |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
  double total_wall = 0.0;
  for (const auto& r : rows) {
    const auto [chrony, ratio] = chrony_columns(r);
    const std::string target = target_column(r);
    const std::string fine = opt_s(r.agg.median_fine_sync_s) + "/" + opt_s(r.agg.worst_fine_sync_s);
    std::printf("%-24s %5d %7s %11s %10.1f %10.1f %9.3f %6.0f  %-26s %6s  %s\n", r.spec.name.c_str(),
                r.agg.runs, opt_s(r.agg.worst_sync_s).c_str(), fine.c_str(),
                r.agg.mean_rms_offset_s * 1e6, r.agg.max_offset_s * 1e6, r.agg.mean_rms_freq_ppm,
                r.agg.mean_requests, chrony.c_str(), ratio.c_str(), target.c_str());
    md << "| " << r.spec.name << " | " << r.agg.runs << " | " << opt_s(r.agg.worst_sync_s) << " | "
       << fine << " | " << fmt("%.1f", r.agg.mean_rms_offset_s * 1e6) << " | "
       << fmt("%.1f", r.agg.max_offset_s * 1e6) << " | " << fmt("%.3f", r.agg.mean_rms_freq_ppm)
       << " | " << fmt("%.0f", r.agg.mean_requests) << " | " << chrony << " | " << ratio << " | "
       << target << " |\n";
    total_wall += r.wall_s;
  }
  std::printf("\nsync_s: worst over the runs (chrony's criterion: |offset| < 1 ms and |freq| < 500 ppm,\n"
              "or the scenario's own limits); 100us_s: first time within 100 us and 10 ppm held for\n"
              "60 s, median/worst over the runs; rms/max from the scenario's stats start; rms values\n"
              "are means over the runs, max the worst; req: requests sent per run.\n"
              "CSV%s in %s. Simulated in %.2f s.\n",
              gnuplot ? " and PNG" : "", opts->out_dir.c_str(), total_wall);
  return 0;
}
