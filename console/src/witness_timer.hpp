// The console's one witness of sluisd's audit log (internal to console/src): the archive and
// Witness that the daemon's timer and the DPO's log-health page share, one round at a time.
#pragma once

#include "dpo_log_health.hpp"

#include "sluis/console/api_client.hpp"
#include "sluis/console/console_config.hpp"
#include "sluis/console/witness.hpp"
#include "sluis/server/request_log.hpp"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace sluis::console {

/// Runs the witness on a timer (a first round at start(), then one every [witness]
/// interval_seconds, measured from the end of a round) and on a DPO's visit to the log-health
/// page. Both go through one Witness over one FileCheckpointArchive (`witness.log` beside the
/// console's database), under one mutex: never two observations at once.
///
/// What it writes to the console's log (one JSON line each; sizes and literals only, never a
/// note, a client or a worker): `witness_on` (interval_seconds) when the timer starts;
/// `witness_off` once when it cannot (reason: no audit_verifier_key, no served partner);
/// `witness_alert` (reason: the kind, old_size, new_size) once per new alert, whoever found it
/// (the archive keeps the alert and says whether it is new, across restarts);
/// `witness_unreachable` once per outage of the timer's calls and `witness_reachable` when they
/// succeed again; `witness_archive_failed` once until the archive works again.
///
/// Thread rules: every member may be called from any thread. `config` and `clients` must
/// outlive the object; the destructor stops the timer.
class WitnessTimer final {
 public:
  WitnessTimer(const ConsoleConfig& config,
               const std::map<std::string, ApiClient, std::less<>>& clients);
  ~WitnessTimer();
  WitnessTimer(const WitnessTimer&) = delete;
  WitnessTimer& operator=(const WitnessTimer&) = delete;

  /// Starts the timer's thread, whose rounds call sluisd as config.witness_partner() naming
  /// config.witness.worker. Without audit_verifier_key or a served partner it starts nothing and
  /// logs `witness_off` once. `log` also receives the alerts the page finds from now on. Call at
  /// most once.
  void start(std::shared_ptr<sluis::server::LogSink> log);

  /// Stops the thread promptly: a wait between rounds ends at once, a round in progress is
  /// finished (its /v1 calls are bounded by the client's timeout). Idempotent.
  void stop();

  /// A DPO's visit: one round through `client` (the DPO's own partner; null when the console
  /// serves none) naming `worker`, then what the page shows — this visit's check, the newest
  /// checkpoints and every alert kept, and the timer's last round. Waits for a round in progress.
  [[nodiscard]] LogHealthView visit(const ApiClient* client, const std::string& worker);

  /// The timer's last round (nullopt before the first one ends, or when the timer is off).
  [[nodiscard]] std::optional<WitnessRound> last_round();

 private:
  bool open_locked();
  WitnessResult<WitnessReport> observe_locked(const ApiClient& client, const std::string& worker);
  void log_alert_locked(const WitnessAlert& alert);
  void round();
  void round_locked();
  void run(const std::stop_token& stop);

  const ConsoleConfig& config_;
  const std::map<std::string, ApiClient, std::less<>>& clients_;

  std::mutex mutex_;  ///< one observation at a time; guards everything down to log_
  std::optional<FileCheckpointArchive> archive_;
  std::optional<Witness> witness_;
  std::optional<WitnessRound> last_round_;
  bool timer_on_ = false;
  bool outage_logged_ = false;
  bool archive_failure_logged_ = false;
  std::shared_ptr<sluis::server::LogSink> log_;

  std::mutex wake_mutex_;  ///< only for the wait between two rounds
  std::condition_variable_any wake_;
  std::jthread thread_;  ///< last: stopped and joined before the members above go
};

}  // namespace sluis::console
