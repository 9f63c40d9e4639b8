// The low-threshold service's console pages: cards (issued and read in the browser), anonymous
// guests, links, card replacement. The card code never reaches this server: the browser derives
// the service pseudonyms (static/js/pseudonym.js, WebCrypto) and posts only them; the card's QR
// code is drawn in the browser too (static/js/lowthreshold_qr.js).
#include "page_kit.hpp"

#include "sluis/crypto/card.hpp"
#include "sluis/crypto/secret.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {
namespace {

namespace json = boost::json;

constexpr std::string_view kScripts = "lowthreshold.js";
constexpr std::size_t kMaxFieldValue = 4000;

// "p1" and 26 characters of RFC 4648 base32 in lower case: the service's own pseudonym for a
// client (crypto::partner_pseudonym). Anything else never reaches the API.
bool is_client_pseudonym(std::string_view s) {
  return s.size() == 28 && s.starts_with("p1") && std::all_of(s.begin() + 2, s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
         });
}

// Field and category names as sluisd accepts them ([a-z0-9._-], 1..64).
bool is_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

std::string guest_path(std::string_view client) {
  return "/guests/" + std::string(client);
}

std::optional<json::object> json_object_of(const ApiResponse& answer) {
  boost::system::error_code ec;
  auto v = json::parse(answer.body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string string_in(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The "client" member of a /v1 answer that names one (registration, link, new card).
std::optional<std::string> client_of(const ApiResponse& answer) {
  auto o = json_object_of(answer);
  if (!o) return std::nullopt;
  std::string s = string_in(*o, "client");
  if (!is_client_pseudonym(s)) return std::nullopt;
  return s;
}

bool success(const ApiResponse& a) {
  return a.status >= 200 && a.status < 300;
}

// What GET /v1/card-services answers: the other card services, the categories an anonymous
// record accepts, the purposes of a read.
struct CardContext {
  struct Named {
    std::string name;
    std::string label;
  };
  std::vector<Named> services;  ///< partner id, display name
  std::vector<Named> categories;
  std::vector<Named> purposes;
};

std::optional<CardContext> card_context(PageKit& kit, const Ctx& ctx) {
  auto a = kit.shared_get(ctx, "/v1/card-services");
  if (!a || a->status != 200) return std::nullopt;
  auto o = json_object_of(*a);
  if (!o) return std::nullopt;
  CardContext out;
  const auto list = [&](std::string_view key, std::string_view name, std::string_view label,
                        std::vector<CardContext::Named>& into) {
    const auto* arr = o->if_contains(key);
    if (arr == nullptr || !arr->is_array()) return;
    for (const auto& item : arr->as_array()) {
      if (!item.is_object()) continue;
      CardContext::Named n{string_in(item.as_object(), name), string_in(item.as_object(), label)};
      if (is_name(n.name)) into.push_back(std::move(n));
    }
  };
  list("services", "partner", "name", out.services);
  list("categories", "name", "label", out.categories);
  list("purposes", "name", "label", out.purposes);
  return out;
}

// A rule-pack name shown in the page's language: the catalogue's `<section>.<name>` when it
// has one, else the pack's own label.
std::string label_of(PageKit& kit, const Ctx& ctx, std::string_view section,
                     const CardContext::Named& n) {
  const std::string key = std::string(section) + "." + n.name;
  if (kit.catalogue(ctx.lang).find(key) != nullptr) return kit.tr(ctx, key);
  return n.label.empty() ? n.name : n.label;
}

// The low-threshold pages are for a low-threshold service's workers: sluisd says which kind of
// service the signed-in account's partner is.
struct Service {
  std::string id;
  std::string name;
};

std::optional<gw::HttpResponse> refuse_unless_low_threshold(PageKit& kit, Ctx& ctx,
                                                            Service& out) {
  const auto me = kit.who(ctx);
  if (!me) return kit.gateway_down_page(ctx);
  if (!me->low_threshold) {
    return kit.error_page(ctx, 403, "lowthreshold.page_title", "lowthreshold.not_low_threshold");
  }
  out.id = me->partner_id;
  out.name = me->partner_name;
  return std::nullopt;
}

// A JSON answer for the card pages' fetch(): {"guest": path} or {"problem", "message"}.
gw::HttpResponse card_refusal(PageKit& kit, Ctx& ctx, int status, std::string_view code) {
  const std::string key = "problem." + std::string(code);
  std::string message = kit.catalogue(ctx.lang).find(key) != nullptr
                            ? kit.tr(ctx, key)
                            : kit.tr(ctx, "lowthreshold_card.failed");
  return PageKit::json_answer(status, json::object{{"problem", code}, {"message", message}});
}

gw::HttpResponse card_answer(PageKit& kit, Ctx& ctx, const ApiResponse& a) {
  if (!success(a)) {
    const std::string code = PageKit::problem_code(a);
    return card_refusal(kit, ctx, a.status == 404 || a.status == 403 || a.status == 409 ||
                                          a.status == 422
                                      ? a.status
                                      : 502,
                        code.empty() ? "gateway" : code);
  }
  auto client = client_of(a);
  if (!client) return card_refusal(kit, ctx, 502, "gateway");
  return PageKit::json_answer(200, json::object{{"guest", guest_path(*client)}});
}

// The card-code form's refusal messages are filled in by pseudonym.js in the browser: their
// placeholders are rendered as themselves.
TemplateData& with_code_placeholders(TemplateData& d) {
  return d.set("character", "{character}").set("count", "{count}").set("lookalike", "{lookalike}");
}

// --- pages ----------------------------------------------------------------------------------

gw::HttpResponse home(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  TemplateData d;
  d.set("partner", s.name).set("service_id", s.id);
  with_code_placeholders(d);
  return kit.page(ctx, 200, "lowthreshold_home", "lowthreshold.page_title", std::move(d),
                  {std::string(kScripts)});
}

gw::HttpResponse card_page(PageKit& kit, Ctx& ctx, bool replace) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  std::string post = "/guests/new-card";
  if (replace) {
    const auto client = ctx.params.get("client");
    if (!client || !is_client_pseudonym(*client)) {
      return kit.error_page(ctx, 404, "error.not_found_title", "error.not_found");
    }
    post = guest_path(*client) + "/new-card";
  }
  TemplateData d;
  d.set("partner", s.name)
      .set("service_id", s.id)
      .set("service_name", s.name)
      .set("post_url", post)
      .set("mode", replace ? "replace" : "new")
      .set_flag("replace", replace);
  return kit.page(ctx, 200, "lowthreshold_card",
                  replace ? "lowthreshold_replace.page_title" : "lowthreshold_card.page_title",
                  std::move(d), {std::string(kScripts), "print.js"});
}

// POST /guests/new-card and /guests/{client}/new-card (fetch from lowthreshold_card.js): the
// new card's pseudonym only.
gw::HttpResponse register_card(PageKit& kit, Ctx& ctx, bool replace) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) {
    return card_refusal(kit, ctx, refused->status, "not-low-threshold");
  }
  const auto pseudonym = ctx.form.get("pseudonym");
  if (!pseudonym || !crypto::looks_like_service_pseudonym(*pseudonym)) {
    return card_refusal(kit, ctx, 422, "invalid-identifier");
  }
  ApiRequest r;
  r.method = "POST";
  if (replace) {
    const auto client = ctx.params.get("client");
    if (!client || !is_client_pseudonym(*client)) return card_refusal(kit, ctx, 404, "client-not-found");
    r.target = "/v1/clients/" + std::string(*client) + "/card";
  } else {
    r.target = "/v1/clients";
  }
  r.body = json::serialize(json::object{{"service_pseudonym", *pseudonym}});
  auto a = kit.call_api(ctx, r);
  if (!a) return card_refusal(kit, ctx, 502, "gateway");
  return card_answer(kit, ctx, *a);
}

// POST /guests/serve: the pseudonym the browser derived from the typed or scanned code.
gw::HttpResponse serve(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  const auto pseudonym = ctx.form.get("pseudonym");
  if (!pseudonym || !crypto::looks_like_service_pseudonym(*pseudonym)) {
    return kit.error_page(ctx, 422, "error.bad_input_title", "problem.invalid-identifier");
  }
  ApiRequest r;
  r.method = "POST";
  r.target = "/v1/clients";
  r.body = json::serialize(json::object{{"service_pseudonym", *pseudonym}});
  auto a = kit.call_api(ctx, r);
  if (!a) return kit.gateway_down_page(ctx);
  if (!success(*a)) return kit.api_problem_page(ctx, *a);
  auto client = client_of(*a);
  if (!client) return kit.gateway_down_page(ctx);
  return PageKit::redirect(guest_path(*client) + (a->status == 201 ? "?state=new" : "?state=known"));
}

gw::HttpResponse guest(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  const auto client = ctx.params.get("client");
  if (!client || !is_client_pseudonym(*client)) {
    return kit.error_page(ctx, 404, "error.not_found_title", "error.not_found");
  }
  auto cc = card_context(kit, ctx);
  if (!cc || cc->purposes.empty()) return kit.gateway_down_page(ctx);
  // The default: care coordination when the pack has it (the everyday reason to read), else the
  // pack's first purpose.
  std::string purpose = cc->purposes.front().name;
  if (std::any_of(cc->purposes.begin(), cc->purposes.end(),
                  [](const auto& p) { return p.name == "care-coordination"; })) {
    purpose = "care-coordination";
  }
  if (const auto q = ctx.req.query_param("purpose")) {
    const bool known = std::any_of(cc->purposes.begin(), cc->purposes.end(),
                                   [&](const auto& p) { return p.name == *q; });
    if (!known) return kit.error_page(ctx, 400, "error.bad_input_title", "error.bad_input");
    purpose = std::string(*q);
  }
  ApiRequest r;
  r.target = "/v1/clients/" + std::string(*client) + "/dossier";
  r.purpose = purpose;
  auto a = kit.call_api(ctx, r);
  if (!a) return kit.gateway_down_page(ctx);
  if (!success(*a)) return kit.api_problem_page(ctx, *a);
  auto body = json_object_of(*a);
  if (!body) return kit.gateway_down_page(ctx);

  TemplateData d;
  d.set("partner", s.name).set("client", std::string(*client));
  const auto state = ctx.req.query_param("state").value_or("");
  if (state == "new" || state == "known" || state == "added" || state == "linked") {
    TemplateData st;
    st.set_flag("new_guest", state == "new")
        .set_flag("known", state == "known")
        .set_flag("added", state == "added")
        .set_flag("linked", state == "linked");
    d.set_object("state", std::move(st));
  } else {
    d.set_flag("state", false);
  }
  std::vector<TemplateData> purposes;
  for (const auto& p : cc->purposes) {
    TemplateData t;
    t.set("code", p.name)
        .set("label", label_of(kit, ctx, "lowthreshold_purpose", p))
        .set_flag("current", p.name == purpose);
    purposes.push_back(std::move(t));
  }
  d.set_list("purposes", std::move(purposes));
  std::vector<TemplateData> categories;
  for (const auto& c : cc->categories) {
    TemplateData t;
    t.set("code", c.name).set("label", label_of(kit, ctx, "lowthreshold_category", c));
    categories.push_back(std::move(t));
  }
  d.set_list("categories", std::move(categories));
  std::vector<TemplateData> fragments;
  if (const auto* list = body->if_contains("fragments"); list != nullptr && list->is_array()) {
    for (const auto& item : list->as_array()) {
      if (!item.is_object()) continue;
      const auto& f = item.as_object();
      TemplateData t;
      const std::string category = string_in(f, "category");
      const auto known = std::find_if(cc->categories.begin(), cc->categories.end(),
                                      [&](const auto& c) { return c.name == category; });
      t.set("category", known != cc->categories.end()
                            ? label_of(kit, ctx, "lowthreshold_category", *known)
                            : label_of(kit, ctx, "lowthreshold_category", {category, category}));
      std::string owner;
      if (const auto* o = f.if_contains("owner"); o != nullptr && o->is_object()) {
        owner = string_in(o->as_object(), "name");
      }
      t.set("owner", owner);
      std::string created = string_in(f, "created_at");
      if (created.size() >= 16) created = created.substr(0, 10) + " " + created.substr(11, 5);
      t.set("created", created);
      const auto* version = f.if_contains("version");
      t.set("version", version != nullptr && version->is_int64()
                           ? std::to_string(version->as_int64())
                           : std::string("1"));
      t.set_flag("unreadable", f.contains("unreadable"));
      std::vector<TemplateData> fields;
      if (const auto* fs = f.if_contains("fields"); fs != nullptr && fs->is_object()) {
        for (const auto& [name, value] : fs->as_object()) {
          TemplateData fd;
          fd.set("name", std::string(name))
              .set("value", value.is_string() ? std::string(value.as_string()) : std::string());
          fields.push_back(std::move(fd));
        }
      }
      t.set_list("fields", std::move(fields));
      fragments.push_back(std::move(t));
    }
  }
  d.set_list("fragments", std::move(fragments));
  return kit.page(ctx, 200, "lowthreshold_guest", "lowthreshold_guest.page_title", std::move(d));
}

// POST /guests/{client}/fragments: a note of one category with one or two fields. Nothing of
// it is kept or logged here; sluisd refuses identifying categories for an anonymous guest.
gw::HttpResponse add_fragment(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  const auto client = ctx.params.get("client");
  if (!client || !is_client_pseudonym(*client)) {
    return kit.error_page(ctx, 404, "error.not_found_title", "error.not_found");
  }
  const auto category = ctx.form.get("category");
  if (!category || !is_name(*category)) {
    return kit.error_page(ctx, 422, "error.bad_input_title", "lowthreshold_guest.bad_note");
  }
  json::object fields;
  for (const auto& [name_key, value_key] :
       {std::pair{"field1", "value1"}, std::pair{"field2", "value2"}}) {
    const auto name = ctx.form.get(name_key).value_or("");
    const auto value = ctx.form.get(value_key).value_or("");
    if (name.empty() && value.empty() && std::string_view(name_key) == "field2") continue;
    if (!is_name(name) || value.empty() || value.size() > kMaxFieldValue ||
        fields.contains(name)) {
      return kit.error_page(ctx, 422, "error.bad_input_title", "lowthreshold_guest.bad_note");
    }
    fields[name] = value;
  }
  ApiRequest r;
  r.method = "POST";
  r.target = "/v1/clients/" + std::string(*client) + "/fragments";
  r.body = json::serialize(json::object{{"category", *category}, {"fields", std::move(fields)}});
  auto a = kit.call_api(ctx, r);
  crypto::wipe(std::span<char>(r.body.data(), r.body.size()));
  if (!a) return kit.gateway_down_page(ctx);
  if (!success(*a)) return kit.api_problem_page(ctx, *a);
  return PageKit::redirect(guest_path(*client) + "?state=added");
}

gw::HttpResponse link_page(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  auto cc = card_context(kit, ctx);
  if (!cc) return kit.gateway_down_page(ctx);
  TemplateData d;
  d.set("partner", s.name).set("service_id", s.id);
  with_code_placeholders(d);
  std::vector<TemplateData> services;
  for (const auto& svc : cc->services) {
    TemplateData t;
    t.set("partner", svc.name).set("name", svc.label);
    services.push_back(std::move(t));
  }
  d.set_flag("has_services", !services.empty());
  d.set_list("services", std::move(services));
  return kit.page(ctx, 200, "lowthreshold_link", "lowthreshold_link.page_title", std::move(d),
                  {std::string(kScripts)});
}

// POST /guests/link: the guest agreed; both pseudonyms were derived in the browser.
gw::HttpResponse link(PageKit& kit, Ctx& ctx) {
  Service s;
  if (auto refused = refuse_unless_low_threshold(kit, ctx, s)) return std::move(*refused);
  const auto own = ctx.form.get("pseudonym");
  const auto first = ctx.form.get("pseudonym_first");
  const auto first_service = ctx.form.get("first_service");
  const auto consent = ctx.form.get("consent");
  const auto how = ctx.form.get("how").value_or("");
  if (!consent || *consent != "yes") {
    return kit.error_page(ctx, 422, "error.bad_input_title", "lowthreshold_link.no_consent");
  }
  if (!own || !first || !first_service || !crypto::looks_like_service_pseudonym(*own) ||
      !crypto::looks_like_service_pseudonym(*first) || !is_name(*first_service) ||
      (how != "spoken" && how != "signed")) {
    return kit.error_page(ctx, 422, "error.bad_input_title", "problem.invalid-link");
  }
  // The consent's evidence as sluisd records it with the link: how it was given, where, when.
  const std::string reference =
      "console:" + std::string(how) + ":" + utc_time(ctx.now).substr(0, 10);
  ApiRequest r;
  r.method = "POST";
  r.target = "/v1/links";
  r.body = json::serialize(json::object{{"own_pseudonym", *own},
                                        {"first_service", *first_service},
                                        {"first_pseudonym", *first},
                                        {"consent_reference", reference}});
  auto a = kit.call_api(ctx, r);
  if (!a) return kit.gateway_down_page(ctx);
  if (!success(*a)) return kit.api_problem_page(ctx, *a);
  auto client = client_of(*a);
  if (!client) return kit.gateway_down_page(ctx);
  return PageKit::redirect(guest_path(*client) + "?state=linked");
}

}  // namespace

void add_lowthreshold_pages(gw::Router& router, PageKit& kit) {
  const auto add = [&](const char* method, const char* path, PageKit::PageFn fn) {
    router.add(method, path, kit.guard(Access::signed_in, std::move(fn)));
  };
  add("GET", "/guests", home);
  add("POST", "/guests/serve", serve);
  add("GET", "/guests/new-card", [](PageKit& k, Ctx& c) { return card_page(k, c, false); });
  add("POST", "/guests/new-card", [](PageKit& k, Ctx& c) { return register_card(k, c, false); });
  add("GET", "/guests/link", link_page);
  add("POST", "/guests/link", link);
  add("GET", "/guests/{client}", guest);
  add("POST", "/guests/{client}/fragments", add_fragment);
  add("GET", "/guests/{client}/new-card", [](PageKit& k, Ctx& c) { return card_page(k, c, true); });
  add("POST", "/guests/{client}/new-card",
      [](PageKit& k, Ctx& c) { return register_card(k, c, true); });
}

}  // namespace sluis::console
