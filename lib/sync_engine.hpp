// SyncEngine: the whole client side of gnomond as one sans-I/O object, the
// one thing both the daemon and the simulator drive. It owns the sources
// (lib/source.hpp) and their statistics, selection, the reference/discipline
// and, through ClockControl, the clock.
//
//   daemon / simulator                         SyncEngine
//   ------------------                         ----------
//   engine.start(now)                    ->    Actions
//   at actions.next_wakeup / any time:
//     engine.handle_timer(now, rng)      ->    Actions {sends, resolves, ...}
//   send each SendRequest on a new socket (random port), remember its
//   SourceId and local TX time; on a reply on that socket:
//     engine.handle_reply(now, id, bytes, ctx) -> Actions {events, clock, ...}
//   DNS answers: engine.on_resolved(entry, addresses, now)
//   answering NTP clients: engine.served_state(now)
//   chronyc: sources()/sourcestats()/tracking()/selectdata()/ntpdata()/activity()
//
// Every entry point takes `now`, the controlled clock's reading
// (ClockControl::now()). Clock adjustments are made through ClockControl
// during the call and also listed in Actions::clock, so that the daemon can
// rebase the timestamps it holds (kernel timestamps, interleaved state).
//
// Ids: a config entry ([[source]] / server / pool line) gets an EntryId; each
// association it creates (one for a server, up to max-sources for a pool,
// none for the local clock) gets a SourceId. Both are never reused, and
// reload() keeps the entries (and so the sources and their statistics) whose
// configuration is unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lib/clock.hpp"
#include "lib/config.hpp"
#include "lib/drift_file.hpp"
#include "lib/net_address.hpp"
#include "lib/reference.hpp"
#include "lib/selection.hpp"
#include "lib/source.hpp"
#include "lib/source_stats.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

using EntryId = std::uint32_t;
using SourceId = std::uint32_t;

// Refid that the sources table shows for the local clock row: "LOCL".
inline constexpr std::uint32_t kLoclRefid = 0x4C4F434Cu;

struct EngineOptions {
  SelectionOptions selection;
  ReferenceOptions reference;
  // How every source is estimated and polled. gnomon's defaults steer from
  // the Kalman filter, poll so that its estimate stays worth 8 samples, and
  // ramp the polling up after iburst (lib/source_stats.hpp explains why);
  // use_chrony_algorithms() gives chrony's choices instead.
  SourceStatsOptions stats = default_stats_options();
  PollRule poll_rule = PollRule::KalmanEffectiveSamples;
  int poll_target = 8;
  bool iburst_ramp = true;
  bool sync_ramp = true;   // SourceOptions::sync_ramp
  // Samples kept per source unless its line says otherwise (minsamples,
  // maxsamples); nullopt = the estimator's defaults.
  std::optional<int> min_samples;
  std::optional<int> max_samples;
  AuthSelectMode auth_select = AuthSelectMode::Mix;
  // chrony's initstepslew: start() first measures these servers (iburst)
  // and corrects the clock once; the configured sources start after that.
  std::optional<InitStepSlewConfig> initstepslew;
  // chrony's fallbackdrift (see lib/fallback_drift.hpp); nullopt = off.
  std::optional<FallbackDriftConfig> fallbackdrift;
  // chronyd -q: the configured sources are measured until the first
  // update, which steps the clock ("System clock wrong by ... (step)");
  // then Actions::quit asks the daemon to exit (0, or 1 with no usable
  // source).
  bool update_once = false;
  // The refid of a source address: IPv4 = the address; IPv6 = the first 4
  // bytes of the MD5 of the address (the daemon supplies it; unset = 0).
  std::function<std::uint32_t(const IpAddress&)> refid_of;
  // Makes the authenticator of a source with a key or NTS (lib/ntp_auth.hpp),
  // for its config entry and the address it was given. Unset or nullptr:
  // such a source accepts no reply (and an NTS source sends nothing).
  std::function<std::shared_ptr<ClientAuthenticator>(const SourceConfig&, const SocketAddress&)>
      make_authenticator;
  // DNS retry back-off: first retry after min, doubling up to max, s.
  double resolve_retry_min_s = 8.0;
  double resolve_retry_max_s = 1024.0;
  // Resolve a name again this long after its source was found unreachable
  // or bad (falseticker etc.), to replace it, s.
  double pool_replace_delay_s = 2.0;

  // From the effective configuration: makestep, maxslewrate, maxupdateskew,
  // [local] (incl. orphan), and control=false (the caller then hands in a
  // NoControlClock).
  [[nodiscard]] static EngineOptions from_config(const Config& config);
  // gnomon's estimator choice (Kalman).
  [[nodiscard]] static SourceStatsOptions default_stats_options();
  // chrony's algorithms: regression estimates, chrony's poll adaptation, no
  // ramp after iburst, chrony's slew (for comparisons).
  void use_chrony_algorithms();
};

// A request to send now on a new socket with a random source port.
struct SendRequest {
  SourceId source = 0;
  OutgoingRequest request;
  TimePoint receive_deadline{};    // the socket may be closed after this
};

// A name to resolve (A and AAAA). Answer with on_resolved().
struct ResolveRequest {
  EntryId entry = 0;
  std::string name;
  std::uint16_t port = 123;
};

// A change of the controlled clock made during the call.
struct ClockEvent {
  // The clock was stepped by -stepped (+ = moved back): holders of clock
  // readings (kernel timestamps etc.) must subtract `stepped` from them.
  Duration stepped{};
  // Offset accrued to the slew (+ = being slowed) and frequency change
  // (s/s, + = slower): these do not move clock readings.
  double slewed_s = 0.0;
  double dfreq = 0.0;
};

struct Actions {
  std::vector<SendRequest> sends;
  std::vector<ResolveRequest> resolves;
  std::vector<LogEvent> events;     // to log (selection changes, steps, ...)
  std::vector<ClockEvent> clock;
  // maxchange exceeded: exit with the panic exit code.
  bool panic = false;
  // update_once is over: exit with this status.
  std::optional<int> quit;
  // Time to save the drift file (hourly while synchronised).
  std::optional<DriftData> write_drift;
  // When to call handle_timer() next (nullopt = nothing scheduled).
  std::optional<TimePoint> next_wakeup;
};

// The state of a source row (chronyc sources / activity).
enum class SourceRowMode : std::uint8_t { Server, Peer, Local };

struct SourceRow {
  SourceId id = 0;
  EntryId entry = 0;
  std::string name;                  // configured name (hostname or literal)
  std::optional<SocketAddress> address;  // nullopt = not resolved yet
  std::uint32_t refid = 0;           // the address's refid; kLoclRefid for LOCL
  SourceRowMode mode = SourceRowMode::Server;
  SelectStatus status = SelectStatus::BadStats;
  char state = '?';                  // * + - x ~ ?
  std::uint8_t sel_options = 0;      // kSelect* bits
  int stratum = 0;                   // 0 until a synchronised reply
  int poll = 6;                      // log2 s
  std::uint8_t reach = 0;
  SourceOpMode opmode = SourceOpMode::Online;
  // Seconds since the last good sample; nullopt = none ("-").
  std::optional<double> last_rx_ago_s;
  LastSampleReport last_sample;      // offsets: + = we are ahead
  Leap leap = Leap::Unsynchronised;
};

struct SourcestatsRow {
  SourceId id = 0;
  std::string name;
  std::optional<SocketAddress> address;
  std::uint32_t refid = 0;
  SourcestatsReport stats;
};

struct SelectdataRow {
  SourceId id = 0;
  std::string name;
  std::optional<SocketAddress> address;
  std::uint32_t refid = 0;
  SourceRowMode mode = SourceRowMode::Server;
  SelectInfo info;
  char state_letter = 'M';           // N M s r d ~ w S O T x W P U D L + *
  bool authenticated = false;
};

struct ActivityReport {
  int online = 0;
  int offline = 0;
  int burst_online = 0;
  int burst_offline = 0;
  int unresolved = 0;
};

struct ReloadResult {
  std::vector<EntryId> kept;
  std::vector<EntryId> added;
  std::vector<EntryId> removed;
  // chrony's "Added source NAME" / "Removed pool NAME" lines.
  std::vector<LogEvent> events;
};

class SyncEngine {
 public:
  // `clock` must outlive the engine. For -x pass a NoControlClock.
  SyncEngine(ClockControl& clock, const EngineOptions& options);
  ~SyncEngine();
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  // --- Configuration -------------------------------------------------------
  // Adds one config entry. "127.127.1.0" becomes the local clock (LOCL row,
  // enables the local reference at [local]'s stratum, 10 by default). IP
  // literals are used at once; names are resolved (see ResolveRequest).
  EntryId add_entry(const SourceConfig& config, TimePoint now);
  void remove_entry(EntryId entry, TimePoint now);
  // SIGHUP: makes the entries match `sources`. Entries equal to a wanted
  // config (ignoring `origin`) are kept with their statistics.
  ReloadResult reload(const std::vector<SourceConfig>& sources, TimePoint now);
  void set_options(const EngineOptions& options);

  // Start-up drift (from a good drift file): sets the clock frequency.
  void load_drift(const DriftData& drift);
  [[nodiscard]] DriftData drift() const;

  // --- Driving -------------------------------------------------------------
  // Starts polling. Sources added later start at once.
  [[nodiscard]] Actions start(TimePoint now);
  [[nodiscard]] Actions handle_timer(TimePoint now, RandomSource& rng);
  // A datagram on the socket of `source`'s latest request. ctx.rx_time and
  // ctx.tx_time are readings of the controlled clock (kernel timestamps; with
  // -x, corrected as NoControlClock::now() would read them). The engine
  // removes the slew still pending from them, and fills ctx.our_state
  // itself if it is null.
  [[nodiscard]] Actions handle_reply(TimePoint now, SourceId source,
                                     std::span<const std::uint8_t> bytes, ReplyContext ctx);
  // DNS answer for `entry` (empty = failed; retried with back-off).
  [[nodiscard]] Actions on_resolved(EntryId entry, const std::vector<IpAddress>& addresses,
                                    TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_wakeup() const;

  // --- Commands (chronyc) --------------------------------------------------
  [[nodiscard]] Actions make_step(TimePoint now);
  // chronyc `local ...` / `local off` (enabled false): the local reference's
  // options from now on (a `server 127.127.1.0` entry keeps it enabled).
  [[nodiscard]] Actions set_local(const LocalConfig& local, TimePoint now);
  // online/offline/burst for all sources (address nullopt) or matching ones.
  // Return the number of sources affected.
  int set_online(TimePoint now, bool online, std::optional<IpAddress> address = std::nullopt);
  int burst(TimePoint now, int good, int total, std::optional<IpAddress> address = std::nullopt);
  // Outside step of the clock (e.g. detected by the daemon): rebase everything.
  void on_clock_stepped(Duration offset);
  // The clock jumped by `jump` (+ = forward) and nobody here did it (another
  // program, a suspended VM): as chrony, the pending correction is dropped,
  // every source's samples are discarded and we are unsynchronised until
  // new samples agree again. Timers are moved with the clock.
  [[nodiscard]] Actions on_unknown_step(TimePoint now, Duration jump);

  // --- What we serve and report --------------------------------------------
  // sources(), sourcestats() and selectdata() list the same rows in the same
  // order (config order; pool members together; an implicit LOCL row last),
  // so that chrony's index-based commands line up.
  [[nodiscard]] ServedState served_state(TimePoint now);
  [[nodiscard]] TrackingReport tracking(TimePoint now);
  [[nodiscard]] std::vector<SourceRow> sources(TimePoint now);
  [[nodiscard]] std::vector<SourcestatsRow> sourcestats(TimePoint now);
  [[nodiscard]] std::vector<SelectdataRow> selectdata(TimePoint now);
  [[nodiscard]] std::optional<NtpDataReport> ntpdata(const IpAddress& address) const;
  [[nodiscard]] ActivityReport activity() const;
  [[nodiscard]] std::optional<SourceId> selected_source() const;
  [[nodiscard]] bool synchronised() const;
  [[nodiscard]] bool local_active() const;
  // Direct access for tests and the simulator (nullptr if unknown).
  [[nodiscard]] const Source* source(SourceId id) const;
  [[nodiscard]] const Reference& reference() const;
  [[nodiscard]] const Selection& selection() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gnomon
