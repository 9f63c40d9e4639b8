// Operator acts: what an operator asks of a gateway (partners, workers, key rotation, backups,
// erasure, rule-pack reload), as JSON requests with JSON answers, each act audited before it is
// done. The same code runs inside sluisd (behind the operator socket) and inside sluisctl when the
// gateway is stopped, so an act is recorded the same way whichever process does it.
#pragma once

#include "sluis/audit/log.hpp"
#include "sluis/store/records.hpp"
#include "sluis/store/store.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluis::ops {

/// Who asked: the operating-system account on the other end of the operator socket, or the
/// account running sluisctl. Events record it as worker "operator:<user>", role "operator".
struct OperatorIdentity {
  std::string user;
};

/// Everything operator acts need. The pointed-to objects must outlive every call.
struct OperatorContext {
  /// The storage engine every act runs on (SQLCipher or PostgreSQL).
  sluis::store::Storage* store = nullptr;
  /// The SQLCipher engine, when that is the engine: key rotation, backups and restores are its
  /// own acts (on PostgreSQL the database's own tools back up; docs/operations.md). Null: those
  /// acts answer "unavailable" with a sentence saying so.
  sluis::store::Store* sqlcipher = nullptr;
  sluis::audit::AuditLog* audit = nullptr;
  /// The rule pack in force (partner types and roles must be names it defines).
  std::function<std::shared_ptr<const policy::RulePack>()> rules;
  /// Reloads the rule pack from its file and puts it in force (on PostgreSQL: for every node,
  /// stored in the database as loaded by `who`); returns an empty string on success, else a
  /// sentence naming what is wrong (the old pack then stays in force everywhere). Empty
  /// function: reloading is not available (sluisctl on a stopped gateway loads the file at start).
  std::function<std::string(const OperatorIdentity& who)> reload_rules;
  /// Puts the revocation of a partner-certificate serial (hex) in force in the server running in
  /// this process, before the act answers: sluisd wires it to RevocationStore::revoke_now, so
  /// when `sluisctl partner revoke` returns, handshakes and requests with that certificate are
  /// already refused. Returns false when `serial` is not a certificate serial. Empty function:
  /// no server runs here (sluisctl on a stopped gateway; sluisd reads the revocation list file,
  /// which sluisctl writes first, when it starts).
  std::function<bool(std::string_view serial)> revoke_certificate;
  /// The clock events are stamped with (system clock when empty).
  std::function<sluis::store::Instant()> clock;
};

/// Executes one operator request and returns the JSON answer (compact, one line).
///
/// A request is a JSON object with "op" and that op's members; unknown members are refused:
///   {"op":"status"}
///   {"op":"partner.add","id":..,"type":..,"name":..}   {"op":"partner.list"}
///   {"op":"partner.revoke","id":..,["serial":<hex serial of its certificate>]}
///   {"op":"worker.add","partner":..,"worker":..,"role":..}  {"op":"worker.list","partner":..}
///   {"op":"worker.disable"|"worker.enable","partner":..,"worker":..}
///   {"op":"key.rotate"}
///   {"op":"backup","out":"/absolute/dir","key_snapshot":false}
///   {"op":"restore.check","data":"/abs/data-….db","keys":"/abs/keys-….db"}   (either or both)
///   {"op":"restore","data":..,"keys":..,"force":false}   (sluisd stopped; refused with code
///       "would-lose-keys" when fragments would become unreadable, unless force)
///   {"op":"client.erase","scheme":"national-register"|"bis"|"case-number","identifier":..,
///    ["case_partner":..], "reason":..}
///   {"op":"client.erase","partner":..,"pseudonym":..,"reason":..}
///   {"op":"policy.reload"}
/// The answer is {"ok":true,"message":<sentence>, ...op-specific members} or
/// {"ok":false,"code":<stable code>,"error":<sentence a person can act on>}; codes: bad-request,
/// not-found, conflict, unavailable (policy.reload outside sluisd), audit-unavailable, failed.
///
/// partner.revoke with a serial puts the certificate's revocation in force through
/// OperatorContext::revoke_certificate before it answers — also when the partner is revoked in
/// the store already (a repeated revoke still refuses the certificate at once).
///
/// Every act is appended to the audit log (durably) before it is done; a refused request changes
/// nothing and is not an act. If the act then fails in the store, a second event with decision
/// "deny" and rule "store.failed" records that it did not happen. Events never carry an
/// identifier: an erasure names the client by its audit pseudonym, the operator's reason as
/// its purpose. Never throws. Thread-safe as the store and the log are.
[[nodiscard]] std::string execute_operator_request(const OperatorContext& context,
                                                   const OperatorIdentity& who,
                                                   std::string_view request);

/// The longest request execute_operator_request and the operator socket accept (bytes).
inline constexpr std::size_t kMaxOperatorRequest = 64 * 1024;

}  // namespace sluis::ops
