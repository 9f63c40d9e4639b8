// The consent-checked dossier read: store facts → policy::decide per fragment → open only permits.
#include "sluis/domain/access.hpp"

#include "sluis/policy/consent_json.hpp"
#include "sluis/policy/decision.hpp"

#include <chrono>
#include <memory>
#include <optional>
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

namespace {

/// A stored record's document in policy form, its id and revocation taken from the record (the
/// store is the source of truth for both). nullopt when it does not parse under the pack.
std::optional<policy::Consent> consent_of(const ConsentRecord& r, const policy::RulePack& pack,
                                          const std::shared_ptr<const policy::RulePack>* shared,
                                          ConsentCache* cache) {
  std::optional<policy::Consent> parsed;
  if (cache != nullptr && shared != nullptr) {
    parsed = cache->parsed(r, *shared);
  } else if (auto p = policy::parse_consent(r.document, pack)) {
    parsed = std::move(*p);
  }
  if (!parsed) return std::nullopt;  // cannot permit anything under this pack
  policy::Consent& c = *parsed;
  c.id = r.id;
  if (r.revoked_at) {
    c.status = policy::ConsentStatus::revoked;
    c.revocation = policy::Revocation{to_policy_time(*r.revoked_at),
                                      policy::WorkerRef{r.revoked_by_partner, r.revoked_by_worker}};
  } else {
    c.status = policy::ConsentStatus::active;
    c.revocation.reset();
  }
  return parsed;
}

std::vector<policy::Consent> consents_of(const std::vector<ConsentRecord>& records,
                                         const policy::RulePack& pack,
                                         const std::shared_ptr<const policy::RulePack>* shared,
                                         ConsentCache* cache) {
  std::vector<policy::Consent> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    if (auto c = consent_of(r, pack, shared, cache)) out.push_back(std::move(*c));
  }
  return out;
}

/// plan_read, with the pack as a reference and (when `shared` is given) as the cache's key.
Result<ReadPlan> plan(Storage& storage, const policy::RulePack& pack,
                      const std::shared_ptr<const policy::RulePack>* shared, ConsentCache* cache,
                      const ClientId& client, const Partner& partner, const Worker& worker,
                      const ReadRequest& request, Instant now) {
  // Fragment-independent facts first: who asks, as what, for which purpose.
  const auto purpose = pack.purpose(request.purpose);
  const auto role = pack.role(worker.role);
  const auto partner_type = pack.partner_type(partner.partner_type);
  if (!purpose || !role || !partner_type) return Errc::invalid_argument;
  if (request.category && !pack.category(*request.category)) return Errc::invalid_argument;

  UnitOfWork u(storage);
  // Owner partner types come from the store's partner table (a shared snapshot).
  auto partners = u.partners().table();
  if (!partners) return partners.error();
  // One snapshot for everything below: one read transaction, not one per statement.
  if (auto r = u.begin_read(); !r) return r.error();

  // No care relationship: indistinguishable from an unknown client.
  auto mine = u.clients().relationship(request.partner_id, client);
  if (!mine) return mine.error();
  if (!*mine) return Errc::not_found;
  const bool linked = (*mine)->origin == RelationshipOrigin::linked ||
                      (*mine)->origin == RelationshipOrigin::card_presented;

  auto records = u.consents().history(client);
  if (!records) return records.error();
  const auto consents = consents_of(*records, pack, shared, cache);
  auto stored_grants = u.grants().history(client);
  if (!stored_grants) return stored_grants.error();
  const auto grants =
      grants_for_policy(*stored_grants, pack, request.partner_id, request.worker_id);

  auto current = u.fragments().current_sealed(client);
  if (!current) return current.error();
  if (auto r = u.commit(); !r) return r.error();

  const auto& all = **partners;
  const auto owner_type = [&all, &pack](std::string_view id) -> std::optional<policy::PartnerTypeId> {
    const auto* p = find_in_partner_table(all, id);
    if (p == nullptr) return std::nullopt;
    return pack.partner_type(p->partner_type);
  };

  // Decide every current fragment from its metadata alone (its fields stay sealed).
  ReadPlan out;
  out.client = client;
  out.partner_id = std::string(request.partner_id);
  out.role = worker.role;
  out.partners = std::move(*partners);
  out.decisions.reserve(current->size());
  const policy::Time t = to_policy_time(now);
  policy::AccessRequest req;
  req.partner_id = request.partner_id;
  req.partner_type = *partner_type;
  req.partner_revoked = partner.revoked_at.has_value();
  req.worker_id = request.worker_id;
  req.role = *role;
  req.worker_active = worker.active;
  req.purpose = *purpose;
  req.care_relationship = true;
  req.client_linked = linked;
  req.now = t;
  for (auto& sealed : *current) {
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
    req.category = *category;
    req.owner_partner_id = meta.owner_partner;
    req.owner_type = *owner;
    const auto decision = policy::decide(pack, req, consents, grants);
    d.permitted = decision.permitted();
    d.break_glass = decision.break_glass;
    d.rule = decision.rule_id();  // copies: `subject` views into consents / grants
    out.decisions.push_back(std::move(d));
    if (out.decisions.back().permitted) out.permitted.push_back(std::move(sealed));
  }
  return out;
}

}  // namespace

Result<std::vector<policy::Consent>>
consents_for_policy(const ConsentBook& book, const policy::RulePack& pack, const ClientId& client) {
  auto records = book.history(client);
  if (!records) return records.error();
  return consents_of(*records, pack, nullptr, nullptr);
}

Result<ReadPlan> plan_read(Storage& storage, const std::shared_ptr<const policy::RulePack>& pack,
                           ConsentCache* consents, const ClientId& client, const Partner& partner,
                           const Worker& worker, const ReadRequest& request, Instant now) {
  return plan(storage, *pack, &pack, consents, client, partner, worker, request, now);
}

Result<std::vector<DossierEntry>> open_read(Storage& storage, const ReadPlan& plan) {
  Dossiers dossiers(storage);
  std::vector<const SealedFragment*> fragments;
  fragments.reserve(plan.permitted.size());
  for (const auto& f : plan.permitted)
    fragments.push_back(&f);
  return dossiers.open_fragments(plan.client, plan.partner_id, fragments);
}

Result<DossierRead> read_dossier_for(Storage& storage, const policy::RulePack& pack,
                                     const ClientId& client, const ReadRequest& request,
                                     Instant now, const BeforeOpen& before_open) {
  Registry registry(storage);
  auto partner = registry.find_partner(request.partner_id);
  if (!partner) return Errc::not_permitted;
  auto worker = registry.find_worker(request.partner_id, request.worker_id);
  if (!worker) return Errc::unknown_worker;

  auto planned = plan(storage, pack, nullptr, nullptr, client, *partner, *worker, request, now);
  if (!planned) return planned.error();
  DossierRead out;
  out.role = planned->role;
  out.decisions = std::move(planned->decisions);

  // The decisions go on the record before anything is opened.
  if (before_open) {
    if (auto recorded = before_open(out.decisions, out.role); !recorded) {
      return recorded.error();
    }
  }
  if (planned->permitted.empty()) return out;
  auto entries = open_read(storage, *planned);
  if (!entries) return entries.error();
  out.entries = std::move(*entries);
  return out;
}

}  // namespace sluis::domain
