// The DPO's log-health page data (internal to console/src): what the witness saw, as template
// values — kept apart from the routes so a test can render it from a real archive.
#pragma once

#include "sluis/console/template.hpp"
#include "sluis/console/witness.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sluis::console {

/// One round the console's timer made on its own (witness_timer.hpp), as the page tells it:
/// "last checked by the console at …".
struct WitnessRound {
  enum class Outcome {
    ok,           ///< the checkpoint was verified (first, unchanged or proven to have grown)
    unreachable,  ///< sluisd could not be reached, or answered 5xx
    alert,        ///< the log could not prove it only grew (the alert is kept in the archive)
    archive,      ///< the console could not read or write its own archive
  };
  std::chrono::system_clock::time_point at;  ///< when the round ended
  Outcome outcome = Outcome::ok;
};

/// What the log-health page shows. `check` is this visit's observation (nullopt when it could
/// not be made: `problem` then says why).
struct LogHealthView {
  enum class Problem { none, unreachable, archive };
  bool configured = false;  ///< a verifier key is pinned in the configuration
  std::optional<WitnessReport> check;
  Problem problem = Problem::none;
  std::vector<ArchivedCheckpoint> checkpoints;  ///< the newest ones kept, oldest first
  std::vector<ArchivedAlert> alerts;            ///< every alert kept, oldest first
  bool timer_on = false;  ///< the console also checks on its own, every `interval`
  std::chrono::seconds interval{0};
  std::optional<WitnessRound> last_round;  ///< the timer's last round
};

/// Template values of dpo_log_health.html: flags configured, healthy, unchecked,
/// problem_archive, alert (then newest_alert {old_size, new_size, seen_at, kind_* flags,
/// evidence}), accepted {size, seen_at}, and the checkpoints and alerts lists; timer_on,
/// interval (in minutes when interval_in_minutes, else in seconds), and last_round {at,
/// round_ok, round_unreachable, round_alert, round_archive} with has_last_round, or both false.
[[nodiscard]] TemplateData log_health_data(const LogHealthView& view);

}  // namespace sluis::console
