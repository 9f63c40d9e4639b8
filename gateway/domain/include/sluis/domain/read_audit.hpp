// The audit events of a dossier read: its decisions, grouped by outcome (the API appends them
// before any field is opened).
#pragma once

#include "sluis/audit/event.hpp"
#include "sluis/domain/access.hpp"

#include <span>
#include <string_view>
#include <vector>

namespace sluis::domain {

using audit::AuditEvent;

/// The context a dossier read was made in, for audit_events_for_read.
struct ReadAuditContext {
  Instant time{};
  std::string_view partner;
  std::string_view worker;
  std::string_view purpose;
  std::string_view client;  ///< the client's audit pseudonym (Registry::audit_pseudonym)
  std::string_view request_id;
};

/// The `read` events of one dossier read's decisions (permits and denials alike), as the API
/// layer's BeforeOpen hook appends them: one event per distinct outcome — decisions with the same
/// decision, rule, break-the-glass flag and owner share an event that lists their categories
/// (first seen first, each once, at most kMaxAuditCategories per event). Events are in the order
/// of their first decision. The role comes from the hook's `role` argument.
[[nodiscard]] std::vector<AuditEvent>
audit_events_for_read(const ReadAuditContext& context, std::span<const FragmentDecision> decisions,
                      std::string_view role);

}  // namespace sluis::domain
