// The partner DPO's console pages: audit events, the break-the-glass review queue, access
// requests, charts, the log's health (witness); and the admin page's sluisd workers.
#include "dpo_pages.hpp"

#include "dpo_log_health.hpp"
#include "page_kit.hpp"
#include "witness_timer.hpp"

#include "sluis/console/svg_chart.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <set>

namespace sluis::console {

namespace {

namespace json = boost::json;

// The rule pack's stable action names (docs/dpo-guide.md §1), in the filter's order.
constexpr std::array<std::string_view, 25> kActions = {
    "read",          "registration",      "fragment-write",     "fragment-supersede",
    "consent-grant", "consent-revoke",    "consent-read",       "break-glass-start",
    "break-glass-expiry", "break-glass-review", "access-report", "audit-query",
    "link",          "unlink",            "card-replace",       "erasure",
    "partner-add",   "partner-revoke",    "worker-add",         "worker-disable",
    "worker-enable", "key-rotate",        "policy-reload",      "backup",
    "restore"};
// The default rule pack's purposes (another pack's names are shown as they are).
constexpr std::array<std::string_view, 4> kPurposes = {"care-coordination", "referral",
                                                       "administration", "emergency"};
constexpr std::array<std::string_view, 3> kOutcomes = {"justified", "not-justified",
                                                       "needs-follow-up"};
constexpr std::size_t kEventsPerPage = 50;
constexpr int kChartDays = 30;
constexpr int kMaxChartPages = 20;  // of 1000 events each

std::string str_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool bool_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

std::string join_names(const json::object& o, std::string_view key) {
  std::string out;
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_array()) {
    for (const auto& c : v->as_array()) {
      if (!c.is_string()) continue;
      if (!out.empty()) out += ", ";
      out += std::string(c.as_string());
    }
  }
  return out;
}

/// "2026-12-07T01:02:03Z" → "2026-12-07 01:02" (the API's times are UTC).
std::string utc_text(std::string_view rfc3339) {
  if (rfc3339.size() < 16) return std::string(rfc3339);
  std::string out(rfc3339.substr(0, 16));
  out[10] = ' ';
  return out;
}

/// A catalogue key made from a stable name: hyphens are kept (TOML bare keys allow them).
std::string label_or_name(PageKit& kit, const Ctx& ctx, std::string_view section,
                          std::string_view name) {
  const std::string key = std::string(section) + "." + std::string(name);
  if (kit.catalogue(ctx.lang).find(key) != nullptr) return kit.tr(ctx, key);
  return std::string(name);
}

/// A date "YYYY-MM-DD" as the sys_days it names; nullopt when malformed or not a calendar day.
std::optional<std::chrono::sys_days> parse_day(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (const std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  const auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i)
      v = v * 10 + (s[i] - '0');
    return v;
  };
  const std::chrono::year_month_day ymd{std::chrono::year(num(0, 4)),
                                        std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                        std::chrono::day(static_cast<unsigned>(num(8, 2)))};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd);
}

std::string day_text(std::chrono::sys_days d) {
  const std::chrono::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

/// A plain token as the gateway takes for a worker id (1..64 of [A-Za-z0-9._:@-]).
bool plain_token(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
  });
}

/// A /v1 GET answered 200 with a JSON object; otherwise the page to show instead.
struct JsonAnswer {
  std::optional<json::object> body;
  std::optional<gw::HttpResponse> refusal;
};

JsonAnswer get_json(PageKit& kit, Ctx& ctx, std::string target) {
  ApiRequest req;
  req.target = std::move(target);
  auto answer = kit.call_api(ctx, std::move(req));
  if (!answer) return {std::nullopt, kit.gateway_down_page(ctx)};
  if (answer->status != 200) return {std::nullopt, kit.api_problem_page(ctx, *answer)};
  boost::system::error_code ec;
  auto v = json::parse(answer->body, ec);
  if (ec || !v.is_object()) return {std::nullopt, kit.gateway_down_page(ctx)};
  return {std::move(v.as_object()), std::nullopt};
}

gw::HttpResponse bad_input(PageKit& kit, Ctx& ctx, std::string_view message_key) {
  return kit.error_page(ctx, 400, "error.bad_input_title", message_key);
}

// --- the overview with charts -----------------------------------------------------------------

struct ChartCounts {
  std::map<std::string, std::set<std::string>> reads_by_day;  // day → request ids
  std::map<std::string, std::set<std::string>> reads_by_purpose;
  std::map<std::string, std::set<std::string>> denials_by_day;
  std::map<std::string, std::uint64_t> grants_by_day;
};

void count_event(ChartCounts& c, const json::object& e) {
  const std::string day = str_of(e, "time").substr(0, 10);
  const std::string action = str_of(e, "action");
  const std::string decision = str_of(e, "decision");
  const std::string request = str_of(e, "request_id");
  if (decision == "deny") c.denials_by_day[day].insert(request);
  if (action == "read" && decision == "permit") {
    c.reads_by_day[day].insert(request);
    c.reads_by_purpose[str_of(e, "purpose")].insert(request);
  }
  // Emergency access as the organisation sees it: grants its workers opened, and every read
  // made under a grant (its own workers' or another organisation's on its data).
  if (decision == "permit" && bool_of(e, "break_glass") &&
      (action == "break-glass-start" || action == "read")) {
    ++c.grants_by_day[day];
  }
}

Html chart(PageKit& kit, const Ctx& ctx, BarChart c, std::string_view key) {
  const std::string k(key);
  std::uint64_t total = 0;
  for (const auto& b : c.bars)
    total += b.value;
  c.title = kit.tr(ctx, "dpo_charts." + k + "_title");
  c.description = kit.tr(ctx, "dpo_charts." + k + "_description",
                         {{"total", std::to_string(total)}, {"days", std::to_string(kChartDays)}});
  c.value_heading = kit.tr(ctx, "dpo_charts." + k + "_value");
  c.table_summary = kit.tr(ctx, "dpo_charts.show_numbers");
  c.empty_text = kit.tr(ctx, "dpo_charts.empty");
  auto html = render_bar_chart(c);
  if (!html) throw std::runtime_error("chart");
  return std::move(*html);
}

gw::HttpResponse overview(PageKit& kit, Ctx& ctx) {
  const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const auto first = today - std::chrono::days(kChartDays - 1);
  ChartCounts counts;
  std::string cursor;
  bool complete = false;
  for (int page = 0; page < kMaxChartPages; ++page) {
    std::string target = "/v1/audit/events?limit=1000&from=" + day_text(first) + "T00:00:00Z";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto got = get_json(kit, ctx, target);
    if (got.refusal) return std::move(*got.refusal);
    if (const auto* events = got.body->if_contains("events"); events && events->is_array()) {
      for (const auto& e : events->as_array()) {
        if (e.is_object()) count_event(counts, e.as_object());
      }
    }
    const auto* next = got.body->if_contains("next");
    if (next == nullptr || !next->is_int64()) {
      complete = true;
      break;
    }
    cursor = std::to_string(next->as_int64());
  }
  const auto per_day = [&](auto value_of) {
    std::vector<ChartBar> bars;
    for (auto d = first; d <= today; d += std::chrono::days(1)) {
      const std::string day = day_text(d);
      bars.push_back({day, value_of(day)});
    }
    return bars;
  };
  const auto size_at = [](const auto& m, const std::string& k) -> std::uint64_t {
    const auto it = m.find(k);
    return it == m.end() ? 0 : static_cast<std::uint64_t>(it->second.size());
  };
  TemplateData d;
  BarChart reads{"chart-reads", {}, {}, kit.tr(ctx, "dpo_charts.day"), {}, {}, {},
                 ChartTone::neutral, ChartLayout::columns,
                 per_day([&](const std::string& day) { return size_at(counts.reads_by_day, day); })};
  d.set_html("chart_reads", chart(kit, ctx, std::move(reads), "reads"));
  std::vector<ChartBar> purposes;
  for (const auto& [purpose, requests] : counts.reads_by_purpose) {
    purposes.push_back({label_or_name(kit, ctx, "dpo_purpose", purpose),
                        static_cast<std::uint64_t>(requests.size())});
  }
  BarChart by_purpose{"chart-purposes", {}, {}, kit.tr(ctx, "dpo_charts.purpose"), {}, {}, {},
                      ChartTone::neutral, ChartLayout::rows, std::move(purposes)};
  d.set_html("chart_purposes", chart(kit, ctx, std::move(by_purpose), "purposes"));
  BarChart denials{
      "chart-denials", {}, {}, kit.tr(ctx, "dpo_charts.day"), {}, {}, {}, ChartTone::denial,
      ChartLayout::columns,
      per_day([&](const std::string& day) { return size_at(counts.denials_by_day, day); })};
  d.set_html("chart_denials", chart(kit, ctx, std::move(denials), "denials"));
  BarChart grants{"chart-break-glass", {}, {}, kit.tr(ctx, "dpo_charts.day"), {}, {}, {},
                  ChartTone::emergency, ChartLayout::columns,
                  per_day([&](const std::string& day) -> std::uint64_t {
                    const auto it = counts.grants_by_day.find(day);
                    return it == counts.grants_by_day.end() ? 0 : it->second;
                  })};
  d.set_html("chart_break_glass", chart(kit, ctx, std::move(grants), "break_glass"));
  d.set_flag("incomplete", !complete);
  d.set("from", day_text(first)).set("until", day_text(today));
  return kit.page(ctx, 200, "dpo_home", "dpo_home.page_title", std::move(d));
}

// --- audit events ---------------------------------------------------------------------------

gw::HttpResponse events_page(PageKit& kit, Ctx& ctx) {
  const auto q = [&](std::string_view k) {
    return std::string(ctx.req.query_param(k).value_or(""));
  };
  for (const auto& [k, v] : ctx.req.query) {
    static const std::set<std::string, std::less<>> kKnown = {"from",    "until",  "worker",
                                                              "action",  "purpose", "cursor"};
    if (!kKnown.contains(k)) return bad_input(kit, ctx, "dpo_events.bad_filter");
  }
  const std::string from = q("from"), until = q("until"), worker = q("worker"),
                    action = q("action"), purpose = q("purpose"), cursor = q("cursor");
  std::string target = "/v1/audit/events?limit=1000";
  if (!from.empty()) {
    const auto d = parse_day(from);
    if (!d) return bad_input(kit, ctx, "dpo_events.bad_date");
    target += "&from=" + day_text(*d) + "T00:00:00Z";
  }
  if (!until.empty()) {
    const auto d = parse_day(until);
    if (!d) return bad_input(kit, ctx, "dpo_events.bad_date");
    target += "&until=" + day_text(*d + std::chrono::days(1)) + "T00:00:00Z";
  }
  if (!from.empty() && !until.empty() && *parse_day(until) < *parse_day(from)) {
    return bad_input(kit, ctx, "dpo_events.bad_period");
  }
  if (!worker.empty()) {
    if (!plain_token(worker)) return bad_input(kit, ctx, "dpo_events.bad_worker");
    target += "&worker=" + url_encode(worker);
  }
  if (!action.empty()) {
    if (std::find(kActions.begin(), kActions.end(), action) == kActions.end()) {
      return bad_input(kit, ctx, "dpo_events.bad_filter");
    }
    target += "&action=" + action;
  }
  if (!purpose.empty() &&
      std::find(kPurposes.begin(), kPurposes.end(), purpose) == kPurposes.end()) {
    return bad_input(kit, ctx, "dpo_events.bad_filter");
  }
  if (!cursor.empty()) {
    if (cursor.size() > 19 || !std::all_of(cursor.begin(), cursor.end(),
                                           [](char c) { return c >= '0' && c <= '9'; })) {
      return bad_input(kit, ctx, "dpo_events.bad_filter");
    }
  }
  // sluisd filters by everything but the purpose; the console filters the purpose, reading on
  // until a page of the console is full (or the log is read to its end).
  std::vector<TemplateData> rows;
  std::string next = cursor;
  for (int pages = 0; pages < 10 && rows.size() < kEventsPerPage; ++pages) {
    auto got = get_json(kit, ctx, target + (next.empty() ? "" : "&cursor=" + next));
    if (got.refusal) return std::move(*got.refusal);
    next.clear();
    const auto* events = got.body->if_contains("events");
    std::int64_t last_leaf = -1;
    bool full = false;
    if (events != nullptr && events->is_array()) {
      for (const auto& v : events->as_array()) {
        if (!v.is_object()) continue;
        const auto& e = v.as_object();
        if (const auto* l = e.if_contains("leaf"); l && l->is_int64()) last_leaf = l->as_int64();
        if (!purpose.empty() && str_of(e, "purpose") != purpose) continue;
        TemplateData r;
        const std::string a = str_of(e, "action");
        const std::string dec = str_of(e, "decision");
        r.set("time", utc_text(str_of(e, "time")));
        r.set("worker", str_of(e, "worker")).set("role", str_of(e, "role"));
        r.set("partner", str_of(e, "partner"));
        r.set("action", label_or_name(kit, ctx, "dpo_action", a)).set("action_code", a);
        r.set("categories", join_names(e, "categories"));
        r.set("purpose", str_of(e, "purpose").empty()
                             ? std::string()
                             : label_or_name(kit, ctx, "dpo_purpose", str_of(e, "purpose")));
        r.set("decision", label_or_name(kit, ctx, "dpo_decision", dec == "n/a" ? "na" : dec));
        r.set("row_class", dec == "deny" ? "denied" : "permitted");
        r.set_flag("break_glass", bool_of(e, "break_glass"));
        r.set("rule", str_of(e, "rule"));
        rows.push_back(std::move(r));
        if (rows.size() == kEventsPerPage) {
          full = true;
          break;
        }
      }
    }
    if (full) {
      // The next console page starts after the last event shown.
      if (last_leaf >= 0) next = std::to_string(last_leaf + 1);
      break;
    }
    if (const auto* n = got.body->if_contains("next"); n && n->is_int64()) {
      next = std::to_string(n->as_int64());
    } else {
      break;
    }
  }
  TemplateData d;
  d.set("from", from).set("until", until).set("worker", worker);
  std::vector<TemplateData> actions;
  TemplateData any;
  any.set("code", "").set("label", kit.tr(ctx, "dpo_events.any")).set_flag("selected",
                                                                          action.empty());
  actions.push_back(std::move(any));
  for (const auto a : kActions) {
    TemplateData t;
    t.set("code", std::string(a)).set("label", label_or_name(kit, ctx, "dpo_action", a));
    t.set_flag("selected", a == action);
    actions.push_back(std::move(t));
  }
  d.set_list("actions", std::move(actions));
  std::vector<TemplateData> purposes;
  TemplateData any_purpose;
  any_purpose.set("code", "").set("label", kit.tr(ctx, "dpo_events.any"));
  any_purpose.set_flag("selected", purpose.empty());
  purposes.push_back(std::move(any_purpose));
  for (const auto p : kPurposes) {
    TemplateData t;
    t.set("code", std::string(p)).set("label", label_or_name(kit, ctx, "dpo_purpose", p));
    t.set_flag("selected", p == purpose);
    purposes.push_back(std::move(t));
  }
  d.set_list("purposes", std::move(purposes));
  d.set_flag("has_events", !rows.empty());
  d.set_list("events", std::move(rows));
  d.set("action_filter", action).set("purpose_filter", purpose);
  if (!next.empty()) {
    TemplateData n;
    n.set("cursor", next);
    d.set_object("next", std::move(n));
  } else {
    d.set_flag("next", false);
  }
  return kit.page(ctx, 200, "dpo_events", "dpo_events.page_title", std::move(d));
}

// --- the break-the-glass review queue --------------------------------------------------------

TemplateData grant_data(PageKit& kit, const Ctx& ctx, const json::object& g) {
  TemplateData t;
  const std::string id = str_of(g, "grant");
  t.set("grant", id).set("short", id.substr(0, 8));
  t.set("client", str_of(g, "client").empty() ? kit.tr(ctx, "dpo_review.client_unknown")
                                              : str_of(g, "client"));
  t.set("partner", str_of(g, "partner")).set("worker", str_of(g, "worker"));
  t.set("categories", join_names(g, "categories"));
  t.set("starts_at", utc_text(str_of(g, "starts_at")));
  t.set("expires_at", utc_text(str_of(g, "expires_at")));
  t.set_flag("active", bool_of(g, "active"));
  if (g.contains("reason")) {
    TemplateData r;
    r.set("text", str_of(g, "reason"));
    t.set_object("reason", std::move(r));
  } else {
    t.set_flag("reason", false);
  }
  std::vector<TemplateData> accesses;
  if (const auto* a = g.if_contains("accesses"); a && a->is_array()) {
    for (const auto& v : a->as_array()) {
      if (!v.is_object()) continue;
      const auto& e = v.as_object();
      TemplateData r;
      r.set("time", utc_text(str_of(e, "time"))).set("worker", str_of(e, "worker"));
      r.set("role", str_of(e, "role")).set("categories", join_names(e, "categories"));
      r.set("purpose", label_or_name(kit, ctx, "dpo_purpose", str_of(e, "purpose")));
      r.set("owner", str_of(e, "owner_partner"));
      accesses.push_back(std::move(r));
    }
  }
  t.set_flag("has_accesses", !accesses.empty());
  t.set("access_count", std::to_string(accesses.size()));
  t.set_list("accesses", std::move(accesses));
  t.set_flag("accesses_truncated", bool_of(g, "accesses_truncated"));
  std::vector<TemplateData> reviews;
  if (const auto* a = g.if_contains("reviews"); a && a->is_array()) {
    for (const auto& v : a->as_array()) {
      if (!v.is_object()) continue;
      const auto& r = v.as_object();
      TemplateData x;
      x.set("partner", str_of(r, "partner")).set("worker", str_of(r, "worker"));
      x.set("outcome", label_or_name(kit, ctx, "dpo_outcome", str_of(r, "outcome")));
      x.set("reviewed_at", utc_text(str_of(r, "reviewed_at")));
      if (r.contains("note")) {
        TemplateData n;
        n.set("text", str_of(r, "note"));
        x.set_object("note", std::move(n));
      } else {
        x.set_flag("note", false);
      }
      reviews.push_back(std::move(x));
    }
  }
  t.set_flag("has_reviews", !reviews.empty());
  t.set_list("reviews", std::move(reviews));
  t.set_flag("reviewed", bool_of(g, "reviewed"));
  t.set("grant_class", bool_of(g, "reviewed") ? "grant is-reviewed" : "grant");
  std::vector<TemplateData> outcomes;
  for (const auto o : kOutcomes) {
    TemplateData x;
    x.set("code", std::string(o)).set("label", label_or_name(kit, ctx, "dpo_outcome", o));
    x.set("input_id", "outcome-" + id.substr(0, 8) + "-" + std::string(o));
    outcomes.push_back(std::move(x));
  }
  t.set_list("outcomes", std::move(outcomes));
  return t;
}

gw::HttpResponse review_queue(PageKit& kit, Ctx& ctx) {
  const auto cursor = ctx.req.query_param("cursor");
  const auto done = ctx.req.query_param("reviewed");
  for (const auto& [k, v] : ctx.req.query) {
    if (k != "cursor" && k != "reviewed") return bad_input(kit, ctx, "dpo_review.bad_input");
  }
  std::string target = "/v1/break-glass?limit=20";
  if (cursor) {
    if (cursor->empty() || cursor->size() > 19 ||
        !std::all_of(cursor->begin(), cursor->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad_input(kit, ctx, "dpo_review.bad_input");
    }
    target += "&cursor=" + std::string(*cursor);
  }
  auto got = get_json(kit, ctx, target);
  if (got.refusal) return std::move(*got.refusal);
  std::vector<TemplateData> to_review, reviewed;
  if (const auto* gs = got.body->if_contains("grants"); gs && gs->is_array()) {
    for (const auto& v : gs->as_array()) {
      if (!v.is_object()) continue;
      auto t = grant_data(kit, ctx, v.as_object());
      (bool_of(v.as_object(), "reviewed") ? reviewed : to_review).push_back(std::move(t));
    }
  }
  TemplateData d;
  d.set_flag("has_open", !to_review.empty());
  d.set_list("open", std::move(to_review));
  d.set_flag("has_reviewed", !reviewed.empty());
  d.set_list("reviewed", std::move(reviewed));
  d.set_flag("just_reviewed", done.has_value());
  if (const auto* n = got.body->if_contains("next"); n && n->is_int64()) {
    TemplateData x;
    x.set("cursor", std::to_string(n->as_int64()));
    d.set_object("next", std::move(x));
  } else {
    d.set_flag("next", false);
  }
  return kit.page(ctx, 200, "dpo_review", "dpo_review.page_title", std::move(d));
}

gw::HttpResponse review_grant(PageKit& kit, Ctx& ctx) {
  const auto grant = ctx.params.get("grant");
  const auto outcome = ctx.form.get("outcome");
  const auto note = ctx.form.get("note");
  if (!grant || grant->size() != 32 || !std::all_of(grant->begin(), grant->end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return kit.error_page(ctx, 404, "error.not_found_title", "dpo_review.not_found");
  }
  if (!outcome || std::find(kOutcomes.begin(), kOutcomes.end(), *outcome) == kOutcomes.end()) {
    return bad_input(kit, ctx, "dpo_review.outcome_required");
  }
  const bool blank = !note || std::all_of(note->begin(), note->end(), [](char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  });
  if (blank) return bad_input(kit, ctx, "dpo_review.note_required");
  if (note->size() > 4000) return bad_input(kit, ctx, "dpo_review.note_too_long");
  ApiRequest req;
  req.method = "POST";
  req.target = "/v1/break-glass/" + std::string(*grant) + "/review";
  req.body = json::serialize(json::object{{"outcome", *outcome}, {"note", *note}});
  auto answer = kit.call_api(ctx, std::move(req));
  if (!answer) return kit.gateway_down_page(ctx);
  if (answer->status != 201) return kit.api_problem_page(ctx, *answer);
  return PageKit::redirect("/dpo/break-glass?reviewed=1");
}

// --- access requests --------------------------------------------------------------------------

bool client_pseudonym(std::string_view s) {
  return s.size() >= 3 && s.size() <= 64 && s.starts_with("p1") &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

gw::HttpResponse access_request_page(PageKit& kit, Ctx& ctx) {
  TemplateData d;
  std::vector<TemplateData> langs;
  for (const auto* l : {"nl", "fr", "en"}) {
    TemplateData t;
    t.set("code", l).set("label", kit.tr(ctx, std::string("dpo_access.lang_") + l));
    t.set_flag("selected", ctx.lang == l);
    langs.push_back(std::move(t));
  }
  d.set_list("languages", std::move(langs));
  return kit.page(ctx, 200, "dpo_access", "dpo_access.page_title", std::move(d));
}

/// sluisd's access report (escaped by sluisd's renderer) served as the console's printable page:
/// its style element is replaced by the console's own stylesheets and a print button is added,
/// so the page's CSP (no inline style, scripts only with the nonce) holds.
gw::HttpResponse access_report_print(PageKit& kit, Ctx& ctx) {
  for (const auto& [k, v] : ctx.req.query) {
    if (k != "client" && k != "lang") return bad_input(kit, ctx, "dpo_access.bad_input");
  }
  const auto client = ctx.req.query_param("client");
  const auto lang = ctx.req.query_param("lang");
  if (!client || !client_pseudonym(*client)) return bad_input(kit, ctx, "dpo_access.bad_client");
  if (!lang || (*lang != "nl" && *lang != "fr" && *lang != "en")) {
    return bad_input(kit, ctx, "dpo_access.bad_input");
  }
  ApiRequest req;
  req.target = "/v1/clients/" + std::string(*client) + "/access-report?lang=" + std::string(*lang);
  req.purpose = "administration";
  auto answer = kit.call_api(ctx, std::move(req));
  if (!answer) return kit.gateway_down_page(ctx);
  if (answer->status != 200) return kit.api_problem_page(ctx, *answer);
  std::string html = answer->body;
  // sluisd's renderer writes one style element, no script, no inline style, no handler, no
  // link: a report that holds any of those is not passed on.
  std::string lower = html;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto count = [&](std::string_view needle) {
    std::size_t n = 0;
    for (auto at = lower.find(needle); at != std::string::npos; at = lower.find(needle, at + 1))
      ++n;
    return n;
  };
  const auto style_at = html.find("<style>");
  const auto style_end = html.find("</style>");
  // Inside tags only: an event handler or a style attribute (the text itself is escaped).
  bool unsafe_attribute = false;
  for (auto open = lower.find('<'); open != std::string::npos; open = lower.find('<', open + 1)) {
    const auto close = lower.find('>', open);
    if (close == std::string::npos) break;
    const std::string_view tag(lower.data() + open, close - open);
    for (std::size_t i = 1; i + 3 < tag.size(); ++i) {
      const bool space = tag[i - 1] == ' ' || tag[i - 1] == '\t' || tag[i - 1] == '\n';
      if (space && (tag.substr(i, 2) == "on" || tag.substr(i, 6) == "style=")) {
        unsafe_attribute = true;
      }
    }
  }
  if (unsafe_attribute || count("<style") != 1 || count("<script") != 0 ||
      count("<link") != 0 || count("<body>") != 1 ||
      count("</body>") != 1 || style_at == std::string::npos || style_end == std::string::npos ||
      style_end < style_at) {
    return kit.gateway_down_page(ctx);
  }
  const std::string links = "<link rel=\"stylesheet\" href=\"/static/console.css\" nonce=\"" +
                            ctx.nonce +
                            "\"><link rel=\"stylesheet\" href=\"/static/print.css\" nonce=\"" +
                            ctx.nonce + "\" media=\"print\">";
  html.replace(style_at, style_end + std::string_view("</style>").size() - style_at, links);
  const std::string bar =
      "<body class=\"sluis-report\"><div class=\"no-print report-actions\"><a href=\"/dpo/"
      "access-report\">" +
      html_escape(kit.tr(ctx, "dpo_access.back")) + "</a> <button type=\"button\" data-print>" +
      html_escape(kit.tr(ctx, "dpo_access.print")) + "</button></div><main id=\"main\" class=\"print-document print-report\">";
  const auto body = html.find("<body>");
  html.replace(body, std::string_view("<body>").size(), bar);
  const auto end = html.rfind("</body>");
  html.replace(end, std::string_view("</body>").size(),
               "</main><script src=\"/static/js/print.js\" nonce=\"" + ctx.nonce +
                   "\"></script></body>");
  gw::HttpResponse res;
  res.status = 200;
  res.content_type = "text/html; charset=utf-8";
  res.body = std::move(html);
  return res;
}

// --- the log's health (the console as a witness) -----------------------------------------------

/// The page's own round goes through the DPO's partner certificate; the archive, the witness
/// and the timer's last round are the one WitnessTimer the app owns (witness_timer.hpp).
gw::HttpResponse log_health(PageKit& kit, Ctx& ctx, WitnessTimer& witness) {
  const auto client = kit.clients.find(ctx.account().partner);
  const LogHealthView view = witness.visit(client == kit.clients.end() ? nullptr : &client->second,
                                           ctx.account().worker);
  auto d = log_health_data(view);
  return kit.page(ctx, view.check || !view.configured ? 200 : 503, "dpo_log_health",
                  "dpo_log.page_title", std::move(d));
}

}  // namespace

void add_sluisd_workers(PageKit& kit, Ctx& ctx, TemplateData& data) {
  // Which of the partner's workers (as sluisd knows them) have a console account here.
  ApiRequest req;
  req.target = "/v1/workers";
  auto answer = kit.call_api(ctx, std::move(req));
  std::vector<TemplateData> rows;
  bool ok = false;
  if (answer && answer->status == 200) {
    boost::system::error_code ec;
    const auto v = json::parse(answer->body, ec);
    if (!ec && v.is_object()) {
      ok = true;
      std::set<std::string> with_account;
      for (const auto& a : kit.store.accounts_of(ctx.account().partner)) {
        if (!a.revoked) with_account.insert(a.worker);
      }
      if (const auto* ws = v.as_object().if_contains("workers"); ws && ws->is_array()) {
        for (const auto& w : ws->as_array()) {
          if (!w.is_object()) continue;
          const auto& o = w.as_object();
          const std::string id = str_of(o, "worker");
          TemplateData r;
          r.set("worker", id).set("role", str_of(o, "role"));
          r.set_flag("active", bool_of(o, "active"));
          r.set_flag("has_account", with_account.contains(id));
          rows.push_back(std::move(r));
        }
      }
    }
  }
  data.set_flag("sluisd_workers_ok", ok);
  data.set_flag("has_sluisd_workers", !rows.empty());
  data.set_list("sluisd_workers", std::move(rows));
}

void add_dpo_pages(gw::Router& router, PageKit& kit, WitnessTimer& witness) {
  router.add("GET", "/dpo", kit.guard(Access::dpo, overview));
  router.add("GET", "/dpo/events", kit.guard(Access::dpo, events_page));
  router.add("GET", "/dpo/break-glass", kit.guard(Access::dpo, review_queue));
  router.add("POST", "/dpo/break-glass/{grant}/review", kit.guard(Access::dpo, review_grant));
  router.add("GET", "/dpo/access-report", kit.guard(Access::dpo, access_request_page));
  router.add("GET", "/dpo/access-report/print", kit.guard(Access::dpo, access_report_print));
  router.add("GET", "/dpo/log-health",
             kit.guard(Access::dpo, [&witness](PageKit& k, Ctx& ctx) {
               return log_health(k, ctx, witness);
             }));
}

}  // namespace sluis::console
