// The worker's console pages: my clients, registration, the client's dossier, fragments,
// consent and its receipt, withdrawal, break-the-glass, the access report.
#include "page_kit.hpp"

#include "sluis/console/base64url.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::console {

namespace {

namespace json = boost::json;

// The purpose for reads that are not the dossier (the consent list, receipts, the access report):
// they serve the client's own file, so sluisd records them as administration.
constexpr std::string_view kAdministration = "administration";
// Field rows offered by the add-fragment form (the rule pack names categories, not fields).
constexpr std::size_t kFragmentFieldRows = 3;
constexpr std::size_t kMaxFieldValue = 4000;

// --- input checks ---------------------------------------------------------------------------

bool is_token(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// A pseudonym as it may appear in a /v1 path: the console never forwards anything else.
bool is_pseudonym(std::string_view s) {
  return is_token(s, 64);
}

bool is_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string digits_of(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else if (c != '.' && c != '-' && c != ' ') {
      return {};
    }
  }
  return out;
}

// The national register / BIS number check (97 - n mod 97 over the first nine digits, with a
// leading 2 for births from 2000). BIS numbers add 20 or 40 to the month. `bis`: which kind.
bool register_number_ok(std::string_view raw, bool bis) {
  const std::string d = digits_of(raw);
  if (d.size() != 11) return false;
  const unsigned long long first9 = std::stoull(d.substr(0, 9));
  const unsigned long long check = std::stoull(d.substr(9, 2));
  const bool check_ok =
      97 - (first9 % 97) == check || 97 - ((2000000000ULL + first9) % 97) == check;
  const int month = std::stoi(d.substr(2, 2));
  const bool month_ok = bis ? ((month >= 20 && month <= 32) || (month >= 40 && month <= 52))
                            : (month >= 0 && month <= 12);
  return check_ok && month_ok;
}

// "2026-12-31" → "2026-12-31T23:59:59Z"-style end of that day in UTC, or "" when not a date.
std::string end_of_day(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return {};
  for (const std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U}) {
    if (date[i] < '0' || date[i] > '9') return {};
  }
  return std::string(date) + "T23:59:59Z";
}

// "YYYY-MM-DDTHH:MM:SSZ", the form sluisd writes every time in.
bool is_instant(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  for (const std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U, 11U, 12U, 14U, 15U, 17U, 18U}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

std::string iso_utc(UnixSeconds t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf.data(), n);
}

std::string date_only(UnixSeconds t) {
  return iso_utc(t).substr(0, 10);
}

// "2026-12-07T10:00:00Z" → "2026-12-07 10:00 UTC" (how every time of these pages reads).
std::string readable_time(std::string_view iso) {
  if (iso.size() < 16) return std::string(iso);
  return std::string(iso.substr(0, 10)) + " " + std::string(iso.substr(11, 5)) + " UTC";
}

std::optional<json::object> json_object(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->as_string());
}

// --- the rule pack and the partners, as sluisd says ------------------------------------------

struct Named {
  std::string name;
  std::string label;
  bool restricted = false;
};

struct Vocabulary {
  std::vector<Named> categories;
  std::vector<Named> purposes;
  long long reason_min = 20;
  long long reason_max = 500;
  long long break_glass_max_minutes = 480;
  long long consent_max_days = 730;
};

// --- the pages --------------------------------------------------------------------------------

struct WorkerPages {
  explicit WorkerPages(PageKit& k) : kit(k) {}
  PageKit& kit;

  // A /v1 call as the signed-in worker; nullopt (and `down` set) when sluisd cannot be reached.
  std::optional<ApiResponse> api(const Ctx& ctx, std::string method, std::string target,
                                 std::string body = {},
                                 std::optional<std::string_view> purpose = std::nullopt) const {
    ApiRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    if (purpose) r.purpose = std::string(*purpose);
    auto answer = kit.call_api(ctx, std::move(r));
    if (!answer) return std::nullopt;
    return std::move(*answer);
  }

  // A /v1 refusal as a readable page; a 4xx keeps its status (the worker can correct the input).
  gw::HttpResponse refused(Ctx& ctx, const ApiResponse& answer) const {
    gw::HttpResponse r = kit.api_problem_page(ctx, answer);
    if (answer.status >= 400 && answer.status < 500) {
      r.status = answer.status;
      r.cause = "console_gateway_refused_input";
    }
    return r;
  }

  gw::HttpResponse bad_input(Ctx& ctx, std::string_view message_key, int status = 422) const {
    return kit.error_page(ctx, status, "worker.bad_input_title", message_key);
  }

  // The rule pack's vocabulary, parsed again only when sluisd's answer changed (shared_get asks
  // for it once a minute per partner; every page of the area needs it).
  std::optional<Vocabulary> vocabulary(const Ctx& ctx) const {
    auto answer = kit.shared_get(ctx, "/v1/rule-pack");
    if (!answer || answer->status != 200) return std::nullopt;
    std::optional<Vocabulary> v;
    {
      std::lock_guard lock(parsed_mutex);
      if (parsed && parsed->first == answer->body) v = parsed->second;
    }
    if (!v) {
      v = parse_vocabulary(answer->body);
      if (!v) return v;
      std::lock_guard lock(parsed_mutex);
      parsed.emplace(std::move(answer->body), *v);
    }
    // The pack's labels are in one language; the page's language from the catalogue where it
    // has the name (the sections the low-threshold pages use, in all three languages).
    const auto localise = [&](std::vector<Named>& names, std::string_view section) {
      for (auto& n : names) {
        const std::string key = std::string(section) + "." + n.name;
        if (kit.catalogue(ctx.lang).find(key) != nullptr) n.label = kit.tr(ctx, key);
      }
    };
    localise(v->categories, "lowthreshold_category");
    localise(v->purposes, "lowthreshold_purpose");
    return v;
  }
  mutable std::mutex parsed_mutex;
  mutable std::optional<std::pair<std::string, Vocabulary>> parsed;  ///< the last answer parsed

  static std::optional<Vocabulary> parse_vocabulary(const std::string& body) {
    auto o = json_object(body);
    if (!o) return std::nullopt;
    Vocabulary v;
    for (const auto* list : {"categories", "purposes"}) {
      const auto* a = o->if_contains(list);
      if (a == nullptr || !a->is_array()) return std::nullopt;
      for (const auto& item : a->as_array()) {
        if (!item.is_object()) continue;
        const auto& io = item.as_object();
        Named n{str(io, "name"), str(io, "label"), false};
        if (const auto* r = io.if_contains("restricted"); r != nullptr && r->is_bool()) {
          n.restricted = r->as_bool();
        }
        (std::string_view(list) == "categories" ? v.categories : v.purposes).push_back(n);
      }
    }
    if (const auto* l = o->if_contains("limits"); l != nullptr && l->is_object()) {
      const auto& lo = l->as_object();
      auto num = [&](std::string_view k, long long& out) {
        if (const auto* x = lo.if_contains(k); x != nullptr && x->is_int64()) out = x->as_int64();
      };
      num("break_glass_reason_min_chars", v.reason_min);
      num("break_glass_reason_max_chars", v.reason_max);
      num("break_glass_max_minutes", v.break_glass_max_minutes);
      num("consent_max_days", v.consent_max_days);
    }
    return v;
  }

  std::vector<TemplateData> named_list(const std::vector<Named>& items,
                                       const std::set<std::string>& checked = {}) const {
    std::vector<TemplateData> out;
    for (const auto& n : items) {
      TemplateData d;
      d.set("name", n.name).set("label", n.label).set("id", "x-" + n.name);
      d.set_flag("checked", checked.count(n.name) != 0);
      d.set_flag("restricted", n.restricted);
      out.push_back(std::move(d));
    }
    return out;
  }

  // --- my clients ---

  // The search text travels in the console's URLs as base64url (`q`): a URL carries only ASCII,
  // a label may be any text.
  static std::string search_param(std::string_view label) {
    return base64url_encode(std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
  }

  gw::HttpResponse search(Ctx& ctx) {
    const auto label = ctx.form.get("label").value_or("");
    const bool exact = ctx.form.get("match").value_or("") == "exact";
    if (label.empty()) return PageKit::redirect("/clients");
    if (label.size() > 160) return bad_input(ctx, "worker.search_invalid", 400);
    return PageKit::redirect("/clients?q=" + search_param(label) + (exact ? "&match=exact" : ""));
  }

  gw::HttpResponse clients_page(Ctx& ctx) {
    std::optional<std::string> label;
    if (const auto q = ctx.req.query_param("q"); q && !q->empty()) {
      auto bytes = base64url_decode(*q);
      if (!bytes || bytes->size() > 160) return bad_input(ctx, "worker.search_invalid", 400);
      label = std::string(bytes->begin(), bytes->end());
    }
    const auto match = ctx.req.query_param("match");
    const auto cursor = ctx.req.query_param("cursor");
    json::object ask{{"limit", 25}};
    if (label) ask["label"] = *label;
    if (match && !match->empty() && label) ask["match"] = *match;
    if (cursor && !cursor->empty()) ask["cursor"] = *cursor;
    // The search goes in a body: a label may be any text, a URL to sluisd only ASCII.
    auto answer = api(ctx, "POST", "/v1/caseload/search", json::serialize(ask));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 200) return refused(ctx, *answer);
    auto o = json_object(answer->body);
    if (!o) return kit.gateway_down_page(ctx);
    std::vector<TemplateData> rows;
    if (const auto* list = o->if_contains("clients"); list != nullptr && list->is_array()) {
      for (const auto& c : list->as_array()) {
        if (!c.is_object()) continue;
        const auto& co = c.as_object();
        TemplateData r;
        r.set("client", str(co, "client"));
        r.set("label", str(co, "label"));
        r.set_flag("has_label", co.contains("label"));
        r.set("since", readable_time(str(co, "since")));
        rows.push_back(std::move(r));
      }
    }
    TemplateData d;
    d.set_flag("empty", rows.empty());
    d.set_list("clients", std::move(rows));
    d.set("label", label ? *label : std::string());
    d.set("q", label ? search_param(*label) : std::string());
    d.set_flag("exact", match && *match == "exact");
    d.set_flag("searching", label.has_value());
    const std::string next = str(*o, "next");
    if (!next.empty()) {
      TemplateData n;
      n.set("cursor", next);
      d.set_object("next", std::move(n));
    } else {
      d.set_flag("next", false);
    }
    return kit.page(ctx, 200, "worker_clients", "worker.clients_title", std::move(d),
                    {"worker.js"});
  }

  gw::HttpResponse register_client(Ctx& ctx) {
    const auto scheme = ctx.form.get("scheme").value_or("");
    const auto number = ctx.form.get("number").value_or("");
    const auto label = ctx.form.get("label").value_or("");
    if (scheme != "national-register" && scheme != "bis" && scheme != "case-number") {
      return bad_input(ctx, "worker.scheme_invalid");
    }
    if (scheme != "case-number" && !register_number_ok(number, scheme == "bis")) {
      return bad_input(ctx, scheme == "bis" ? "worker.bis_invalid" : "worker.register_invalid");
    }
    if (scheme == "case-number" && (number.empty() || number.size() > 64)) {
      return bad_input(ctx, "worker.case_number_invalid");
    }
    // The number goes to sluisd and nowhere else: not stored, not logged, not in the redirect.
    json::object identifier{
        {"scheme", scheme},
        {"value", scheme == "case-number" ? std::string(number) : digits_of(number)}};
    json::object body{{"identifier", std::move(identifier)}};
    if (!label.empty()) body["label"] = label;
    auto answer = api(ctx, "POST", "/v1/clients", json::serialize(body));
    if (!answer) return kit.gateway_down_page(ctx);
    // The number's refusal in the worker's words (problem.invalid-identifier is the card's, on
    // the low-threshold pages).
    if (answer->status == 422 && PageKit::problem_code(*answer) == "invalid-identifier") {
      return bad_input(ctx, "worker.identifier_refused");
    }
    if (answer->status != 200 && answer->status != 201) return refused(ctx, *answer);
    auto o = json_object(answer->body);
    const std::string client = o ? str(*o, "client") : std::string();
    if (!is_pseudonym(client)) return kit.gateway_down_page(ctx);
    return PageKit::redirect("/clients/" + client);
  }

  // --- the client's page ---

  std::optional<std::string_view> client_param(const Ctx& ctx) const {
    const auto c = ctx.params.get("client");
    if (!c || !is_pseudonym(*c)) return std::nullopt;
    return c;
  }

  gw::HttpResponse unknown_client(Ctx& ctx) const {
    return kit.error_page(ctx, 404, "worker.no_client_title", "worker.no_client");
  }

  static std::vector<TemplateData> purpose_list(const Vocabulary& vocab,
                                                std::optional<std::string_view> selected) {
    std::vector<TemplateData> purposes;
    for (const auto& p : vocab.purposes) {
      TemplateData pd;
      pd.set("name", p.name).set("label", p.label);
      pd.set_flag("selected", selected && *selected == p.name);
      purposes.push_back(std::move(pd));
    }
    return purposes;
  }

  // The shared dossier read for one purpose: a page of its own that asks sluisd for exactly this
  // read (one call, one audit event) — the consents and the label stay on the client's page.
  gw::HttpResponse dossier_page(Ctx& ctx, std::string_view client, const Vocabulary& vocab,
                                std::string_view purpose) {
    auto dossier = api(ctx, "GET", "/v1/clients/" + std::string(client) + "/dossier", {}, purpose);
    if (!dossier) return kit.gateway_down_page(ctx);
    if (dossier->status != 200) return refused(ctx, *dossier);
    // Parsed into one arena that lives as long as this page (a 20-fragment answer is hundreds of
    // small strings: one allocation instead of one each).
    json::monotonic_resource arena;
    boost::system::error_code ec;
    const json::value parsed_answer = json::parse(dossier->body, ec, &arena);
    if (ec || !parsed_answer.is_object()) return kit.gateway_down_page(ctx);
    const json::object* o = &parsed_answer.as_object();
    TemplateData d;
    d.set("client", std::string(client));
    d.set_list("purposes", purpose_list(vocab, purpose));
    std::vector<TemplateData> fragments;
    if (const auto* list = o->if_contains("fragments"); list != nullptr && list->is_array()) {
      for (const auto& f : list->as_array()) {
        if (!f.is_object()) continue;
        const auto& fo = f.as_object();
        TemplateData fd;
        const std::string cat = str(fo, "category");
        std::string cat_label = cat;
        for (const auto& c : vocab.categories) {
          if (c.name == cat) cat_label = c.label;
        }
        fd.set("category", cat_label);
        std::string owner;
        if (const auto* ow = fo.if_contains("owner"); ow != nullptr && ow->is_object()) {
          owner = str(ow->as_object(), "name");
        }
        fd.set("owner", owner);
        fd.set("created", readable_time(str(fo, "created_at")));
        fd.set_flag("unreadable", fo.contains("unreadable"));
        std::vector<TemplateData> fields;
        if (const auto* fs = fo.if_contains("fields"); fs != nullptr && fs->is_object()) {
          for (const auto& kv : fs->as_object()) {
            TemplateData field;
            field.set("name", std::string(kv.key()));
            field.set("value", kv.value().is_string() ? std::string(kv.value().as_string())
                                                      : std::string());
            fields.push_back(std::move(field));
          }
        }
        fd.set_list("fields", std::move(fields));
        fragments.push_back(std::move(fd));
      }
    }
    // Nothing is said about what was not shown: an empty read reads the same whatever the reason.
    d.set_flag("no_fragments", fragments.empty());
    d.set_list("fragments", std::move(fragments));
    return kit.page(ctx, 200, "worker_dossier", "worker.dossier_title", std::move(d));
  }

  gw::HttpResponse client_page(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const std::string base = "/v1/clients/" + std::string(*client);
    const auto vocab = vocabulary(ctx);
    if (!vocab) return kit.gateway_down_page(ctx);
    const auto purpose = ctx.req.query_param("purpose");
    if (purpose && std::none_of(vocab->purposes.begin(), vocab->purposes.end(),
                                [&](const Named& p) { return p.name == *purpose; })) {
      return bad_input(ctx, "worker.purpose_invalid", 400);
    }
    if (purpose) return dossier_page(ctx, *client, *vocab, *purpose);

    // The consents (also shows that the client is this partner's: a foreign pseudonym is 404).
    auto consents = api(ctx, "GET", base + "/consents", {}, kAdministration);
    if (!consents) return kit.gateway_down_page(ctx);
    if (consents->status != 200) return refused(ctx, *consents);

    TemplateData d;
    d.set("client", std::string(*client));

    // The label, as this partner set it.
    std::string label;
    if (auto l = api(ctx, "GET", base + "/label"); l && l->status == 200) {
      if (auto lo = json_object(l->body)) label = str(*lo, "label");
    }
    d.set("label", label);

    // The purposes to read the dossier for (the read itself is its own page: dossier_page).
    d.set_list("purposes", purpose_list(*vocab, std::nullopt));

    // The consents recorded for this client.
    std::vector<TemplateData> consent_rows;
    if (auto co = json_object(consents->body)) {
      if (const auto* list = co->if_contains("consents"); list != nullptr && list->is_array()) {
        for (const auto& c : list->as_array()) {
          if (!c.is_object()) continue;
          const auto& o = c.as_object();
          TemplateData r;
          r.set("consent", str(o, "consent"));
          r.set("reference", str(o, "reference"));
          const std::string status = str(o, "status");
          r.set("status",
                kit.tr(ctx, "worker.consent_status_" +
                                std::string(status == "active" || status == "revoked" ||
                                                    status == "expired" || status == "pending"
                                                ? status
                                                : "other")));
          r.set_flag("active", status == "active" || status == "pending");
          r.set("until", readable_time(str(o, "valid_until")));
          std::string grantees;
          if (const auto* doc = o.if_contains("document"); doc != nullptr && doc->is_object()) {
            if (const auto* ps = doc->as_object().if_contains("provisions");
                ps != nullptr && ps->is_array()) {
              for (const auto& p : ps->as_array()) {
                if (!p.is_object()) continue;
                if (const auto* g = p.as_object().if_contains("grantee");
                    g != nullptr && g->is_object()) {
                  for (const auto& kv : g->as_object()) {
                    if (!kv.value().is_string()) continue;
                    if (!grantees.empty()) grantees += ", ";
                    grantees += std::string(kv.value().as_string());
                  }
                }
              }
            }
          }
          r.set("grantee", grantees);
          consent_rows.push_back(std::move(r));
        }
      }
    }
    d.set_flag("no_consents", consent_rows.empty());
    d.set_list("consents", std::move(consent_rows));

    // The forms: categories from the rule pack, partners from sluisd.
    d.set_list("categories", named_list(vocab->categories));
    d.set_list("consent_purposes", named_list(vocab->purposes));
    std::vector<TemplateData> rows;
    for (std::size_t i = 1; i <= kFragmentFieldRows; ++i) {
      TemplateData r;
      r.set("n", std::to_string(i));
      r.set_flag("first", i == 1);
      rows.push_back(std::move(r));
    }
    d.set_list("field_rows", std::move(rows));
    std::vector<TemplateData> partners;
    if (auto p = kit.shared_get(ctx, "/v1/partners"); p && p->status == 200) {
      const auto me = ctx.account().partner;
      if (auto po = json_object(p->body)) {
        if (const auto* list = po->if_contains("partners"); list != nullptr && list->is_array()) {
          for (const auto& x : list->as_array()) {
            if (!x.is_object() || str(x.as_object(), "id") == me) continue;
            TemplateData pd;
            pd.set("id", str(x.as_object(), "id")).set("name", str(x.as_object(), "name"));
            partners.push_back(std::move(pd));
          }
        }
      }
    }
    d.set_list("partners", std::move(partners));
    d.set("today", date_only(ctx.now));
    d.set("default_end", date_only(ctx.now + 365LL * 86400));
    d.set("max_end", date_only(ctx.now + vocab->consent_max_days * 86400));
    d.set("reason_min", std::to_string(vocab->reason_min));
    d.set("reason_max", std::to_string(vocab->reason_max));
    d.set("max_minutes", std::to_string(vocab->break_glass_max_minutes));
    return kit.page(ctx, 200, "worker_client", "worker.client_title", std::move(d), {"worker.js"});
  }

  gw::HttpResponse set_label(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const auto label = ctx.form.get("label").value_or("");
    const std::string target = "/v1/clients/" + std::string(*client) + "/label";
    auto answer = label.empty()
                      ? api(ctx, "DELETE", target)
                      : api(ctx, "PUT", target, json::serialize(json::object{{"label", label}}));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 200) return refused(ctx, *answer);
    return PageKit::redirect("/clients/" + std::string(*client));
  }

  gw::HttpResponse add_fragment(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const auto category = ctx.form.get("category").value_or("");
    if (!is_name(category)) return bad_input(ctx, "worker.category_invalid");
    json::object fields;
    for (std::size_t i = 1; i <= kFragmentFieldRows; ++i) {
      const auto n = std::to_string(i);
      const auto name = ctx.form.get("field" + n).value_or("");
      const auto value = ctx.form.get("value" + n).value_or("");
      if (name.empty() && value.empty()) continue;
      if (!is_name(name)) return bad_input(ctx, "worker.field_name_invalid");
      if (value.empty() || value.size() > kMaxFieldValue) {
        return bad_input(ctx, "worker.field_value_invalid");
      }
      if (fields.contains(name)) return bad_input(ctx, "worker.field_name_twice");
      fields[name] = value;
    }
    if (fields.empty()) return bad_input(ctx, "worker.field_value_invalid");
    auto answer =
        api(ctx, "POST", "/v1/clients/" + std::string(*client) + "/fragments",
            json::serialize(json::object{{"category", category}, {"fields", std::move(fields)}}));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 201) return refused(ctx, *answer);
    return PageKit::redirect("/clients/" + std::string(*client) + "?purpose=care-coordination");
  }

  gw::HttpResponse record_consent(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const auto grantee = ctx.form.get("grantee").value_or("");
    const auto categories = ctx.form.get_all("categories");
    const auto purposes = ctx.form.get_all("purposes");
    const std::string end = end_of_day(ctx.form.get("end").value_or(""));
    const auto channel = ctx.form.get("channel").value_or("");
    const auto language = ctx.form.get("language").value_or("");
    if (!is_name(grantee)) return bad_input(ctx, "worker.grantee_invalid");
    if (categories.empty()) return bad_input(ctx, "worker.categories_missing");
    if (purposes.empty()) return bad_input(ctx, "worker.purposes_missing");
    if (end.empty() || end <= iso_utc(ctx.now)) return bad_input(ctx, "worker.end_invalid");
    if (channel != "in-person" && channel != "paper-signed" && channel != "other") {
      return bad_input(ctx, "worker.channel_invalid");
    }
    if (language != "nl" && language != "fr" && language != "en") {
      return bad_input(ctx, "worker.language_invalid");
    }
    json::array cats;
    for (const auto c : categories) {
      if (!is_name(c)) return bad_input(ctx, "worker.categories_missing");
      cats.emplace_back(c);
    }
    json::array purps;
    for (const auto p : purposes) {
      if (!is_name(p)) return bad_input(ctx, "worker.purposes_missing");
      purps.emplace_back(p);
    }
    const auto me = kit.who(ctx);
    if (!me) return kit.gateway_down_page(ctx);
    const std::string now = iso_utc(ctx.now);
    json::object provision{{"grantee", json::object{{"partner", grantee}}},
                           {"categories", std::move(cats)},
                           {"purposes", std::move(purps)},
                           {"period", json::object{{"start", now}, {"end", end}}}};
    json::object evidence{
        {"recorded_by",
         json::object{{"partner", me->partner_id}, {"worker", me->worker}, {"role", me->role}}},
        {"channel", channel},
        {"language", language},
        {"recorded_at", now}};
    json::object body{{"legal_basis", "consent"},
                      {"provisions", json::array{std::move(provision)}},
                      {"evidence", std::move(evidence)}};
    auto answer = api(ctx, "POST", "/v1/clients/" + std::string(*client) + "/consents",
                      json::serialize(body));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 201) return refused(ctx, *answer);
    auto o = json_object(answer->body);
    const std::string consent = o ? str(*o, "consent") : std::string();
    if (!is_token(consent, 64)) return kit.gateway_down_page(ctx);
    return PageKit::redirect("/clients/" + std::string(*client) + "/consents/" + consent +
                             "/receipt");
  }

  // sluisd's own printable document (its HTML, rendered and escaped by sluisd) in the console's
  // print layout: sluisd's inline style element is dropped (the console allows none), the body
  // is wrapped in print.css's A4 document, and a bar with the print button goes above it.
  gw::HttpResponse printable(Ctx& ctx, const ApiResponse& answer, std::string_view client,
                             std::string_view kind) {
    std::string html = answer.body;
    const auto style_at = html.find("<style>");
    const auto style_end = html.find("</style>");
    if (style_at != std::string::npos && style_end != std::string::npos && style_end > style_at) {
      html.erase(style_at, style_end + 8 - style_at);
    }
    TemplateData d;
    d.set("client", std::string(client));
    auto bar = kit.web.templates.render("worker_printbar", d, kit.catalogue(ctx.lang));
    if (!bar) throw std::runtime_error("render failed");
    const auto body_at = html.find("<body>");
    const auto body_end = html.rfind("</body>");
    const auto head_end = html.find("</head>");
    if (body_at == std::string::npos || body_end == std::string::npos ||
        head_end == std::string::npos || body_end < body_at) {
      return kit.gateway_down_page(ctx);
    }
    html.insert(body_end, "</article>");
    html.insert(body_at + 6,
                bar->str() + "<article class=\"print-document " + std::string(kind) + "\">");
    html.insert(head_end, "<link rel=\"stylesheet\" href=\"/static/print.css\" nonce=\"" +
                              ctx.nonce + "\"><script src=\"/static/js/print.js\" nonce=\"" +
                              ctx.nonce + "\" defer></script>");
    gw::HttpResponse r;
    r.status = 200;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::move(html);
    return r;
  }

  std::optional<std::string_view> lang_param(const Ctx& ctx, bool& bad) const {
    const auto lang = ctx.req.query_param("lang");
    bad = lang && *lang != "nl" && *lang != "fr" && *lang != "en";
    return lang;
  }

  gw::HttpResponse receipt(Ctx& ctx) {
    const auto client = client_param(ctx);
    const auto consent = ctx.params.get("consent");
    if (!client || !consent || !is_token(*consent, 64)) return unknown_client(ctx);
    bool bad = false;
    const auto lang = lang_param(ctx, bad);
    if (bad) return bad_input(ctx, "worker.language_invalid", 400);
    std::string target =
        "/v1/clients/" + std::string(*client) + "/consents/" + std::string(*consent) + "/receipt";
    if (lang) target += "?lang=" + std::string(*lang);
    auto answer = api(ctx, "GET", target, {}, kAdministration);
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 200) return refused(ctx, *answer);
    return printable(ctx, *answer, *client, "print-receipt");
  }

  gw::HttpResponse withdraw_page(Ctx& ctx) {
    const auto client = client_param(ctx);
    const auto consent = ctx.params.get("consent");
    if (!client || !consent || !is_token(*consent, 64)) return unknown_client(ctx);
    TemplateData d;
    d.set("client", std::string(*client)).set("consent", std::string(*consent));
    return kit.page(ctx, 200, "worker_withdraw", "worker.withdraw_title", std::move(d));
  }

  gw::HttpResponse withdraw(Ctx& ctx) {
    const auto client = client_param(ctx);
    const auto consent = ctx.params.get("consent");
    if (!client || !consent || !is_token(*consent, 64)) return unknown_client(ctx);
    auto answer = api(ctx, "DELETE",
                      "/v1/clients/" + std::string(*client) + "/consents/" + std::string(*consent));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 200) return refused(ctx, *answer);
    return PageKit::redirect("/clients/" + std::string(*client));
  }

  gw::HttpResponse break_glass(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const auto vocab = vocabulary(ctx);
    if (!vocab) return kit.gateway_down_page(ctx);
    const auto categories = ctx.form.get_all("categories");
    const auto reason = ctx.form.get("reason").value_or("");
    const auto minutes_text = ctx.form.get("minutes").value_or("");
    if (categories.empty()) return bad_input(ctx, "worker.categories_missing");
    // Characters, not bytes, as the rule pack counts them.
    const auto chars =
        static_cast<long long>(std::count_if(reason.begin(), reason.end(), [](char c) {
          return (static_cast<unsigned char>(c) & 0xc0U) != 0x80U;
        }));
    if (chars < vocab->reason_min || chars > vocab->reason_max) {
      return kit.page(ctx, 422, "error", "worker.bad_input_title",
                      TemplateData{}
                          .set("heading", kit.tr(ctx, "worker.bad_input_title"))
                          .set("message", kit.tr(ctx, "worker.reason_length",
                                                 {{"min", std::to_string(vocab->reason_min)},
                                                  {"max", std::to_string(vocab->reason_max)}})),
                      {}, false);
    }
    long long minutes = 0;
    try {
      minutes = std::stoll(std::string(minutes_text));
    } catch (const std::exception&) {
      minutes = 0;
    }
    if (minutes < 1 || minutes > vocab->break_glass_max_minutes) {
      return bad_input(ctx, "worker.minutes_invalid");
    }
    json::array cats;
    for (const auto c : categories) {
      if (!is_name(c)) return bad_input(ctx, "worker.categories_missing");
      cats.emplace_back(c);
    }
    auto answer =
        api(ctx, "POST", "/v1/clients/" + std::string(*client) + "/break-glass",
            json::serialize(json::object{
                {"categories", std::move(cats)}, {"reason", reason}, {"minutes", minutes}}));
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 201) return refused(ctx, *answer);
    auto o = json_object(answer->body);
    if (!o) return kit.gateway_down_page(ctx);
    const std::string starts = str(*o, "starts_at");
    const std::string ends = str(*o, "expires_at");
    if (!is_instant(starts) || !is_instant(ends)) return kit.gateway_down_page(ctx);
    // Post/redirect/get: reloading (or switching language on) the answer page never opens a
    // second grant. The times are the grant's as sluisd answered them, nothing secret.
    return PageKit::redirect("/clients/" + std::string(*client) +
                             "/break-glass/granted?starts=" + starts + "&ends=" + ends);
  }

  gw::HttpResponse glass_granted(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    const auto starts = ctx.req.query_param("starts");
    const auto ends = ctx.req.query_param("ends");
    if (!starts || !ends || !is_instant(*starts) || !is_instant(*ends)) {
      return bad_input(ctx, "worker.glass_link_invalid", 400);
    }
    TemplateData d;
    d.set("client", std::string(*client));
    d.set("ends", readable_time(*ends));
    d.set("starts", readable_time(*starts));
    return kit.page(ctx, 200, "worker_glass", "worker.glass_title", std::move(d));
  }

  gw::HttpResponse access_report(Ctx& ctx) {
    const auto client = client_param(ctx);
    if (!client) return unknown_client(ctx);
    bool bad = false;
    const auto lang = lang_param(ctx, bad);
    if (bad) return bad_input(ctx, "worker.language_invalid", 400);
    std::string target = "/v1/clients/" + std::string(*client) + "/access-report?lang=" +
                         std::string(lang ? *lang : std::string_view(ctx.lang));
    auto answer = api(ctx, "GET", target, {}, kAdministration);
    if (!answer) return kit.gateway_down_page(ctx);
    if (answer->status != 200) return refused(ctx, *answer);
    return printable(ctx, *answer, *client, "print-report");
  }
};

}  // namespace

void add_worker_pages(gw::Router& router, PageKit& kit) {
  auto pages = std::make_shared<WorkerPages>(kit);
  using Fn = gw::HttpResponse (WorkerPages::*)(Ctx&);
  auto add = [&](std::string_view method, std::string_view path, Fn fn,
                 DuplicateNames duplicates = DuplicateNames::refuse) {
    router.add(std::string(method), std::string(path),
               kit.guard(
                   Access::signed_in,
                   [pages, fn](PageKit&, Ctx& ctx) { return ((*pages).*fn)(ctx); }, duplicates));
  };
  add("GET", "/clients", &WorkerPages::clients_page);
  add("POST", "/clients", &WorkerPages::register_client);
  add("POST", "/clients/search", &WorkerPages::search);
  add("GET", "/clients/{client}", &WorkerPages::client_page);
  add("POST", "/clients/{client}/label", &WorkerPages::set_label);
  add("POST", "/clients/{client}/fragments", &WorkerPages::add_fragment);
  add("POST", "/clients/{client}/consents", &WorkerPages::record_consent, DuplicateNames::keep_all);
  add("GET", "/clients/{client}/consents/{consent}/receipt", &WorkerPages::receipt);
  add("GET", "/clients/{client}/consents/{consent}/withdraw", &WorkerPages::withdraw_page);
  add("POST", "/clients/{client}/consents/{consent}/withdraw", &WorkerPages::withdraw);
  add("POST", "/clients/{client}/break-glass", &WorkerPages::break_glass, DuplicateNames::keep_all);
  add("GET", "/clients/{client}/break-glass/granted", &WorkerPages::glass_granted);
  add("GET", "/clients/{client}/access-report", &WorkerPages::access_report);
}

}  // namespace sluis::console
