// `sluisctl policy check FILE` and `sluisctl policy explain ...`: validate a rule pack and show
// how a hypothetical request would be decided.
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"

#include "sluis/policy/decision.hpp"
#include "sluis/policy/explain.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluis::ctl {
namespace {

namespace pol = sluis::policy;

constexpr std::string_view kUsage =
    "usage: sluisctl policy check FILE\n"
    "       sluisctl policy explain --pack FILE --role R --partner-type T --owner-type T\n"
    "                               --category C --purpose P --consent STATE\n"
    "                               [--relationship yes|no] [--break-glass none|valid|expired]\n"
    "                               [--linked yes|no]\n"
    "  STATE: none|active|expired|revoked|excepted-partner|excepted-worker|excepted-category\n";

// Usage mistakes become UsageError (shared with the other groups) and exit kExitUsage.
[[noreturn]] void usage_error(const std::string& sentence) {
  throw UsageError(sentence);
}

// Loads a pack, printing diagnostics as file:line:col: message; nullopt when it has errors.
std::optional<pol::RulePack> load_and_report(const std::string& path) {
  auto r = pol::load_rule_pack(path);
  if (!r) {
    for (const pol::Diagnostic& d : r.error().items)
      std::cerr << d.to_string() << "\n";
    std::cerr << path << ": " << r.error().items.size() << " error"
              << (r.error().items.size() == 1 ? "" : "s") << "; the rule pack was not accepted\n";
    return std::nullopt;
  }
  return std::move(*r);
}

int run_check(Args args) {
  if (args.size() != 1) {
    usage_error("`check` takes exactly one rule pack file, e.g. "
                "`sluisctl policy check policy/packs/brussels-welfare.toml`");
  }
  const auto pack = load_and_report(std::string(args[0]));
  if (!pack) return kExitFailed;
  std::cout << args[0] << ": rule pack '" << pack->name() << "' version " << pack->version()
            << " is valid: " << pack->partner_types().size() << " partner types, "
            << pack->roles().size() << " roles, " << pack->categories().size() << " categories, "
            << pack->purposes().size() << " purposes\n";
  return kExitOk;
}

// Fixed clock for hypothetical requests so an explanation is reproducible.
constexpr std::string_view kHypotheticalNow = "2025-06-01T12:00:00Z";
constexpr std::string_view kRequester = "requesting-partner";
constexpr std::string_view kWorker = "requesting-worker";
constexpr std::string_view kOwner = "owning-partner";

int run_explain(Args args) {
  const Options opts(args,
                     {"pack", "role", "partner-type", "owner-type", "category", "purpose",
                      "consent", "relationship", "break-glass", "linked"},
                     {});
  if (!opts.positional().empty()) {
    throw UsageError("`explain` takes only options; remove '" + opts.positional().front() + "'");
  }
  for (const char* required :
       {"pack", "role", "partner-type", "owner-type", "category", "purpose", "consent"}) {
    if (!opts.get(required)) {
      throw UsageError(std::string("`explain` needs --") + required + " VALUE");
    }
  }
  const auto get = [&](const char* k, const char* fallback) {
    return opts.get(k).value_or(fallback);
  };
  const auto yes_no = [&](const char* k, const char* fallback) -> std::optional<bool> {
    const std::string v = get(k, fallback);
    if (v == "yes") return true;
    if (v == "no") return false;
    return std::nullopt;
  };
  const auto relationship = yes_no("relationship", "yes");
  const auto linked = yes_no("linked", "no");
  if (!relationship) usage_error("--relationship takes yes or no");
  if (!linked) usage_error("--linked takes yes or no");
  const std::string consent_state = get("consent", "none");
  static constexpr std::array kStates = {"none",
                                         "active",
                                         "expired",
                                         "revoked",
                                         "excepted-partner",
                                         "excepted-worker",
                                         "excepted-category"};
  if (std::find(kStates.begin(), kStates.end(), consent_state) == kStates.end()) {
    usage_error("--consent takes one of none, active, expired, revoked, excepted-partner, "
                "excepted-worker, excepted-category");
  }
  const std::string btg_state = get("break-glass", "none");
  if (btg_state != "none" && btg_state != "valid" && btg_state != "expired") {
    usage_error("--break-glass takes none, valid or expired");
  }

  const auto pack = load_and_report(get("pack", ""));
  if (!pack) return kExitFailed;
  const auto role = pack->role(get("role", ""));
  const auto ptype = pack->partner_type(get("partner-type", ""));
  const auto otype = pack->partner_type(get("owner-type", ""));
  const auto category = pack->category(get("category", ""));
  const auto purpose = pack->purpose(get("purpose", ""));
  const auto names = [](auto defs) {
    std::string s;
    for (const auto& d : defs)
      s += (s.empty() ? "" : ", ") + d.name;
    return s;
  };
  if (!role) usage_error("--role must be one of: " + names(pack->roles()));
  if (!ptype) usage_error("--partner-type must be one of: " + names(pack->partner_types()));
  if (!otype) usage_error("--owner-type must be one of: " + names(pack->partner_types()));
  if (!category) usage_error("--category must be one of: " + names(pack->categories()));
  if (!purpose) usage_error("--purpose must be one of: " + names(pack->purposes()));

  const pol::Time now = *pol::parse_time(kHypotheticalNow);
  using std::chrono::days;
  std::vector<pol::Consent> consents;
  if (consent_state != "none") {
    pol::Consent c;
    c.id = "hypothetical-consent";
    pol::ConsentProvision p;
    p.grantee.partner_type = *ptype;
    p.categories.insert(*category);
    p.purposes.insert(*purpose);
    p.period = {now - days{30}, now + days{335}};
    if (consent_state == "expired") p.period = {now - days{400}, now - days{35}};
    if (consent_state == "revoked") {
      c.status = pol::ConsentStatus::revoked;
      c.revocation = pol::Revocation{now - days{1}, {std::string(kOwner), "recording-worker"}};
    }
    if (consent_state == "excepted-partner") {
      p.exceptions.push_back(
          {pol::ConsentException::Kind::partner, std::string(kRequester), {}, {}});
    }
    if (consent_state == "excepted-worker") {
      p.exceptions.push_back(
          {pol::ConsentException::Kind::worker, std::string(kRequester), std::string(kWorker), {}});
    }
    if (consent_state == "excepted-category") {
      p.exceptions.push_back({pol::ConsentException::Kind::category, {}, {}, *category});
    }
    c.provisions.push_back(std::move(p));
    c.evidence.recorded_by = {std::string(kOwner), "recording-worker"};
    c.evidence.recorded_at = now - days{30};
    consents.push_back(std::move(c));
  }
  std::vector<pol::BreakGlassGrant> grants;
  if (btg_state != "none") {
    pol::BreakGlassGrant g;
    g.id = "hypothetical-grant";
    g.partner = kRequester;
    g.worker = kWorker;
    g.categories.insert(*category);
    g.reason = "hypothetical emergency for sluisctl policy explain";
    g.start = btg_state == "valid" ? now - std::chrono::minutes{10} : now - days{1};
    g.expiry = g.start + std::chrono::minutes{60};
    grants.push_back(std::move(g));
  }

  pol::AccessRequest req;
  req.partner_id = kRequester;
  req.partner_type = *ptype;
  req.worker_id = kWorker;
  req.role = *role;
  req.worker_active = true;
  req.category = *category;
  req.purpose = *purpose;
  req.owner_partner_id = kOwner;
  req.owner_type = *otype;
  req.care_relationship = *relationship;
  req.client_linked = *linked;
  req.now = now;

  pol::DecisionTrace trace;
  const pol::AccessDecision d = pol::decide(*pack, req, consents, grants, trace);
  std::cout << "pack: " << pack->name() << " version " << pack->version() << "\n"
            << "consent: " << consent_state << "; break-the-glass: " << btg_state
            << "; relationship: " << get("relationship", "yes")
            << "; linked: " << get("linked", "no") << "\n"
            << pol::explain(*pack, req, trace, d);
  return d.permitted() ? kExitOk : kExitFailed;
}

}  // namespace

int run_policy(Args args) {
  try {
    if (args.empty()) usage_error("say what to do: `check FILE` or `explain --pack FILE ...`");
    if (args[0] == "check") return run_check(args.subspan(1));
    if (args[0] == "explain") return run_explain(args.subspan(1));
    if (args[0] == "help" || args[0] == "--help") {
      std::cout << kUsage;
      return kExitOk;
    }
    usage_error("unknown policy command '" + std::string(args[0]) +
                "'; use `check FILE` or `explain --pack FILE ...`");
  } catch (const UsageError& e) {
    std::cerr << "sluisctl policy: " << e.what() << "\n" << kUsage;
    return kExitUsage;
  }
}

}  // namespace sluis::ctl
