// The consent-checked dossier read: the store's fragments filtered by the policy's decisions.
#pragma once

#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/consent_cache.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/records.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// Who asks, and why.
struct ReadRequest {
  std::string_view partner_id;               ///< from the partner's TLS certificate
  std::string_view worker_id;                ///< the worker the partner's system names
  std::string_view purpose;                  ///< a purpose of the rule pack
  std::optional<std::string_view> category;  ///< only this category, when given
};

/// One access decision taken during a read: what the audit log records for it. Denied fragments
/// appear here (for the audit log) but never in the entries returned to the caller.
struct FragmentDecision {
  FragmentId fragment;
  std::string category;
  std::string owner_partner;
  bool permitted = false;
  bool break_glass = false;
  std::string rule;  ///< stable rule id, e.g. "consent.active:<id>", "matrix.no"
};

/// The outcome of a dossier read.
struct DossierRead {
  std::vector<DossierEntry> entries;        ///< permitted fragments, opened, oldest first
  std::vector<FragmentDecision> decisions;  ///< every current fragment's decision
  std::string role;                         ///< the worker's role (for the audit log)
};

/// Called once per read after every decision is taken and before any field is opened, with every
/// current fragment's decision (permits and denials) and the worker's role. The read goes on only
/// when it returns success — that is, once the audit record of these decisions is durable
/// (BRIEF §4 promise 7). When it fails, read_dossier_for returns its error and opens nothing.
using BeforeOpen =
    std::function<Result<void>(std::span<const FragmentDecision> decisions, std::string_view role)>;

/// A read decided and not yet opened (plan_read): every current fragment's decision, and the
/// permitted fragment versions exactly as listed, their fields still sealed.
struct ReadPlan {
  ClientId client;
  std::string partner_id;  ///< the requesting partner
  std::string role;        ///< the worker's role (for the audit log)
  std::vector<FragmentDecision> decisions;  ///< every current fragment's, oldest first
  std::vector<SealedFragment> permitted;    ///< the permitted ones, oldest first
  /// The partner table the decisions used (owner types; owner names for the answer).
  std::shared_ptr<const std::vector<Partner>> partners;
};

/// The first half of a dossier read, in one read unit of work: the partner's care relationship
/// with the client, the client's consents (through `consents` when given: each document parsed
/// once per rule pack), this worker's break-the-glass grants and the current fragments, every one
/// decided by policy::decide. `partner` and `worker` are the caller as admission found them (not
/// looked up again); the purpose and the optional category must be in the pack (else
/// invalid_argument). No care relationship: not_found, as for an unknown client. Nothing is
/// opened: the caller records `decisions` durably and only then calls open_read.
[[nodiscard]] Result<ReadPlan> plan_read(Storage& storage,
                                         const std::shared_ptr<const policy::RulePack>& pack,
                                         ConsentCache* consents, const ClientId& client,
                                         const Partner& partner, const Worker& worker,
                                         const ReadRequest& request, Instant now);

/// The second half: opens exactly the plan's permitted fragment versions (a version written or
/// superseded since is not opened, nor is its successor), after checking that the partner still
/// has its care relationship with the client (a link or an erasure may have come between).
/// A permitted fragment whose data key is gone comes back with key_unavailable and no fields.
/// Errors: not_found (the relationship went), crypto_failure, the store's.
[[nodiscard]] Result<std::vector<DossierEntry>> open_read(Storage& storage, const ReadPlan& plan);

/// Reads a client's dossier for a worker and purpose. Every current fragment of the client goes
/// through policy::decide with the client's consents (all of them, so a denial names the closest
/// one) and this worker's break-the-glass grants; then `before_open` records the decisions; then
/// only the permitted fragments have their fields opened.
///
/// Checked before any fragment is considered: the partner exists (else not_permitted), the worker
/// is enrolled there (else unknown_worker), the purpose and the optional category are in the rule
/// pack (else invalid_argument), the partner has a care relationship with the client (else
/// not_found — exactly as for an unknown client, so existence does not leak).
///
/// It is plan_read (partner and worker looked up first), before_open, then open_read.
///
/// Threads: as the Storage. `pack` must outlive the call.
[[nodiscard]] Result<DossierRead> read_dossier_for(Storage& storage, const policy::RulePack& pack,
                                                   const ClientId& client,
                                                   const ReadRequest& request, Instant now,
                                                   const BeforeOpen& before_open);

/// The client's consents as policy values: each stored document parsed with `pack`, its id and
/// revocation taken from the store's record (the store is the source of truth for both).
/// Documents that no longer parse under `pack` (a category removed from the pack, say) are
/// skipped: they cannot permit anything. Errors: as ConsentBook::history.
[[nodiscard]] Result<std::vector<policy::Consent>>
consents_for_policy(const ConsentBook& book, const policy::RulePack& pack, const ClientId& client);

}  // namespace sluis::domain
