// The audit events of a dossier read: one per distinct outcome of its decisions.
#include "sluis/domain/read_audit.hpp"

#include <algorithm>

namespace sluis::domain {

using audit::AuditAction;
using audit::AuditDecision;
using audit::kMaxAuditCategories;

std::vector<AuditEvent> audit_events_for_read(const ReadAuditContext& context,
                                              std::span<const FragmentDecision> decisions,
                                              std::string_view role) {
  // One event per distinct outcome: decisions that agree on everything an event records except
  // the category (decision, rule, break-the-glass, owner) share one event listing their
  // categories. Nothing an event can say is lost; a dossier of 20 fragments is a few events.
  std::vector<AuditEvent> out;
  for (const auto& d : decisions) {
    const auto decision = d.permitted ? AuditDecision::permit : AuditDecision::deny;
    const auto same_outcome = [&](const AuditEvent& e) {
      return e.decision == decision && e.rule == d.rule && e.break_glass == d.break_glass &&
             e.owner_partner == d.owner_partner;
    };
    const auto lists = [&](const AuditEvent& e) {
      return std::find(e.categories.begin(), e.categories.end(), d.category) != e.categories.end();
    };
    // Already on an event of this outcome: nothing to add. Else the first such event with room.
    if (std::any_of(out.begin(), out.end(),
                    [&](const AuditEvent& e) { return same_outcome(e) && lists(e); })) {
      continue;
    }
    auto room = std::find_if(out.begin(), out.end(), [&](const AuditEvent& e) {
      return same_outcome(e) && e.categories.size() < kMaxAuditCategories;
    });
    if (room != out.end()) {
      room->categories.push_back(d.category);
      continue;
    }
    AuditEvent e;
    e.time = context.time;
    e.partner = context.partner;
    e.worker = context.worker;
    e.role = role;
    e.action = AuditAction::read;
    e.client = context.client;
    e.categories = {d.category};
    e.purpose = context.purpose;
    e.decision = decision;
    e.rule = d.rule;
    e.break_glass = d.break_glass;
    e.request_id = context.request_id;
    e.owner_partner = d.owner_partner;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace sluis::domain
