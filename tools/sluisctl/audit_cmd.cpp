// sluisctl audit: verify the audit log, query and export it, DPO report and client access report.
#include "sluis/audit/log.hpp"
#include "sluis/audit/report.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/pgaudit/pg_audit_log.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"
#include "sluis/store/store.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace sluis::ctl {

int run_audit(Args args);

namespace {

using sluis::audit::AuditLog;

constexpr const char* kAuditUsage =
    "usage (every command takes --key FILE [--passphrase-file F] and either --log FILE, the\n"
    "SQLCipher audit file, or --config FILE, the gateway's sluis.toml: with [store] engine =\n"
    "\"postgresql\" the log in that database, otherwise data_dir/audit.db; --key defaults to\n"
    "the config's key_file):\n"
    "  sluisctl audit verify [--page-map]\n"
    "      Checks every page of the file (damaged or altered pages named, with the events they\n"
    "      held), recomputes the whole tree from the events, checks every checkpoint's signature\n"
    "      and their consistency; names the first event that differs. Exit 1 when it fails.\n"
    "      On PostgreSQL the same checks without the page walk (there is no file).\n"
    "      --page-map also lists what every page of the file holds (SQLCipher only).\n"
    "  sluisctl audit checkpoint\n"
    "      Prints the latest signed checkpoint and the verifier key witnesses configure.\n"
    "  sluisctl audit query [filters] [--cursor N] [--limit N]\n"
    "  sluisctl audit export --format jsonl|csv|fhir [filters] [--out FILE]\n"
    "      filters: --client-pseudonym a1... --partner P --worker W --action A\n"
    "               --decision permit|deny|n/a --from T --until T (T = 2025-03-01T00:00:00Z)\n"
    "               --scope-partner P (a partner's DPO: only events where P acted or owned)\n"
    "  sluisctl audit report [--from T] [--until T] [--scope-partner P] [--html FILE]\n"
    "      The DPO report: break-the-glass review (with each grant's written reason when\n"
    "      --data and --key-store are given; refused requests apart), denials by worker,\n"
    "      access outside care relationships, unusual volumes.\n"
    "  sluisctl audit access-report --client-pseudonym a1... --lang nl|fr|en [--html FILE]\n"
    "      The client's \"who saw my data\" report, one page per month.\n"
    "  Names on reports: --data FILE --key-store FILE (partner display names from the store)\n"
    "  and --pack FILE (labels of a rule pack).\n";

const std::set<std::string_view> kCommon{"key",  "passphrase-file", "log", "config",
                                         "data", "key-store",       "pack"};
const std::set<std::string_view> kFilters{"client-pseudonym", "partner", "worker", "action",
                                          "decision",         "from",    "until",  "scope-partner"};

std::set<std::string_view> with(std::set<std::string_view> base,
                                std::initializer_list<std::string_view> more) {
  base.insert(more.begin(), more.end());
  return base;
}

std::set<std::string_view> with_filters(std::initializer_list<std::string_view> more) {
  auto s = with(kCommon, more);
  s.insert(kFilters.begin(), kFilters.end());
  return s;
}

/// Everything a command needs: the root key (kept only while opening), the log, report names.
struct Opened {
  std::unique_ptr<AuditLog> log;
  std::unique_ptr<sluis::store::Store> store;  ///< when --data and --key-store were given
  sluis::audit::ReportNames names;
  std::optional<policy::RulePack> pack;
};

/// Where the log is: --log FILE (SQLCipher), or --config FILE (the gateway's sluis.toml: its
/// [store] database on PostgreSQL, its data_dir/audit.db otherwise).
struct LogLocation {
  std::optional<sluis::daemon::DaemonConfig> config;  ///< when --config was given
  std::string path;                                   ///< the SQLCipher file (empty on PostgreSQL)
  [[nodiscard]] bool postgresql() const {
    return config && config->store.engine == sluis::daemon::StoreEngine::postgresql;
  }
};

LogLocation locate_log(const Options& opt) {
  LogLocation where;
  const auto config = opt.get("config");
  if (config.has_value() == opt.get("log").has_value()) {
    throw UsageError("give the audit log as --log FILE or the gateway's configuration as "
                     "--config FILE (one of them)");
  }
  if (!config) {
    where.path = opt.require("log");
    return where;
  }
  try {
    where.config = sluis::daemon::load_daemon_config(*config);
  } catch (const std::exception& e) {
    throw UsageError(std::string("the configuration does not load: ") + e.what());
  }
  if (!where.postgresql()) where.path = (where.config->data_dir / "audit.db").string();
  return where;
}

std::optional<crypto::RootKey> read_root(const Options& opt) {
  std::filesystem::path path;
  if (auto key = opt.get("key")) {
    path = *key;
  } else if (opt.get("config")) {
    path = locate_log(opt).config->key_file;
  } else {
    path = opt.require("key");
  }
  auto sealed = crypto::root_key_file_is_sealed(path);
  if (!sealed) {
    std::cerr << "sluisctl: " << path.string()
              << " is not a usable root key file: " << sealed.error().message() << "\n";
    return std::nullopt;
  }
  crypto::SecretBuffer pass(0);
  if (*sealed) pass = read_passphrase(opt.get("passphrase-file"), "Passphrase: ", false);
  auto root = crypto::read_root_key(path, pass.reveal());
  if (!root) {
    std::cerr << "sluisctl: " << path.string() << " does not open: " << root.error().message()
              << "\n";
    return std::nullopt;
  }
  return std::move(*root);
}

// Where a DPO finds what to do about a damaged or altered log.
constexpr const char* kIncidentSteps =
    "What to do: keep this file exactly as it is (copy it, with its -wal file if there is one, "
    "for the record; do not repair it and do not start sluisd on it), and follow the incident "
    "steps in the DPO guide (docs/dpo-guide.md, \"When the audit log is damaged or altered\").\n";

/// The log in the PostgreSQL database of `config`'s [store], read-only.
sluis::store::Result<std::unique_ptr<AuditLog>>
open_pg_log(const sluis::daemon::DaemonConfig& config, const crypto::RootKey& root) {
  sluis::pgaudit::PgAuditLogOptions options;
  options.database.conninfo = config.store.conninfo;
  options.database.sslmode = config.store.sslmode;
  options.database.sslrootcert = config.store.sslrootcert;
  options.database.password_file = config.store.password_file;
  options.database.application_name = "sluisctl";
  options.origin.clear();  // whatever the database says
  options.read_only = true;
  return sluis::pgaudit::open_pg_audit_log(std::move(options), root);
}

std::optional<Opened> open_log_with(const Options& opt, const crypto::RootKey& root,
                                    sluis::store::Errc* failure = nullptr) {
  const LogLocation where = locate_log(opt);
  const std::string log_path =
      where.postgresql() ? "in the PostgreSQL database of [store] conninfo" : where.path;
  Opened o;
  sluis::audit::AuditLogOptions options;
  options.path = where.path;
  options.origin.clear();  // whatever the file says
  options.read_only = true;
  auto log = where.postgresql() ? open_pg_log(*where.config, root)
                                : AuditLog::open(std::move(options), root);
  if (!log) {
    if (failure != nullptr && log.error().category() == sluis::store::gateway_category()) {
      *failure = static_cast<sluis::store::Errc>(log.error().value());
    }
    if (log.error() == sluis::store::Errc::file_damaged) {
      std::cerr << "sluisctl: the audit log " << log_path
                << " is damaged or was altered: a page SQLite needs to open it fails its "
                   "integrity check. 'sluisctl audit verify' names the pages.\n";
    } else {
      std::cerr << "sluisctl: the audit log " << log_path
                << " does not open: " << log.error().message() << "\n";
    }
    return std::nullopt;
  }
  o.log = std::move(*log);
  const auto data = opt.get("data");
  const auto keys = opt.get("key-store");
  if (data.has_value() != keys.has_value()) {
    throw UsageError("give both --data FILE and --key-store FILE, or neither");
  }
  if (data) {
    if (!std::filesystem::exists(*data) || !std::filesystem::exists(*keys)) {
      std::cerr << "sluisctl: the store files " << *data << " and " << *keys
                << " must both exist\n";
      return std::nullopt;
    }
    sluis::store::StoreOptions so;
    so.data_path = *data;
    so.key_store_path = *keys;
    auto store = sluis::store::Store::open(std::move(so), root);
    if (!store) {
      std::cerr << "sluisctl: the store does not open: " << store.error().message() << "\n";
      return std::nullopt;
    }
    sluis::domain::Registry registry(**store);
    auto partners = registry.list_partners();
    if (!partners) {
      std::cerr << "sluisctl: cannot list partners: " << partners.error().message() << "\n";
      return std::nullopt;
    }
    for (const auto& p : *partners)
      o.names.partner_display_names[p.id] = p.display_name;
    o.store = std::move(*store);
  }
  if (auto pack = opt.get("pack")) {
    auto loaded = policy::load_rule_pack(*pack);
    if (!loaded) {
      std::cerr << "sluisctl: the rule pack " << *pack
                << " does not load; check it with sluisctl policy check\n";
      return std::nullopt;
    }
    o.pack = std::move(*loaded);
  }
  return o;
}

std::optional<Opened> open_log(const Options& opt) {
  auto root = read_root(opt);
  if (!root) return std::nullopt;
  return open_log_with(opt, *root);
}

std::optional<sluis::store::Instant> time_option(const Options& opt, const std::string& name) {
  auto v = opt.get(name);
  if (!v) return std::nullopt;
  auto t = policy::parse_time(*v);
  if (!t) {
    throw UsageError("option --" + name + " needs a UTC time like 2025-03-01T00:00:00Z, not '" +
                     *v + "'");
  }
  return sluis::store::Instant(*t);
}

sluis::audit::AuditQuery query_from(const Options& opt) {
  sluis::audit::AuditQuery q;
  q.client = opt.get("client-pseudonym");
  q.partner = opt.get("partner");
  q.worker = opt.get("worker");
  q.scope_partner = opt.get("scope-partner");
  if (auto a = opt.get("action")) {
    q.action = sluis::audit::parse_audit_action(*a);
    if (!q.action) {
      throw UsageError("option --action needs an action such as read, consent-grant or "
                       "break-glass-start, not '" +
                       *a + "'");
    }
  }
  if (auto d = opt.get("decision")) {
    q.decision = sluis::audit::parse_audit_decision(*d);
    if (!q.decision) throw UsageError("option --decision needs permit, deny or n/a");
  }
  q.from = time_option(opt, "from");
  q.until = time_option(opt, "until");
  return q;
}

bool write_output(const std::optional<std::string>& path, const std::string& text) {
  if (!path) {
    std::cout << text;
    return true;
  }
  std::ofstream out(*path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "sluisctl: could not write " << *path << "\n";
    return false;
  }
  return true;
}

std::string hex(const crypto::Hash& h) {
  return crypto::to_hex(h);
}

void print_damaged_pages(const std::vector<sluis::audit::AuditFilePage>& pages, std::uint64_t total) {
  std::cout << "THE AUDIT LOG FILE IS DAMAGED OR WAS ALTERED: " << pages.size() << " of its "
            << total << " pages fail their integrity check (SQLCipher HMAC).\n";
  for (const auto& p : pages) {
    std::cout << "  page " << p.number << " (bytes " << p.offset << " to "
              << p.offset + sluis::audit::AuditFileCheck::kPageSize - 1 << "): it holds " << p.holds
              << "\n";
  }
}

int audit_verify(Args args) {
  const Options opt(args, kCommon, {"page-map"});
  const LogLocation where = locate_log(opt);
  const std::string& log_path = where.path;
  if (where.postgresql() && opt.flag("page-map")) {
    throw UsageError("--page-map lists the pages of a SQLCipher audit file; this gateway keeps "
                     "its audit log in PostgreSQL (run audit verify without it)");
  }
  auto root = read_root(opt);
  if (!root) return kExitFailed;
  if (opt.flag("page-map")) {
    auto check = sluis::audit::check_audit_file(log_path, *root, true);
    if (!check) {
      std::cerr << "sluisctl: the audit log " << log_path
                << " could not be read: " << check.error().message() << "\n";
      return kExitFailed;
    }
    for (const auto& p : check->map) {
      std::cout << "page " << p.number << " (bytes " << p.offset << "): " << p.holds
                << (p.damaged ? " - DAMAGED" : "") << "\n";
    }
  }
  sluis::store::Errc failure{};
  auto o = open_log_with(opt, *root, &failure);
  if (!o) {
    if (failure != sluis::store::Errc::file_damaged || where.postgresql()) return kExitFailed;
    // SQLite cannot open it at all: the page walk alone still says where.
    auto check = sluis::audit::check_audit_file(log_path, *root);
    if (check && !check->damaged.empty()) print_damaged_pages(check->damaged, check->pages);
    std::cout << kIncidentSteps;
    return kExitFailed;
  }
  auto report = o->log->verify();
  if (!report) {
    std::cerr << "sluisctl: the audit log could not be read: " << report.error().message() << "\n";
    return kExitFailed;
  }
  if (report->ok()) {
    std::cout << "The audit log verifies: " << report->events << " events, " << report->checkpoints
              << " signed checkpoints, all consistent; ";
    if (where.postgresql()) {
      std::cout << "it is kept in PostgreSQL (no file pages to check).\n";
    } else {
      std::cout << "all " << report->pages << " pages of the file pass their integrity check.\n";
    }
    std::cout << "Root of the whole log: " << hex(report->root) << "\n";
    if (report->latest) std::cout << "Latest checkpoint:\n" << report->latest->note;
    return kExitOk;
  }
  if (!report->damaged_pages.empty()) print_damaged_pages(report->damaged_pages, report->pages);
  std::cout << "THE AUDIT LOG DOES NOT VERIFY.\n";
  if (const auto& f = report->first_difference) {
    std::cout << "First event that differs: #" << f->leaf;
    if (f->time) {
      std::cout << " (" << policy::format_time(std::chrono::floor<std::chrono::seconds>(*f->time))
                << ")";
    }
    std::cout << ": " << f->what << "\n";
  }
  std::cout << "Problems found (" << report->problems.size() << "):\n";
  for (const auto& p : report->problems)
    std::cout << "  - " << p << "\n";
  std::cout << kIncidentSteps;
  return kExitFailed;
}

int audit_checkpoint(Args args) {
  const Options opt(args, kCommon, {});
  auto o = open_log(opt);
  if (!o) return kExitFailed;
  std::cout << "Verifier key: " << crypto::format_verifier_key(o->log->verifier_key()) << "\n";
  auto cp = o->log->latest_checkpoint();
  if (!cp) {
    std::cout << "No checkpoint has been issued yet.\n";
    return kExitOk;
  }
  std::cout << cp->note;
  return kExitOk;
}

void print_event(const sluis::audit::StoredEvent& se) {
  const auto& e = se.event;
  std::cout << "#" << se.leaf << " "
            << policy::format_time(std::chrono::floor<std::chrono::seconds>(e.time)) << " "
            << sluis::audit::to_string(e.action) << " partner=" << e.partner << " worker=" << e.worker;
  if (!e.role.empty()) std::cout << " role=" << e.role;
  if (!e.client.empty()) std::cout << " client=" << e.client;
  if (!e.categories.empty()) {
    std::cout << " categories=";
    for (std::size_t i = 0; i < e.categories.size(); ++i) {
      std::cout << (i ? "," : "") << e.categories[i];
    }
  }
  if (!e.purpose.empty()) std::cout << " purpose=" << e.purpose;
  std::cout << " decision=" << sluis::audit::to_string(e.decision);
  if (!e.rule.empty()) std::cout << " rule=" << e.rule;
  if (e.break_glass) std::cout << " BREAK-THE-GLASS";
  if (!e.owner_partner.empty()) std::cout << " owner=" << e.owner_partner;
  if (!e.request_id.empty()) std::cout << " request=" << e.request_id;
  std::cout << "\n";
}

int audit_query(Args args) {
  const Options opt(args, with_filters({"cursor", "limit"}), {});
  auto q = query_from(opt);
  if (auto c = opt.get("cursor")) q.cursor = parse_count("cursor", *c);
  if (auto l = opt.get("limit")) {
    q.limit = static_cast<std::size_t>(parse_count("limit", *l));
    if (q.limit == 0 || q.limit > sluis::audit::kMaxAuditPage) {
      throw UsageError("option --limit needs a number from 1 to 1000");
    }
  }
  auto o = open_log(opt);
  if (!o) return kExitFailed;
  auto page = o->log->query(q);
  if (!page) {
    std::cerr << "sluisctl: the query failed: " << page.error().message() << "\n";
    return kExitFailed;
  }
  for (const auto& se : page->events)
    print_event(se);
  std::cout << page->events.size() << " event(s).";
  if (page->next) std::cout << " More: add --cursor " << *page->next;
  std::cout << "\n";
  return kExitOk;
}

int audit_export(Args args) {
  const Options opt(args, with_filters({"format", "out"}), {});
  const std::string format = opt.require("format");
  if (format != "jsonl" && format != "csv" && format != "fhir") {
    throw UsageError("option --format needs jsonl, csv or fhir");
  }
  const auto q = query_from(opt);
  auto o = open_log(opt);
  if (!o) return kExitFailed;
  auto events = o->log->query_all(q);
  if (!events) {
    std::cerr << "sluisctl: the export failed: " << events.error().message() << "\n";
    return kExitFailed;
  }
  std::string text;
  if (format == "csv") text = sluis::audit::export_csv_header() + "\r\n";
  for (const auto& se : *events) {
    if (format == "jsonl") {
      // A partner-scoped export carries no canonical bytes: print the decoded event instead.
      if (se.canonical.empty()) {
        sluis::audit::StoredEvent copy = se;
        auto bytes = sluis::audit::encode_audit_event(se.event);
        copy.canonical = bytes ? *bytes : "{}";
        text += sluis::audit::export_jsonl(copy) + "\n";
      } else {
        text += sluis::audit::export_jsonl(se) + "\n";
      }
    } else if (format == "csv") {
      text += sluis::audit::export_csv_row(se) + "\r\n";
    } else {
      text += sluis::audit::export_fhir(se, o->log->origin()) + "\n";
    }
  }
  return write_output(opt.get("out"), text) ? kExitOk : kExitFailed;
}

int audit_report(Args args) {
  const Options opt(args, with(kCommon, {"from", "until", "scope-partner", "html"}), {});
  sluis::audit::AuditQuery q;
  q.from = time_option(opt, "from");
  q.until = time_option(opt, "until");
  q.scope_partner = opt.get("scope-partner");
  auto o = open_log(opt);
  if (!o) return kExitFailed;
  if (o->pack) o->names.pack = &*o->pack;
  auto events = o->log->query_all(q);
  if (!events) {
    std::cerr << "sluisctl: the report failed: " << events.error().message() << "\n";
    return kExitFailed;
  }
  auto report = sluis::audit::build_dpo_report(*events);
  if (o->store) {
    // The grants' written reasons, sealed in the store: the gateway's DPO sees every grant's, a
    // report scoped to a partner only that partner's own grants'.
    sluis::store::BreakGlassReasonQuery rq;
    if (q.scope_partner) rq.partner_id = *q.scope_partner;
    rq.from = q.from;
    rq.until = q.until;
    auto reasons = sluis::domain::ConsentBook(*o->store).break_glass_reasons(rq);
    if (!reasons) {
      std::cerr << "sluisctl: the grants' reasons could not be read: "
                << reasons.error().message() << "\n";
      return kExitFailed;
    }
    sluis::audit::attach_break_glass_reasons(report, *reasons);
  }
  std::cout << sluis::audit::render_dpo_report_text(report, o->names);
  if (auto html = opt.get("html")) {
    if (!write_output(html, sluis::audit::render_dpo_report_html(report, o->names))) return kExitFailed;
    std::cout << "\nHTML report written to " << *html << "\n";
  }
  return kExitOk;
}

int audit_access_report(Args args) {
  const Options opt(args, with(kCommon, {"client-pseudonym", "lang", "html"}), {});
  const std::string client = opt.require("client-pseudonym");
  if (client.size() < 3 || client.substr(0, 2) != "a1") {
    throw UsageError("option --client-pseudonym needs the client's audit pseudonym (a1...)");
  }
  const std::string lang_text = opt.require("lang");
  const auto lang = sluis::audit::parse_report_language(lang_text);
  if (!lang) throw UsageError("option --lang needs nl, fr or en");
  auto o = open_log(opt);
  if (!o) return kExitFailed;
  if (o->pack) o->names.pack = &*o->pack;
  auto report = sluis::audit::access_report(*o->log, client);
  if (!report) {
    std::cerr << "sluisctl: the access report failed: " << report.error().message() << "\n";
    return kExitFailed;
  }
  std::cout << sluis::audit::render_access_report_text(*report, *lang, o->names);
  if (auto html = opt.get("html")) {
    if (!write_output(html, sluis::audit::render_access_report_html(*report, *lang, o->names))) {
      return kExitFailed;
    }
  }
  return kExitOk;
}

}  // namespace

int run_audit(Args args) {
  try {
    const std::string_view cmd = args.empty() ? std::string_view() : args[0];
    const Args rest = args.empty() ? args : args.subspan(1);
    if (cmd == "verify") return audit_verify(rest);
    if (cmd == "checkpoint") return audit_checkpoint(rest);
    if (cmd == "query") return audit_query(rest);
    if (cmd == "export") return audit_export(rest);
    if (cmd == "report") return audit_report(rest);
    if (cmd == "access-report") return audit_access_report(rest);
    if (cmd == "help") {
      std::cout << kAuditUsage;
      return kExitOk;
    }
    std::cerr << "sluisctl audit: say what to do, e.g. sluisctl audit verify --key FILE --log "
                 "FILE.\n"
              << kAuditUsage;
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "sluisctl audit: " << e.what() << ".\n" << kAuditUsage;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "sluisctl audit: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace sluis::ctl
