// The consent-checked dossier read: store facts → policy::decide per fragment → open only permits.
#include "sluis/domain/access.hpp"

#include "sluis/policy/consent_json.hpp"
#include "sluis/policy/decision.hpp"

#include <chrono>
#include <vector>

namespace sluis::domain {
namespace {

policy::Time to_policy_time(Instant t) {
  return std::chrono::floor<std::chrono::seconds>(t);
}

// The store's grants as policy values; a grant naming a category the pack no longer has keeps
// its other categories (it can only ever reach fewer, never more).
std::vector<policy::BreakGlassGrant> grants_for_policy(const std::vector<BreakGlassGrant>& stored,
                                                       const policy::RulePack& pack,
                                                       std::string_view partner_id,
                                                       std::string_view worker_id) {
  std::vector<policy::BreakGlassGrant> out;
  for (const auto& g : stored) {
    if (g.partner_id != partner_id || g.worker_id != worker_id) continue;
    policy::BreakGlassGrant p;
    p.id = g.id;
    p.partner = g.partner_id;
    p.worker = g.worker_id;
    for (const auto& name : g.categories) {
      if (auto c = pack.category(name)) p.categories.insert(*c);
    }
    p.reason = g.reason;
    p.start = to_policy_time(g.starts_at);
    p.expiry = to_policy_time(g.expires_at);
    p.flagged = true;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

Result<std::vector<policy::Consent>>
consents_for_policy(const ConsentBook& book, const policy::RulePack& pack, const ClientId& client) {
  auto records = book.history(client);
  if (!records) return records.error();
  std::vector<policy::Consent> out;
  out.reserve(records->size());
  for (const auto& r : *records) {
    auto parsed = policy::parse_consent(r.document, pack);
    if (!parsed) continue;  // cannot permit anything under this pack
    policy::Consent c = std::move(*parsed);
    c.id = r.id;
    if (r.revoked_at) {
      c.status = policy::ConsentStatus::revoked;
      c.revocation =
          policy::Revocation{to_policy_time(*r.revoked_at),
                             policy::WorkerRef{r.revoked_by_partner, r.revoked_by_worker}};
    } else {
      c.status = policy::ConsentStatus::active;
      c.revocation.reset();
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<DossierRead> read_dossier_for(Storage& storage, const policy::RulePack& pack,
                                     const ClientId& client, const ReadRequest& request,
                                     Instant now, const BeforeOpen& before_open) {
  Registry registry(storage);
  ConsentBook book(storage);
  Dossiers dossiers(storage);

  // Fragment-independent facts first: who asks, as what, for which purpose.
  auto partner = registry.find_partner(request.partner_id);
  if (!partner) return Errc::not_permitted;
  auto worker = registry.find_worker(request.partner_id, request.worker_id);
  if (!worker) return Errc::unknown_worker;
  const auto purpose = pack.purpose(request.purpose);
  const auto role = pack.role(worker->role);
  const auto partner_type = pack.partner_type(partner->partner_type);
  if (!purpose || !role || !partner_type) return Errc::invalid_argument;
  if (request.category && !pack.category(*request.category)) return Errc::invalid_argument;

  // No care relationship: indistinguishable from an unknown client.
  auto relationships = registry.care_relationships(client);
  if (!relationships) return relationships.error();
  const CareRelationship* mine = nullptr;
  for (const auto& rel : *relationships) {
    if (rel.partner_id == request.partner_id) mine = &rel;
  }
  if (mine == nullptr) return Errc::not_found;
  const bool linked = mine->origin == RelationshipOrigin::linked ||
                      mine->origin == RelationshipOrigin::card_presented;

  auto consents = consents_for_policy(book, pack, client);
  if (!consents) return consents.error();
  auto stored_grants = book.break_glass_history(client);
  if (!stored_grants) return stored_grants.error();
  const auto grants =
      grants_for_policy(*stored_grants, pack, request.partner_id, request.worker_id);

  // Owner partner types come from the store's partner table (a shared snapshot, looked up before
  // the read: the permit callback runs under the store's lock and must not call back into it).
  auto partners = registry.partner_table();
  if (!partners) return partners.error();
  const auto owner_type = [&all = **partners,
                           &pack](std::string_view id) -> std::optional<policy::PartnerTypeId> {
    const auto* p = find_in_partner_table(all, id);
    if (p == nullptr) return std::nullopt;
    return pack.partner_type(p->partner_type);
  };

  // Phase 1: decide every current fragment from its metadata alone (its fields stay sealed).
  auto current = dossiers.list_current_sealed(client);
  if (!current) return current.error();
  DossierRead out;
  out.role = worker->role;
  const policy::Time t = to_policy_time(now);
  std::vector<const SealedFragment*> permitted;
  for (const auto& sealed : *current) {
    const FragmentMeta& meta = sealed.meta;
    if (request.category && meta.category != *request.category) continue;
    FragmentDecision d;
    d.fragment = meta.id;
    d.category = meta.category;
    d.owner_partner = meta.owner_partner;
    const auto category = pack.category(meta.category);
    const auto owner = owner_type(meta.owner_partner);
    if (!category || !owner) {
      d.rule = "request.invalid";  // a fragment the pack no longer knows how to judge: deny
      out.decisions.push_back(std::move(d));
      continue;
    }
    policy::AccessRequest req;
    req.partner_id = request.partner_id;
    req.partner_type = *partner_type;
    req.partner_revoked = partner->revoked_at.has_value();
    req.worker_id = request.worker_id;
    req.role = *role;
    req.worker_active = worker->active;
    req.category = *category;
    req.purpose = *purpose;
    req.owner_partner_id = meta.owner_partner;
    req.owner_type = *owner;
    req.care_relationship = true;
    req.client_linked = linked;
    req.now = t;
    const auto decision = policy::decide(pack, req, *consents, grants);
    d.permitted = decision.permitted();
    d.break_glass = decision.break_glass;
    d.rule = decision.rule_id();  // copies: `subject` views into *consents / grants
    if (d.permitted) permitted.push_back(&sealed);
    out.decisions.push_back(std::move(d));
  }

  // Phase 2: the decisions go on the record before anything is opened.
  if (before_open) {
    if (auto recorded = before_open(out.decisions, out.role); !recorded) {
      return recorded.error();
    }
  }

  // Phase 3: open exactly the fragment versions decided on and recorded above (as listed in
  // phase 1: one written or superseded since is not opened, nor is its successor).
  if (permitted.empty()) return out;
  auto entries = dossiers.open_fragments(client, request.partner_id, permitted);
  if (!entries) return entries.error();
  out.entries = std::move(*entries);
  return out;
}

}  // namespace sluis::domain
