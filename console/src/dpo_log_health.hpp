// The DPO's log-health page data (internal to console/src): what the witness saw, as template
// values — kept apart from the routes so a test can render it from a real archive.
#pragma once

#include "sluis/console/template.hpp"
#include "sluis/console/witness.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sluis::console {

/// What the log-health page shows. `check` is this visit's observation (nullopt when it could
/// not be made: `problem` then says why).
struct LogHealthView {
  enum class Problem { none, unreachable, archive };
  bool configured = false;  ///< a verifier key is pinned in the configuration
  std::optional<WitnessReport> check;
  Problem problem = Problem::none;
  std::vector<ArchivedCheckpoint> checkpoints;  ///< the newest ones kept, oldest first
  std::vector<ArchivedAlert> alerts;            ///< every alert kept, oldest first
};

/// Template values of dpo_log_health.html: flags configured, healthy, unchecked,
/// problem_archive, alert (then newest_alert {old_size, new_size, seen_at, kind_* flags,
/// evidence}), accepted {size, seen_at}, and the checkpoints and alerts lists.
[[nodiscard]] TemplateData log_health_data(const LogHealthView& view);

}  // namespace sluis::console
