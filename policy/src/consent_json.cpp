// JSON (de)serialisation of consents and break-the-glass grants with Boost.JSON.
#include "sluis/policy/consent_json.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <initializer_list>

// Assigns the value of a Result expression or returns its error from the enclosing function.
#define SLUIS_TRY_ASSIGN(lhs, expr)                                                                \
  do {                                                                                             \
    auto sluis_try_ = (expr);                                                                      \
    if (!sluis_try_) return sluis_try_.error();                                                    \
    (lhs) = std::move(*sluis_try_);                                                                \
  } while (false)

namespace sluis::policy {
namespace json = boost::json;

namespace {

constexpr std::string_view kAllNonRestricted = "all-non-restricted";

// ---- writing ---------------------------------------------------------------------------------

json::array category_names(CategorySet set, bool all_non_restricted, const RulePack& pack) {
  json::array a;
  if (all_non_restricted) a.emplace_back(kAllNonRestricted);
  set.for_each([&](CategoryId c) { a.emplace_back(pack.def(c).name); });
  return a;
}

json::object worker_json(const WorkerRef& w) {
  return json::object{{"partner", w.partner}, {"worker", w.worker}};
}

// ---- reading ---------------------------------------------------------------------------------

// Every member must be one the format documents: unknown members are rejected, not ignored, so
// a misspelt "except" cannot silently widen a consent.
bool only_keys(const json::object& o, std::initializer_list<std::string_view> allowed) {
  return std::all_of(o.begin(), o.end(), [&](const json::key_value_pair& kv) {
    return std::find(allowed.begin(), allowed.end(), kv.key()) != allowed.end();
  });
}

Result<const json::object*> object_of(const json::value* v) {
  if (v == nullptr || !v->is_object()) return Errc::malformed;
  return &v->get_object();
}

Result<std::string_view> string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return Errc::malformed;
  return std::string_view(v->get_string());
}

Result<std::string> id_member(const json::object& o, std::string_view key) {
  auto s = string_member(o, key);
  if (!s) return s.error();
  if (!is_valid_id(*s)) return Errc::bad_id;
  return std::string(*s);
}

Result<Time> time_member(const json::object& o, std::string_view key) {
  auto s = string_member(o, key);
  if (!s) return s.error();
  auto t = parse_time(*s);
  if (!t) return Errc::bad_time;
  return *t;
}

Result<WorkerRef> worker_member(const json::object& o, std::string_view key, bool with_role) {
  auto obj = object_of(o.if_contains(key));
  if (!obj) return obj.error();
  const bool keys_ok = with_role ? only_keys(**obj, {"partner", "worker", "role"})
                                 : only_keys(**obj, {"partner", "worker"});
  if (!keys_ok) return Errc::malformed;
  WorkerRef w;
  SLUIS_TRY_ASSIGN(w.partner, id_member(**obj, "partner"));
  SLUIS_TRY_ASSIGN(w.worker, id_member(**obj, "worker"));
  return w;
}

template <class E, std::size_t N>
Result<E> enum_member(const json::object& o, std::string_view key, const E (&values)[N],
                      Errc unknown) {
  auto s = string_member(o, key);
  if (!s) return s.error();
  for (const E e : values) {
    if (to_string(e) == *s) return e;
  }
  return unknown;
}

Result<CategorySet> categories_member(const json::object& o, const RulePack& pack,
                                      bool allow_wildcard, bool* wildcard) {
  const json::value* v = o.if_contains("categories");
  if (v == nullptr || !v->is_array()) return Errc::malformed;
  CategorySet set;
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) return Errc::malformed;
    const std::string_view name = item.get_string();
    if (allow_wildcard && name == kAllNonRestricted) {
      if (*wildcard) return Errc::duplicate_name;
      *wildcard = true;
      continue;
    }
    const auto id = pack.category(name);
    if (!id) return Errc::unknown_category;
    if (set.contains(*id)) return Errc::duplicate_name;
    set.insert(*id);
  }
  return set;
}

Result<PurposeSet> purposes_member(const json::object& o, const RulePack& pack) {
  const json::value* v = o.if_contains("purposes");
  if (v == nullptr || !v->is_array()) return Errc::malformed;
  PurposeSet set;
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) return Errc::malformed;
    const auto id = pack.purpose(item.get_string());
    if (!id) return Errc::unknown_purpose;
    if (set.contains(*id)) return Errc::duplicate_name;
    set.insert(*id);
  }
  return set;
}

Result<ConsentException> exception_from_json(const json::value& v, const RulePack& pack) {
  if (!v.is_object()) return Errc::bad_exception;
  const json::object& o = v.get_object();
  if (!only_keys(o, {"partner", "worker", "category"})) return Errc::bad_exception;
  ConsentException e;
  if (o.contains("category")) {
    if (o.size() != 1) return Errc::bad_exception;
    auto name = string_member(o, "category");
    if (!name) return Errc::bad_exception;
    const auto id = pack.category(*name);
    if (!id) return Errc::unknown_category;
    e.kind = ConsentException::Kind::category;
    e.category = *id;
    return e;
  }
  if (!o.contains("partner")) return Errc::bad_exception;
  SLUIS_TRY_ASSIGN(e.partner, id_member(o, "partner"));
  if (o.contains("worker")) {
    e.kind = ConsentException::Kind::worker;
    SLUIS_TRY_ASSIGN(e.worker, id_member(o, "worker"));
  } else {
    e.kind = ConsentException::Kind::partner;
  }
  return e;
}

Result<ConsentProvision> provision_from_json(const json::value& v, const RulePack& pack) {
  if (!v.is_object()) return Errc::malformed;
  const json::object& o = v.get_object();
  if (!only_keys(o, {"grantee", "categories", "purposes", "period", "except"})) {
    return Errc::malformed;
  }
  ConsentProvision p;

  auto g = object_of(o.if_contains("grantee"));
  if (!g) return g.error();
  if (!only_keys(**g, {"partner", "partner_type", "role"})) return Errc::malformed;
  if ((*g)->contains("partner")) SLUIS_TRY_ASSIGN(p.grantee.partner, id_member(**g, "partner"));
  if ((*g)->contains("partner_type")) {
    auto name = string_member(**g, "partner_type");
    if (!name) return name.error();
    p.grantee.partner_type = pack.partner_type(*name);
    if (!p.grantee.partner_type) return Errc::unknown_partner_type;
  }
  if ((*g)->contains("role")) {
    auto name = string_member(**g, "role");
    if (!name) return name.error();
    p.grantee.role = pack.role(*name);
    if (!p.grantee.role) return Errc::unknown_role;
  }

  SLUIS_TRY_ASSIGN(p.categories, categories_member(o, pack, true, &p.all_non_restricted));
  SLUIS_TRY_ASSIGN(p.purposes, purposes_member(o, pack));

  auto period = object_of(o.if_contains("period"));
  if (!period) return period.error();
  if (!only_keys(**period, {"start", "end"})) return Errc::malformed;
  SLUIS_TRY_ASSIGN(p.period.start, time_member(**period, "start"));
  const json::value* end = (*period)->if_contains("end");
  if (end == nullptr || end->is_null()) return Errc::missing_end;
  SLUIS_TRY_ASSIGN(p.period.end, time_member(**period, "end"));

  if (const json::value* ex = o.if_contains("except")) {
    if (!ex->is_array()) return Errc::malformed;
    if (ex->get_array().size() > kMaxExceptions) return Errc::too_many_items;
    for (const json::value& item : ex->get_array()) {
      auto e = exception_from_json(item, pack);
      if (!e) return e.error();
      p.exceptions.push_back(std::move(*e));
    }
  }
  return p;
}

constexpr Channel kChannels[] = {Channel::in_person, Channel::paper_signed, Channel::other};
constexpr Language kLanguages[] = {Language::nl, Language::fr, Language::en};
constexpr LegalBasis kBases[] = {LegalBasis::consent, LegalBasis::vital_interest,
                                 LegalBasis::legal_obligation, LegalBasis::public_task};
constexpr Relationship kRelationships[] = {Relationship::parent, Relationship::legal_guardian,
                                           Relationship::court_appointed_administrator,
                                           Relationship::trusted_person};
constexpr ConsentStatus kStatuses[] = {ConsentStatus::active, ConsentStatus::revoked};

}  // namespace

json::value consent_to_json(const Consent& c, const RulePack& pack) {
  json::object o;
  o["id"] = c.id;
  o["status"] = to_string(c.status);
  if (c.revocation) {
    o["revocation"] =
        json::object{{"at", format_time(c.revocation->at)}, {"by", worker_json(c.revocation->by)}};
  }
  o["legal_basis"] = to_string(c.legal_basis);
  json::array provisions;
  for (const ConsentProvision& p : c.provisions) {
    json::object grantee;
    if (!p.grantee.partner.empty()) grantee["partner"] = p.grantee.partner;
    if (p.grantee.partner_type) grantee["partner_type"] = pack.def(*p.grantee.partner_type).name;
    if (p.grantee.role) grantee["role"] = pack.def(*p.grantee.role).name;
    json::array purposes;
    p.purposes.for_each([&](PurposeId id) { purposes.emplace_back(pack.def(id).name); });
    json::object po{{"grantee", std::move(grantee)},
                    {"categories", category_names(p.categories, p.all_non_restricted, pack)},
                    {"purposes", std::move(purposes)},
                    {"period", json::object{{"start", format_time(p.period.start)},
                                            {"end", format_time(p.period.end)}}}};
    if (!p.exceptions.empty()) {
      json::array ex;
      for (const ConsentException& e : p.exceptions) {
        switch (e.kind) {
        case ConsentException::Kind::partner:
          ex.push_back(json::object{{"partner", e.partner}});
          break;
        case ConsentException::Kind::worker:
          ex.push_back(json::object{{"partner", e.partner}, {"worker", e.worker}});
          break;
        case ConsentException::Kind::category:
          ex.push_back(json::object{{"category", pack.def(e.category).name}});
          break;
        }
      }
      po["except"] = std::move(ex);
    }
    provisions.push_back(std::move(po));
  }
  o["provisions"] = std::move(provisions);
  json::object recorded_by = worker_json(c.evidence.recorded_by);
  recorded_by["role"] = pack.def(c.evidence.recorder_role).name;
  json::object ev{{"recorded_by", std::move(recorded_by)},
                  {"channel", to_string(c.evidence.channel)},
                  {"language", to_string(c.evidence.language)},
                  {"recorded_at", format_time(c.evidence.recorded_at)}};
  if (!c.evidence.channel_note.empty()) ev["channel_note"] = c.evidence.channel_note;
  o["evidence"] = std::move(ev);
  if (c.representative) {
    o["representative"] = json::object{{"reference", c.representative->reference},
                                       {"relationship", to_string(c.representative->relationship)}};
  }
  return o;
}

std::string serialize_consent(const Consent& consent, const RulePack& pack) {
  return json::serialize(consent_to_json(consent, pack));
}

Result<Consent> consent_from_json(const json::value& v, const RulePack& pack) {
  if (!v.is_object()) return Errc::malformed;
  const json::object& o = v.get_object();
  if (!only_keys(o, {"id", "status", "revocation", "legal_basis", "provisions", "evidence",
                     "representative"})) {
    return Errc::malformed;
  }
  Consent c;
  SLUIS_TRY_ASSIGN(c.id, id_member(o, "id"));
  SLUIS_TRY_ASSIGN(c.status, enum_member(o, "status", kStatuses, Errc::malformed));
  if (const json::value* r = o.if_contains("revocation")) {
    auto ro = object_of(r);
    if (!ro) return ro.error();
    if (!only_keys(**ro, {"at", "by"})) return Errc::malformed;
    Revocation rev;
    SLUIS_TRY_ASSIGN(rev.at, time_member(**ro, "at"));
    SLUIS_TRY_ASSIGN(rev.by, worker_member(**ro, "by", false));
    c.revocation = std::move(rev);
  }
  if ((c.status == ConsentStatus::revoked) != c.revocation.has_value()) return Errc::bad_revocation;
  SLUIS_TRY_ASSIGN(c.legal_basis, enum_member(o, "legal_basis", kBases, Errc::unknown_legal_basis));

  const json::value* ps = o.if_contains("provisions");
  if (ps == nullptr || !ps->is_array()) return Errc::malformed;
  if (ps->get_array().size() > kMaxProvisions) return Errc::too_many_items;
  for (const json::value& pv : ps->get_array()) {
    auto p = provision_from_json(pv, pack);
    if (!p) return p.error();
    c.provisions.push_back(std::move(*p));
  }

  auto ev = object_of(o.if_contains("evidence"));
  if (!ev) return ev.error();
  if (!only_keys(**ev, {"recorded_by", "channel", "channel_note", "language", "recorded_at"})) {
    return Errc::malformed;
  }
  SLUIS_TRY_ASSIGN(c.evidence.recorded_by, worker_member(**ev, "recorded_by", true));
  {
    auto rb = object_of((*ev)->if_contains("recorded_by"));
    if (!rb || *rb == nullptr) return Errc::malformed;
    auto role_name = string_member(**rb, "role");
    if (!role_name) return role_name.error();
    const auto role = pack.role(*role_name);
    if (!role) return Errc::unknown_role;
    c.evidence.recorder_role = *role;
  }
  SLUIS_TRY_ASSIGN(c.evidence.channel,
                   enum_member(**ev, "channel", kChannels, Errc::unknown_channel));
  if ((*ev)->contains("channel_note")) {
    auto note = string_member(**ev, "channel_note");
    if (!note) return note.error();
    if (note->size() > 4 * kMaxNoteChars) return Errc::text_too_long;
    c.evidence.channel_note = std::string(*note);
  }
  SLUIS_TRY_ASSIGN(c.evidence.language,
                   enum_member(**ev, "language", kLanguages, Errc::unknown_language));
  SLUIS_TRY_ASSIGN(c.evidence.recorded_at, time_member(**ev, "recorded_at"));

  if (const json::value* r = o.if_contains("representative")) {
    auto ro = object_of(r);
    if (!ro) return ro.error();
    if (!only_keys(**ro, {"reference", "relationship"})) return Errc::malformed;
    Representative rep;
    SLUIS_TRY_ASSIGN(rep.reference, id_member(**ro, "reference"));
    SLUIS_TRY_ASSIGN(rep.relationship,
                     enum_member(**ro, "relationship", kRelationships, Errc::unknown_relationship));
    c.representative = std::move(rep);
  }
  return c;
}

Result<Consent> parse_consent(std::string_view text, const RulePack& pack) {
  if (text.size() > kMaxConsentJsonBytes) return Errc::text_too_long;
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return Errc::malformed;
  return consent_from_json(v, pack);
}

json::value break_glass_to_json(const BreakGlassGrant& g, const RulePack& pack) {
  return json::object{{"id", g.id},
                      {"partner", g.partner},
                      {"worker", g.worker},
                      {"categories", category_names(g.categories, false, pack)},
                      {"reason", g.reason},
                      {"start", format_time(g.start)},
                      {"expiry", format_time(g.expiry)},
                      {"flagged", g.flagged}};
}

Result<BreakGlassGrant> break_glass_from_json(const json::value& v, const RulePack& pack) {
  if (!v.is_object()) return Errc::malformed;
  const json::object& o = v.get_object();
  if (!only_keys(
          o, {"id", "partner", "worker", "categories", "reason", "start", "expiry", "flagged"})) {
    return Errc::malformed;
  }
  BreakGlassGrant g;
  SLUIS_TRY_ASSIGN(g.id, id_member(o, "id"));
  SLUIS_TRY_ASSIGN(g.partner, id_member(o, "partner"));
  SLUIS_TRY_ASSIGN(g.worker, id_member(o, "worker"));
  bool wildcard = false;
  SLUIS_TRY_ASSIGN(g.categories, categories_member(o, pack, false, &wildcard));
  auto reason = string_member(o, "reason");
  if (!reason) return Errc::reason_missing;
  if (reason->size() > 4 * pack.break_glass_reason_max_chars()) return Errc::text_too_long;
  g.reason = std::string(*reason);
  SLUIS_TRY_ASSIGN(g.start, time_member(o, "start"));
  const json::value* expiry = o.if_contains("expiry");
  if (expiry == nullptr || expiry->is_null()) return Errc::missing_end;
  SLUIS_TRY_ASSIGN(g.expiry, time_member(o, "expiry"));
  if (const json::value* f = o.if_contains("flagged")) {
    if (!f->is_bool()) return Errc::malformed;
    g.flagged = f->get_bool();
  }
  return g;
}

}  // namespace sluis::policy
