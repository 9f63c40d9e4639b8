// Operator acts as JSON requests: validate, record in the audit log, then do.
#include "sluis/ops/operator.hpp"

#include "sluis/crypto/pseudonym.hpp"
#include "sluis/audit/event.hpp"
#include "sluis/domain/registry.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <system_error>

namespace sluis::ops {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

/// A request that cannot be done, with its stable code and a sentence for the operator.
struct Refusal {
  std::string code;
  std::string sentence;
};

std::string answer_error(const Refusal& r) {
  return json::serialize(json::object{{"ok", false}, {"code", r.code}, {"error", r.sentence}});
}

std::string answer_ok(std::string message, json::object extra = {}) {
  json::object out{{"ok", true}, {"message", std::move(message)}};
  for (auto& [k, v] : extra)
    out[k] = std::move(v);
  return json::serialize(out);
}

/// The members of a request, checked: only known names, strings where strings belong.
class Request {
 public:
  explicit Request(json::object object) : object_(std::move(object)) {}

  [[nodiscard]] std::optional<Refusal> only(std::initializer_list<std::string_view> names) const {
    for (const auto& [k, v] : object_) {
      bool known = k == "op";
      for (auto n : names)
        known = known || k == n;
      if (!known) {
        return Refusal{"bad-request",
                       "the request has a member '" + std::string(k) + "' this act does not take"};
      }
    }
    return std::nullopt;
  }
  /// A required non-empty string member of at most `max` bytes without control characters.
  [[nodiscard]] std::optional<std::string> text(std::string_view name,
                                                std::size_t max = 256) const {
    const auto* v = object_.if_contains(name);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    const auto& s = v->get_string();
    if (s.empty() || s.size() > max) return std::nullopt;
    for (char c : s) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    }
    return std::string(s);
  }
  [[nodiscard]] bool has(std::string_view name) const { return object_.contains(name); }
  [[nodiscard]] std::optional<bool> flag(std::string_view name) const {
    const auto* v = object_.if_contains(name);
    if (v == nullptr) return false;
    if (!v->is_bool()) return std::nullopt;
    return v->get_bool();
  }

 private:
  json::object object_;
};

/// A certificate serial as sluisctl reads it from a certificate: 1-40 hexadecimal digits.
bool is_serial(std::string_view s) {
  return !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

/// A serial as the transport's revocation list prints it (Certificate::serial_hex()): upper-case,
/// no leading zeros. `s` passed is_serial.
std::string canonical_serial(std::string_view s) {
  const auto first = s.find_first_not_of('0');
  std::string out(first == std::string_view::npos ? std::string_view("0") : s.substr(first));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c; });
  return out;
}

/// "a, b, c": the names of a rule pack's definitions, for a sentence naming the choices.
template <class Defs> std::string names_of(const Defs& defs) {
  std::string out;
  for (const auto& d : defs)
    out += (out.empty() ? "" : ", ") + d.name;
  return out;
}

Refusal missing(std::string_view what) {
  return Refusal{"bad-request", "the request lacks " + std::string(what)};
}

/// Runs one act: the intent is appended first; if the act then fails, a follow-up event says so.
class Act {
 public:
  Act(const OperatorContext& ctx, const OperatorIdentity& who, AuditAction action) : ctx_(ctx) {
    event_.time =
        ctx.clock ? ctx.clock()
                  : std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    event_.worker = "operator:" + who.user;
    event_.role = "operator";
    event_.action = action;
    event_.request_id = new_request_id();
  }
  AuditEvent& event() { return event_; }

  /// Appends the intent. A Refusal when the event does not encode (a text the operator gave is
  /// not valid UTF-8) or the log cannot take it.
  [[nodiscard]] std::optional<Refusal> record() {
    if (!encode_audit_event(event_)) {
      return Refusal{"bad-request", "a text in the request is not valid UTF-8 or is too long"};
    }
    if (!ctx_.audit->append(event_)) {
      return Refusal{"audit-unavailable", "the audit log cannot record this act, so nothing was "
                                          "done; check the disk holding the data directory"};
    }
    return std::nullopt;
  }
  /// Records that the recorded act did not happen.
  void failed() {
    AuditEvent e = event_;
    e.decision = AuditDecision::deny;
    e.rule = e.rule.empty() ? "store.failed" : e.rule + " store.failed";
    (void)ctx_.audit->append(e);
  }

 private:
  static std::string new_request_id() {
    unsigned char bytes[8];
    randombytes_buf(bytes, sizeof bytes);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "op-";
    for (unsigned char b : bytes) {
      id += kHex[b >> 4];
      id += kHex[b & 15];
    }
    return id;
  }

  const OperatorContext& ctx_;
  AuditEvent event_;
};

std::string store_failure(std::string_view what, const boost::system::error_code& ec) {
  return answer_error(Refusal{"failed", std::string(what) + ": " + ec.message() +
                                            "; nothing was changed (the audit log says so)"});
}

/// The refusal of an act only the SQLCipher engine has, on another engine; nullopt on SQLCipher.
std::optional<Refusal> needs_sqlcipher(const OperatorContext& ctx, std::string_view act) {
  if (ctx.sqlcipher != nullptr) return std::nullopt;
  return Refusal{"unavailable",
                 std::string(act) + " is an act of the embedded SQLCipher engine; this gateway "
                 "stores its records in PostgreSQL, whose own tools back up, restore and "
                 "protect them (docs/operations.md, \"PostgreSQL\")"};
}

std::string do_status(const OperatorContext& ctx) {
  Registry registry(*ctx.store);
  auto partners = registry.list_partners();
  auto clients = registry.client_count();
  json::object extra{{"audit_events", ctx.audit->size()},
                     {"partners", partners ? partners->size() : 0},
                     {"clients", clients ? *clients : 0},
                     {"audit_origin", ctx.audit->origin()}};
  return answer_ok("the gateway is running", std::move(extra));
}

std::string partner_add(const OperatorContext& ctx, const OperatorIdentity& who,
                        const Request& req) {
  if (auto r = req.only({"id", "type", "name"})) return answer_error(*r);
  const auto id = req.text("id", 64);
  const auto type = req.text("type", 64);
  const auto name = req.text("name", 200);
  if (!id || !type || !name) return answer_error(missing("id, type and name (strings)"));
  if (!is_valid_name(*id)) {
    return answer_error(Refusal{"bad-request", "a partner id is 1-64 characters of a-z, 0-9, "
                                               "'-', '_' and '.', e.g. ocmw-brussel"});
  }
  if (const auto pack = ctx.rules(); !pack->partner_type(*type)) {
    return answer_error(Refusal{"bad-request", "'" + *type +
                                                   "' is not a partner type of the rule pack; "
                                                   "its partner types are: " +
                                                   names_of(pack->partner_types())});
  }
  Registry registry(*ctx.store);
  if (registry.find_partner(*id)) {
    return answer_error(Refusal{"conflict", "partner " + *id + " exists already"});
  }
  Act act(ctx, who, AuditAction::partner_add);
  act.event().owner_partner = *id;
  act.event().rule = "type:" + *type;
  if (auto r = act.record()) return answer_error(*r);
  if (auto r = registry.add_partner(*id, *type, *name); !r) {
    act.failed();
    return store_failure("cannot add partner " + *id, r.error());
  }
  return answer_ok("partner " + *id + " added", {{"request_id", act.event().request_id}});
}

std::string partner_list(const OperatorContext& ctx, const Request& req) {
  if (auto r = req.only({})) return answer_error(*r);
  auto partners = Registry(*ctx.store).list_partners();
  if (!partners) return store_failure("cannot list partners", partners.error());
  json::array list;
  for (const auto& p : *partners) {
    list.push_back(json::object{{"id", p.id},
                                {"type", p.partner_type},
                                {"name", p.display_name},
                                {"status", p.revoked_at ? "revoked" : "active"}});
  }
  return answer_ok(std::to_string(list.size()) + " partners", {{"partners", std::move(list)}});
}

std::string partner_revoke(const OperatorContext& ctx, const OperatorIdentity& who,
                           const Request& req) {
  if (auto r = req.only({"id", "serial"})) return answer_error(*r);
  const auto id = req.text("id", 64);
  if (!id) return answer_error(missing("id (a string)"));
  const auto serial = req.text("serial", 64);
  if (req.has("serial") && !serial) {
    return answer_error(missing("serial: the certificate's serial in hexadecimal"));
  }
  Registry registry(*ctx.store);
  auto partner = registry.find_partner(*id);
  if (!partner) return answer_error(Refusal{"not-found", "there is no partner " + *id});
  if (serial && !is_serial(*serial)) {
    return answer_error(Refusal{"bad-request", "'" + *serial +
                                                   "' is not a certificate serial (1-40 "
                                                   "hexadecimal digits)"});
  }
  // /v1 requests are refused by the partner's status in the store; handshakes and every other
  // route (/healthz) by the revocation list in force in the server. Both are in force before the
  // operator reads "revoked" — not a second later, when change detection would see the file.
  const auto refuse_certificate = [&] {
    if (serial && ctx.revoke_certificate) (void)ctx.revoke_certificate(*serial);
  };
  // On PostgreSQL the serial is also stored for every node's transport (in the revoking
  // transaction; on SQLCipher the file sluisctl wrote is the record).
  const std::optional<std::string> stored_serial =
      serial ? std::optional<std::string>(canonical_serial(*serial)) : std::nullopt;
  if (partner->revoked_at) {
    refuse_certificate();  // a repeated revoke (e.g. after a failed one) still takes effect
    if (stored_serial) {
      if (auto r = registry.revoke_certificate(*id, *stored_serial); !r) {
        return store_failure("cannot record the certificate of " + *id + " as revoked",
                             r.error());
      }
    }
    return answer_error(Refusal{"conflict", "partner " + *id + " is revoked already"});
  }
  Act act(ctx, who, AuditAction::partner_revoke);
  act.event().owner_partner = *id;
  if (auto r = act.record()) return answer_error(*r);
  refuse_certificate();
  if (auto r = registry.revoke_partner(
          *id, stored_serial ? std::optional<std::string_view>(*stored_serial) : std::nullopt);
      !r) {
    act.failed();
    return store_failure("cannot revoke partner " + *id, r.error());
  }
  return answer_ok("partner " + *id + " revoked", {{"request_id", act.event().request_id}});
}

std::string worker_list(const OperatorContext& ctx, const Request& req) {
  if (auto r = req.only({"partner"})) return answer_error(*r);
  const auto partner = req.text("partner", 64);
  if (!partner) return answer_error(missing("partner (a string)"));
  Registry registry(*ctx.store);
  if (!registry.find_partner(*partner)) {
    return answer_error(Refusal{"not-found", "there is no partner " + *partner});
  }
  auto workers = registry.list_workers(*partner);
  if (!workers) return store_failure("cannot list workers", workers.error());
  json::array list;
  for (const auto& w : *workers) {
    list.push_back(json::object{
        {"worker", w.worker_id}, {"role", w.role}, {"status", w.active ? "active" : "disabled"}});
  }
  return answer_ok(std::to_string(list.size()) + " workers", {{"workers", std::move(list)}});
}

std::string worker_change(const OperatorContext& ctx, const OperatorIdentity& who,
                          const Request& req, std::string_view verb) {
  const bool add = verb == "add";
  if (auto r = add ? req.only({"partner", "worker", "role"}) : req.only({"partner", "worker"})) {
    return answer_error(*r);
  }
  const auto partner = req.text("partner", 64);
  const auto worker = req.text("worker", 128);
  const auto role = add ? req.text("role", 64) : std::optional<std::string>("");
  if (!partner || !worker || !role) {
    return answer_error(
        missing(add ? "partner, worker and role (strings)" : "partner and worker (strings)"));
  }
  if (!is_valid_worker_id(*worker)) {
    return answer_error(Refusal{"bad-request", "a worker id is 1-128 characters without "
                                               "control characters"});
  }
  Registry registry(*ctx.store);
  if (!registry.find_partner(*partner)) {
    return answer_error(Refusal{"not-found", "there is no partner " + *partner});
  }
  const auto existing = registry.find_worker(*partner, *worker);
  if (add) {
    if (const auto pack = ctx.rules(); !pack->role(*role)) {
      return answer_error(Refusal{"bad-request", "'" + *role +
                                                     "' is not a role of the rule pack; its "
                                                     "roles are: " +
                                                     names_of(pack->roles())});
    }
    if (existing) {
      return answer_error(
          Refusal{"conflict", "worker " + *worker + " is enrolled at " + *partner + " already"});
    }
  } else if (!existing) {
    return answer_error(
        Refusal{"not-found", "there is no worker " + *worker + " at partner " + *partner});
  }
  const AuditAction action = add                ? AuditAction::worker_add
                             : verb == "enable" ? AuditAction::worker_enable
                                                : AuditAction::worker_disable;
  Act act(ctx, who, action);
  act.event().owner_partner = *partner;
  act.event().rule = "worker:" + *worker + (add ? " role:" + *role : "");
  if (auto r = act.record()) return answer_error(*r);
  const auto done = add ? registry.add_worker(*partner, *worker, *role)
                        : registry.set_worker_active(*partner, *worker, verb == "enable");
  if (!done) {
    act.failed();
    return store_failure("cannot change worker " + *worker, done.error());
  }
  const std::string what = add                ? "enrolled at " + *partner
                           : verb == "enable" ? "enabled at " + *partner
                                              : "disabled at " + *partner + ": refused from now on";
  return answer_ok("worker " + *worker + " " + what, {{"request_id", act.event().request_id}});
}

std::string key_rotate(const OperatorContext& ctx, const OperatorIdentity& who,
                       const Request& req) {
  if (auto r = req.only({})) return answer_error(*r);
  if (ctx.sqlcipher == nullptr) {
    return answer_error(Refusal{
        "unavailable",
        "on PostgreSQL the key-encryption keys are in the KEK ring file: rotate them with "
        "'sluisctl store kek rotate --home DIR' and destroy old versions with 'sluisctl store kek "
        "destroy' (docs/operations.md \"The KEK ring and the erasure ledger\"); nothing was "
        "changed"});
  }
  Act act(ctx, who, AuditAction::key_rotate);
  act.event().rule = "kek:rotate";
  if (auto r = act.record()) return answer_error(*r);
  auto version = ctx.sqlcipher->rotate_kek();
  if (!version) {
    act.failed();
    return store_failure("the rotation failed", version.error());
  }
  return answer_ok("key-encryption key rotated: version " + std::to_string(version->value) +
                       " is current; older versions are destroyed",
                   {{"kek_version", version->value}, {"request_id", act.event().request_id}});
}

std::string backup(const OperatorContext& ctx, const OperatorIdentity& who, const Request& req) {
  if (auto r = req.only({"out", "key_snapshot"})) return answer_error(*r);
  if (auto r = needs_sqlcipher(ctx, "a backup by sluisd")) return answer_error(*r);
  const auto out = req.text("out", 4096);
  const auto with_keys = req.flag("key_snapshot");
  if (!out || !with_keys)
    return answer_error(missing("out (a directory) and key_snapshot (true/false)"));
  const fs::path dir(*out);
  if (!dir.is_absolute()) {
    return answer_error(Refusal{"bad-request", "out must be an absolute directory path"});
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return answer_error(Refusal{"bad-request", "cannot create the directory " + dir.string() +
                                                   " (as the gateway's account); choose another"});
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  // Named by the second; a second backup in the same second (a restore's fresh backup right
  // after an operator's) gets "-2", "-3", ... after the stamp.
  const auto second = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  fs::path data;
  fs::path keys;
  constexpr int kPerSecond = 100;
  for (int n = 1;; ++n) {
    if (n > kPerSecond) {
      return answer_error(Refusal{"conflict", "a hundred backups with this second's stamp exist "
                                              "in " +
                                                  dir.string() + "; wait a second and retry"});
    }
    const std::string stamp = n == 1 ? second : second + "-" + std::to_string(n);
    data = dir / ("data-" + stamp + ".db");
    keys = dir / ("keys-" + stamp + ".db");
    if (!fs::exists(data, ec) && !fs::exists(keys, ec)) break;
  }
  Act act(ctx, who, AuditAction::backup);
  act.event().rule = *with_keys ? "data+key-snapshot" : "data";
  if (auto r = act.record()) return answer_error(*r);
  if (auto r = ctx.sqlcipher->backup_data(data); !r) {
    act.failed();
    return store_failure("the data backup failed", r.error());
  }
  // The snapshot first: it starts a new key journal, so the data backup taken right after holds
  // a journal that this snapshot opens (docs/store.md "Key journal").
  if (*with_keys) {
    if (auto r = ctx.sqlcipher->snapshot_key_store(keys); !r) {
      act.failed();
      return store_failure("the key-store snapshot failed", r.error());
    }
  }
  if (auto r = ctx.sqlcipher->backup_data(data); !r) {
    act.failed();
    return store_failure(*with_keys ? "the key-store snapshot was written but the data backup failed"
                                    : "the data backup failed",
                         r.error());
  }
  json::object extra{{"data", data.string()}, {"request_id", act.event().request_id}};
  std::string message = "data store backed up to " + data.string() +
                        " (encrypted; no key material: its key journal opens only with a key "
                        "snapshot)";
  if (*with_keys) {
    extra["keys"] = keys.string();
    message += "; key-store snapshot written to " + keys.string();
  }
  return answer_ok(std::move(message), std::move(extra));
}

/// The files a restore names: "data" (a data backup) and/or "keys" (a key-store snapshot),
/// absolute paths of existing files.
struct RestoreFiles {
  fs::path data;
  fs::path keys;
};

std::optional<Refusal> restore_files(const Request& req, RestoreFiles& out) {
  for (const auto* name : {"data", "keys"}) {
    if (!req.has(name)) continue;
    const auto text = req.text(name, 4096);
    if (!text || !fs::path(*text).is_absolute()) {
      return Refusal{"bad-request", std::string(name) + " must be an absolute file path"};
    }
    std::error_code ec;
    if (!fs::is_regular_file(*text, ec)) {
      return Refusal{"not-found", "there is no file " + *text};
    }
    (std::string_view(name) == "data" ? out.data : out.keys) = *text;
  }
  if (out.data.empty() && out.keys.empty()) {
    return missing("data (a data backup) and/or keys (a key-store snapshot)");
  }
  return std::nullopt;
}

json::object check_members(const RestoreCheck& c) {
  return json::object{{"fragments", c.fragments},
                      {"unreadable_fragments", c.unreadable_fragments},
                      {"unreadable_clients", c.unreadable_clients},
                      {"journal_keys", c.journal_keys},
                      {"journal_matches", c.journal_matches},
                      {"journal_snapshot", c.journal_snapshot}};
}

std::string restore_refusal_sentence(const boost::system::error_code& ec, const RestoreFiles& f) {
  if (ec == Errc::database_key_mismatch) {
    return "the file does not open with this gateway's root key (it is not a backup of this "
           "gateway, or it is damaged); nothing was changed";
  }
  if (ec == Errc::schema_too_new) {
    return "the backup was written by a newer sluis; upgrade first; nothing was changed";
  }
  return "cannot read " + (f.keys.empty() ? f.data : f.keys).string() + ": " + ec.message() +
         "; nothing was changed";
}

/// Checks a restore without doing it, or does it: sluisd must be stopped (its stores and caches
/// would not see the files replaced), and a restore that would leave fragments unreadable is
/// refused unless "force" is true.
std::string restore(const OperatorContext& ctx, const OperatorIdentity& who, const Request& req,
                    bool check_only) {
  if (auto r = check_only ? req.only({"data", "keys"}) : req.only({"data", "keys", "force"})) {
    return answer_error(*r);
  }
  if (auto r = needs_sqlcipher(ctx, "a restore by sluisctl")) return answer_error(*r);
  if (ctx.reload_rules) {
    return answer_error(Refusal{"conflict", "stop sluisd before a restore (systemctl stop sluisd); "
                                            "a running gateway would keep using the files "
                                            "being replaced"});
  }
  RestoreFiles files;
  if (auto r = restore_files(req, files)) return answer_error(*r);
  const auto force = req.flag("force");
  if (!force) return answer_error(missing("force (true/false)"));
  auto check = ctx.sqlcipher->check_restore(files.data, files.keys);
  if (!check) return answer_error(Refusal{"bad-request", restore_refusal_sentence(check.error(), files)});
  if (check_only) return answer_ok("restore checked", check_members(*check));
  if (check->unreadable_fragments > 0 && !*force) {
    return answer_error(Refusal{
        "would-lose-keys",
        "this restore would leave " + std::to_string(check->unreadable_fragments) +
            " fragments of " + std::to_string(check->unreadable_clients) +
            " clients unreadable (their data keys are in neither the key snapshot nor the key "
            "journal); nothing was changed"});
  }
  Act act(ctx, who, AuditAction::restore);
  std::string what = files.data.empty() ? "" : "data";
  if (!files.keys.empty()) what += what.empty() ? "key-snapshot" : "+key-snapshot";
  if (check->unreadable_fragments > 0) what += " forced:unreadable=" +
                                               std::to_string(check->unreadable_fragments);
  act.event().rule = what;
  if (auto r = act.record()) return answer_error(*r);
  if (!files.data.empty()) {
    if (auto r = ctx.sqlcipher->restore_data_backup(files.data); !r) {
      act.failed();
      return store_failure("the data restore failed", r.error());
    }
  }
  std::size_t given_back = 0;
  if (!files.keys.empty()) {
    auto r = ctx.sqlcipher->restore_key_store_snapshot(files.keys);
    if (!r) {
      act.failed();
      return store_failure("the key-store restore failed", r.error());
    }
    given_back = *r;
  }
  auto extra = check_members(*check);
  extra["journal_keys_given_back"] = given_back;
  extra["request_id"] = act.event().request_id;
  std::string message = "restored";
  if (!files.data.empty()) message += " the data store from " + files.data.string();
  if (!files.keys.empty()) {
    message += std::string(files.data.empty() ? "" : " and") + " the key store from " +
               files.keys.string() + "; the key journal gave back " + std::to_string(given_back) +
               " data keys made after that snapshot";
  }
  message += "; every erasure recorded since was applied again";
  return answer_ok(std::move(message), std::move(extra));
}

std::optional<crypto::IdentifierScheme> scheme_named(std::string_view name) {
  if (name == "national-register") return crypto::IdentifierScheme::national_register;
  if (name == "bis") return crypto::IdentifierScheme::bis;
  if (name == "case-number") return crypto::IdentifierScheme::case_number;
  return std::nullopt;
}

std::string client_erase(const OperatorContext& ctx, const OperatorIdentity& who,
                         const Request& req) {
  const bool by_identifier = req.has("identifier");
  if (auto r = by_identifier ? req.only({"scheme", "identifier", "case_partner", "reason"})
                             : req.only({"partner", "pseudonym", "reason"})) {
    return answer_error(*r);
  }
  const auto reason = req.text("reason", 200);
  if (!reason) {
    return answer_error(missing("reason: why the client is erased (e.g. the request's reference), "
                                "1-200 characters; it goes into the audit log"));
  }
  Registry registry(*ctx.store);
  Result<ClientId> client = Errc::not_found;
  if (by_identifier) {
    const auto scheme_text = req.text("scheme", 32);
    const auto identifier = req.text("identifier", 64);
    const auto scheme = scheme_text ? scheme_named(*scheme_text) : std::nullopt;
    if (!scheme || !identifier) {
      return answer_error(Refusal{"bad-request", "give scheme (national-register, bis or "
                                                 "case-number) and identifier"});
    }
    const auto case_partner = req.text("case_partner", 64);
    if (*scheme == crypto::IdentifierScheme::case_number && !case_partner) {
      return answer_error(missing("case_partner: a case number is the number at one partner"));
    }
    client = registry.find_identified(*scheme, *identifier, case_partner.value_or(""));
    if (!client && client.error() == Errc::invalid_argument) {
      return answer_error(Refusal{"bad-request", "the identifier is not a valid " + *scheme_text +
                                                     " number; check it"});
    }
  } else {
    const auto partner = req.text("partner", 64);
    const auto pseudonym = req.text("pseudonym", 64);
    if (!partner || !pseudonym) {
      return answer_error(missing("either scheme and identifier, or partner and pseudonym"));
    }
    client = registry.resolve(*partner, *pseudonym);
  }
  if (!client) {
    if (client.error() == Errc::not_found) {
      return answer_error(Refusal{"not-found", "no client matches; nothing was erased"});
    }
    return store_failure("cannot look the client up", client.error());
  }
  Act act(ctx, who, AuditAction::erasure);
  act.event().client = sluis::domain::audit_pseudonym(*ctx.store, *client);
  act.event().purpose = *reason;
  act.event().decision = AuditDecision::permit;
  act.event().rule = "erasure.operator";
  if (auto r = act.record()) return answer_error(*r);
  auto erased = registry.erase_client(*client);
  if (!erased) {
    act.failed();
    return store_failure("the erasure failed", erased.error());
  }
  return answer_ok("client erased: every fragment, pseudonym, relationship and consent is "
                   "deleted and the data keys are destroyed; the audit log names the client as " +
                       *erased,
                   {{"audit_pseudonym", *erased}, {"request_id", act.event().request_id}});
}

std::string policy_reload(const OperatorContext& ctx, const OperatorIdentity& who,
                          const Request& req) {
  if (auto r = req.only({})) return answer_error(*r);
  if (!ctx.reload_rules) {
    return answer_error(Refusal{"unavailable", "the gateway is not running; it loads the rule "
                                               "pack when it starts"});
  }
  if (auto problem = ctx.reload_rules(who); !problem.empty()) {
    return answer_error(Refusal{"bad-request", problem});
  }
  const auto pack = ctx.rules();
  Act act(ctx, who, AuditAction::policy_reload);
  act.event().rule = "rule-pack:" + pack->name() + "@" + pack->version();
  if (auto r = act.record()) return answer_error(*r);
  return answer_ok("rule pack " + pack->name() + " version " + pack->version() + " is in force",
                   {{"request_id", act.event().request_id}});
}

std::string dispatch(const OperatorContext& ctx, const OperatorIdentity& who, std::string_view op,
                     const Request& req) {
  if (op == "status") return do_status(ctx);
  if (op == "partner.add") return partner_add(ctx, who, req);
  if (op == "partner.list") return partner_list(ctx, req);
  if (op == "partner.revoke") return partner_revoke(ctx, who, req);
  if (op == "worker.add") return worker_change(ctx, who, req, "add");
  if (op == "worker.disable") return worker_change(ctx, who, req, "disable");
  if (op == "worker.enable") return worker_change(ctx, who, req, "enable");
  if (op == "worker.list") return worker_list(ctx, req);
  if (op == "key.rotate") return key_rotate(ctx, who, req);
  if (op == "backup") return backup(ctx, who, req);
  if (op == "restore.check") return restore(ctx, who, req, true);
  if (op == "restore") return restore(ctx, who, req, false);
  if (op == "client.erase") return client_erase(ctx, who, req);
  if (op == "policy.reload") return policy_reload(ctx, who, req);
  return answer_error(Refusal{"bad-request", "unknown op '" + std::string(op) + "'"});
}

}  // namespace

std::string execute_operator_request(const OperatorContext& context, const OperatorIdentity& who,
                                     std::string_view request) {
  try {
    if (request.size() > kMaxOperatorRequest) {
      return answer_error(Refusal{"bad-request", "the request is larger than 64 KiB"});
    }
    json::parse_options options;
    options.max_depth = 4;
    boost::system::error_code ec;
    json::value parsed = json::parse(request, ec, {}, options);
    if (ec || !parsed.is_object()) {
      return answer_error(Refusal{"bad-request", "the request is not a JSON object"});
    }
    auto& object = parsed.get_object();
    const auto* op = object.if_contains("op");
    if (op == nullptr || !op->is_string()) {
      return answer_error(Refusal{"bad-request", "the request has no \"op\""});
    }
    const std::string op_name(op->get_string());
    return dispatch(context, who, op_name, Request(std::move(object)));
  } catch (const std::exception&) {
    // Allocation failure or a bug: nothing half-done is reported as done.
    return answer_error(Refusal{"failed", "the gateway could not complete the request; see its "
                                          "log, and check the audit log for what was recorded"});
  }
}

}  // namespace sluis::ops
