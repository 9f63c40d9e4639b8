// Client resources: registration, fragments, the consent-checked dossier read, card links, erasure.
#include "call.hpp"
#include "sluis/domain/read_audit.hpp"

#include "strict_json.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/domain/access.hpp"
#include "sluis/domain/consent_cache.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/audit/json_text.hpp"
#include "sluis/server/problem.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace sluis::api {

using namespace sluis::store;   // records, errors
using namespace sluis::audit;   // events, the log, reports
using namespace sluis::domain;  // the rules
namespace {

// Longest identifier value accepted (a case number is the longest; register numbers are 11 digits
// with separators). Longer values are refused before any normalisation.
constexpr std::size_t kMaxIdentifierLength = 64;
// Longest pseudonym or consent reference in a link request.
constexpr std::size_t kMaxLinkText = 128;

const json::string* string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v == nullptr ? nullptr : v->if_string();
}

std::string_view view(const json::string& s) {
  return {s.data(), s.size()};
}

// Field and category names as the store accepts them ([a-z0-9-_.], 1..64).
bool is_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

DossierOptions dossier_options(const policy::RulePack& pack) {
  DossierOptions o;
  o.identifying_categories.clear();
  pack.identifying_categories().for_each(
      [&](policy::CategoryId c) { o.identifying_categories.insert(pack.def(c).name); });
  return o;
}

std::optional<FragmentId> parse_fragment_id(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != 16) return std::nullopt;
  return FragmentId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

}  // namespace

HttpResponse register_client(Call& call) {
  const auto& body = call.body;
  if (!only_members(body, {"identifier", "service_pseudonym"}) ||
      (body.contains("identifier") == body.contains("service_pseudonym"))) {
    return invalid_body(call, "Send exactly one of identifier or service_pseudonym.");
  }
  Registry registry(call.store());
  Result<Registration> registration = Errc::invalid_argument;
  std::string_view rule;
  if (const auto* id = body.if_contains("identifier")) {
    const auto* obj = id->if_object();
    if (obj == nullptr || !only_members(*obj, {"scheme", "value"})) {
      return invalid_body(call, "identifier must be an object with scheme and value.");
    }
    const auto* scheme = string_member(*obj, "scheme");
    const auto* value = string_member(*obj, "value");
    if (scheme == nullptr || value == nullptr) {
      return invalid_body(call, "identifier must be an object with scheme and value.");
    }
    std::optional<crypto::IdentifierScheme> s;
    if (*scheme == "national-register") s = crypto::IdentifierScheme::national_register;
    if (*scheme == "bis") s = crypto::IdentifierScheme::bis;
    if (*scheme == "case-number") s = crypto::IdentifierScheme::case_number;
    if (!s || value->size() > kMaxIdentifierLength) {
      return deny(call, "request.invalid-identifier",
                  problem(call.req, 422, "invalid-identifier", "The identifier is not valid",
                          "Check the scheme and the number (national-register, bis or "
                          "case-number)."));
    }
    registration = registry.register_identified(call.partner.id, *s, view(*value));
    rule = "registration.identified";
  } else {
    const auto* sp = string_member(body, "service_pseudonym");
    if (sp == nullptr) return invalid_body(call, "service_pseudonym must be a string.");
    registration = registry.register_anonymous(call.partner.id, view(*sp));
    rule = "registration.anonymous";
  }
  if (!registration) {
    const auto ec = registration.error();
    if (ec == Errc::invalid_argument) {
      return deny(call, "request.invalid-identifier",
                  problem(call.req, 422, "invalid-identifier", "The identifier is not valid",
                          "Check the scheme and the number, or the service pseudonym's form."));
    }
    if (ec == Errc::not_permitted) {
      return deny(call, "registration.not-permitted",
                  problem(call.req, 403, "anonymous-not-permitted",
                          "This organisation may not register clients this way",
                          "Anonymous registration is for the partner types the rule pack names."));
    }
    if (ec == Errc::card_replaced) {
      return deny(call, "registration.card-replaced",
                  problem(call.req, 409, "card-replaced", "This card was replaced",
                          "Ask the client for their new card."));
    }
    return store_problem(call.req, ec);
  }
  // Registration decides which client this is, so its event follows the act (it creates no data
  // and repeating it answers the same pseudonym): docs/architecture-api.md, "Audit ordering".
  auto client = registry.resolve(call.partner.id, registration->pseudonym);
  if (!client) return store_problem(call.req, client.error());
  call.client = *client;
  call.client_audit = sluis::domain::audit_pseudonym(call.store(), *client);
  AuditEvent e = call.event(AuditAction::registration);
  e.rule = rule;
  if (auto failed = record(call, e)) return std::move(*failed);
  // 201 means "new for you": the store's `existing` is true also when only another partner knew
  // the client, and answering that would tell the caller who else serves this person (promise 3).
  bool new_for_caller = !registration->existing;
  if (!new_for_caller) {
    auto relationships = registry.care_relationships(*client);
    if (!relationships) return store_problem(call.req, relationships.error());
    for (const auto& rel : *relationships) {
      if (rel.partner_id == call.partner.id && rel.since >= call.now) new_for_caller = true;
    }
  }
  return json_answer(new_for_caller ? 201 : 200, json::object{{"client", registration->pseudonym}});
}

HttpResponse add_fragment(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  const auto& body = call.body;
  if (!only_members(body, {"category", "fields", "supersedes"})) {
    return invalid_body(call, "Allowed members: category, fields, supersedes.");
  }
  const auto* category = string_member(body, "category");
  const auto* fields_v = body.if_contains("fields");
  const auto* fields = fields_v == nullptr ? nullptr : fields_v->if_object();
  if (category == nullptr || fields == nullptr) {
    return invalid_body(call, "category (a string) and fields (an object) are required.");
  }
  const auto cat = call.rules().category(view(*category));
  if (!cat) {
    return deny(call, "request.unknown-category",
                problem(call.req, 422, "unknown-category", "The category is not in the rule pack"));
  }
  if (fields->empty() || fields->size() > kMaxFieldsPerFragment) {
    return invalid_body(call, "A fragment has 1 to 64 fields.");
  }
  std::vector<FieldInput> inputs;
  inputs.reserve(fields->size());
  for (const auto& kv : *fields) {
    const std::string_view name(kv.key().data(), kv.key().size());
    const auto* value = kv.value().if_string();
    if (!is_name(name) || value == nullptr || value->size() > crypto::kMaxFieldPlaintext) {
      return invalid_body(call, "Field names are 1-64 of a-z 0-9 - _ . and values are strings.");
    }
    FieldInput f;
    f.name = name;
    f.value.assign(value->begin(), value->end());
    inputs.push_back(std::move(f));
  }
  std::optional<FragmentId> previous;
  if (const auto* sup = body.if_contains("supersedes")) {
    const auto* s = sup->if_string();
    if (s == nullptr) return invalid_body(call, "supersedes must be a fragment id.");
    previous = parse_fragment_id(view(*s));
  }
  Registry registry(call.store());
  auto anonymous = registry.is_anonymous(*call.client);
  if (!anonymous) return store_problem(call.req, anonymous.error());
  if (*anonymous && !call.rules().accepts_on_anonymous_client(*cat)) {
    return deny(call, "fragment.identifying-on-anonymous",
                problem(call.req, 422, "identifying-category-on-anonymous",
                        "This category identifies a person and cannot be stored on an anonymous "
                        "client"));
  }
  Dossiers dossiers(call.store(), dossier_options(call.rules()));
  if (body.contains("supersedes")) {
    // Only the owner's current version of this client's fragment can be superseded; every other
    // case is one answer, so fragment ids of other partners cannot be probed.
    std::optional<FragmentMeta> meta;
    if (previous) {
      if (auto m = dossiers.find(*previous)) meta = std::move(*m);
    }
    if (!meta || meta->client != *call.client || meta->owner_partner != call.partner.id) {
      return deny(call, "fragment.not-found",
                  problem(call.req, 404, "fragment-not-found", "No such fragment"));
    }
    if (meta->category != view(*category)) {
      return deny(call, "fragment.category-mismatch",
                  problem(call.req, 422, "category-mismatch",
                          "A new version keeps the category of the version it supersedes"));
    }
  }
  // Intent first: the write is on the record before it is made.
  AuditEvent intent =
      call.event(previous ? AuditAction::fragment_supersede : AuditAction::fragment_write);
  intent.categories.emplace_back(view(*category));
  intent.decision = AuditDecision::permit;
  intent.rule = "owner.write";
  if (auto failed = record(call, intent)) return std::move(*failed);

  auto written = previous
                     ? dossiers.supersede(*previous, call.partner.id, call.worker.worker_id, inputs)
                     : dossiers.add_fragment(*call.client, call.partner.id, call.worker.worker_id,
                                             view(*category), inputs);
  if (!written) {
    record_failure(call, std::move(intent));
    const auto ec = written.error();
    if (ec == Errc::conflict) {
      return problem(call.req, 409, "already-superseded",
                     "This fragment version was already superseded",
                     "Supersede the current version instead.");
    }
    if (ec == Errc::identifying_category_on_anonymous) {
      return problem(call.req, 422, "identifying-category-on-anonymous",
                     "This category identifies a person and cannot be stored on an anonymous "
                     "client");
    }
    if (ec == Errc::invalid_argument) {
      return problem(call.req, 422, "invalid-body",
                     "The request body does not have the documented shape");
    }
    if (ec == Errc::not_permitted) {
      return problem(call.req, 403, "partner-revoked", "This organisation's access was revoked");
    }
    return store_problem(call.req, ec);
  }
  return json_answer(201, json::object{{"fragment", crypto::to_hex(written->id.view())},
                                       {"version", written->version}});
}

HttpResponse read_dossier(Call& call) {
  if (!only_query(call.req, {"category"})) {
    return deny(call, "request.unknown-parameter",
                problem(call.req, 400, "unknown-parameter", "The query has an unknown parameter"));
  }
  const auto category = call.req.query_param("category");
  if (category && !call.rules().category(*category)) {
    return deny(call, "request.unknown-category",
                problem(call.req, 400, "unknown-category", "The category is not in the rule pack"));
  }
  if (auto refused = resolve_client(call)) return std::move(*refused);

  ReadRequest request;
  request.partner_id = call.partner.id;
  request.worker_id = call.worker.worker_id;
  request.purpose = call.purpose;
  request.category = category;
  // 1. Decide, in one read of the store, with the partner and worker admission found.
  auto plan = plan_read(call.store(), call.pack, call.ctx.consent_cache.get(), *call.client,
                        call.partner, call.worker, request, call.now);
  if (!plan) {
    if (plan.error() == Errc::not_found) {
      return deny(call, "request.client-not-found",
                  problem(call.req, 404, "client-not-found", "No such client"));
    }
    return store_problem(call.req, plan.error());
  }
  // 2. The decisions go on the record, durably, before anything is opened.
  {
    ReadAuditContext context{call.now,     call.partner.id,   call.worker.worker_id,
                             call.purpose, call.client_audit, call.req.request_id};
    auto events = audit_events_for_read(context, plan->decisions, plan->role);
    if (events.empty()) {
      // Nothing to decide on is still a read on the record (not a permit: nothing was shown).
      AuditEvent e = call.event(AuditAction::read);
      e.rule = "dossier.empty";
      if (category) e.categories.emplace_back(*category);
      events.push_back(std::move(e));
    }
    if (auto r = call.ctx.audit->append(events); !r) {
      return problem(call.req, 503, "audit-unavailable", "The audit log cannot record this request",
                     "Nothing was shown. Every access must be on the record before it happens; "
                     "try again later.");
    }
  }
  // 3. Open exactly the permitted versions decided on and recorded above.
  std::vector<DossierEntry> entries;
  if (!plan->permitted.empty()) {
    auto opened = open_read(call.store(), *plan);
    if (!opened) {
      if (opened.error() == Errc::not_found) {
        return deny(call, "request.client-not-found",
                    problem(call.req, 404, "client-not-found", "No such client"));
      }
      return store_problem(call.req, opened.error());
    }
    entries = std::move(*opened);
  }
  // 4. The answer, written once as text into a body whose buffer is wiped when freed: the opened
  // values go straight from their zeroising buffers into it (no JSON tree, no copy), and it is
  // moved into the response. Only permitted fragments are in `entries`. Owner names from the
  // partner table the plan used.
  const auto& all = *plan->partners;
  std::size_t size = 16;
  for (const auto& entry : entries) {
    size += 256;
    for (const auto& f : entry.fields)
      size += f.name.size() + f.value.size() + 8;
  }
  HttpBody body;
  body.reserve(size + size / 8);
  body += R"({"fragments":[)";
  bool unreadable = false;
  for (const auto& entry : entries) {
    if (&entry != &entries.front()) body += ',';
    const auto* owner = find_in_partner_table(all, entry.meta.owner_partner);
    body += R"({"fragment":")";
    body += crypto::to_hex(entry.meta.id.view());
    body += R"(","category":)";
    append_json_string_to(body, entry.meta.category);
    body += R"(,"owner":{"partner":)";
    append_json_string_to(body, entry.meta.owner_partner);
    body += R"(,"name":)";
    append_json_string_to(body,
                          owner != nullptr ? owner->display_name : entry.meta.owner_partner);
    body += R"(},"created_at":")";
    body += format_instant(entry.meta.created_at);
    body += R"(","version":)";
    body += std::to_string(entry.meta.version);
    if (entry.key_unavailable) {
      // Permitted, but its data key is gone: said the same way to every caller that may see
      // the fragment (docs/api/openapi.yaml DossierFragment.unreadable); no field is sent.
      body += R"(,"unreadable":"key-unavailable")";
      unreadable = true;
    }
    body += R"(,"fields":{)";
    for (const auto& f : entry.fields) {
      if (&f != &entry.fields.front()) body += ',';
      append_json_string_to(body, f.name);
      body += ':';
      append_json_string_to(body, std::string_view(reinterpret_cast<const char*>(f.value.data()),
                                                   f.value.size()));
    }
    body += "}}";
  }
  body += "]}";
  auto answer = HttpResponse::json(200, std::move(body));
  if (unreadable) answer.cause = "dossier_fragment_key_unavailable";
  return answer;
}

HttpResponse link_card(Call& call) {
  const auto& body = call.body;
  if (!only_members(body,
                    {"own_pseudonym", "first_service", "first_pseudonym", "consent_reference"})) {
    return invalid_body(call, "Allowed members: own_pseudonym, first_service, first_pseudonym, "
                              "consent_reference.");
  }
  const auto* own = string_member(body, "own_pseudonym");
  const auto* service = string_member(body, "first_service");
  const auto* first = string_member(body, "first_pseudonym");
  const auto* reference = string_member(body, "consent_reference");
  if (own == nullptr || service == nullptr || first == nullptr || reference == nullptr ||
      own->size() > kMaxLinkText || service->size() > kMaxLinkText ||
      first->size() > kMaxLinkText || reference->empty() || reference->size() > kMaxLinkText) {
    return invalid_body(call, "own_pseudonym, first_service, first_pseudonym and "
                              "consent_reference are required strings of at most 128 characters.");
  }
  Registry registry(call.store());
  auto linked =
      registry.link(call.partner.id, view(*own), view(*service), view(*first), view(*reference));
  if (!linked) {
    const auto ec = linked.error();
    if (ec == Errc::not_found) {
      return deny(call, "link.not-found",
                  problem(call.req, 404, "client-not-found", "No such client",
                          "The first service does not know this card."));
    }
    if (ec == Errc::card_replaced) {
      return deny(call, "link.card-replaced",
                  problem(call.req, 409, "card-replaced", "This card was replaced",
                          "Ask the client for their new card."));
    }
    if (ec == Errc::invalid_argument) {
      return deny(call, "link.invalid",
                  problem(call.req, 422, "invalid-link", "The link request is not valid",
                          "Check both service pseudonyms and the first service's id."));
    }
    if (ec == Errc::not_permitted) {
      return deny(
          call, "link.not-permitted",
          problem(call.req, 403, "link-not-permitted", "This organisation may not link this card"));
    }
    return store_problem(call.req, ec);
  }
  // A link folds one client's consents into another's: no parsed consent of the absorbed client
  // is kept (ConsentCache).
  call.ctx.consent_cache->clear();
  // Like registration, the link decides which client this is: its event follows the act.
  auto client = registry.resolve(call.partner.id, linked->pseudonym);
  if (!client) return store_problem(call.req, client.error());
  call.client = *client;
  call.client_audit = sluis::domain::audit_pseudonym(call.store(), *client);
  AuditEvent e = call.event(AuditAction::link);
  e.decision = AuditDecision::permit;
  e.rule = "link.card-presented";
  if (auto failed = record(call, e)) return std::move(*failed);
  return json_answer(200, json::object{{"client", linked->pseudonym}});
}

HttpResponse erase_client(Call& call) {
  if (auto refused = resolve_client(call)) return std::move(*refused);
  if (!call.rules().may_erase_client(call.role)) {
    return deny(call, "erasure.role-not-allowed",
                problem(call.req, 403, "not-permitted", "This worker's role may not do this",
                        "Erasure is ordered by the roles the rule pack allows."));
  }
  AuditEvent intent = call.event(AuditAction::erasure);
  intent.decision = AuditDecision::permit;
  intent.rule = "erasure.role";
  if (auto failed = record(call, intent)) return std::move(*failed);
  Registry registry(call.store());
  auto erased = registry.erase_client(*call.client);
  call.ctx.consent_cache->clear();  // nothing parsed from an erased client's consents stays
  if (!erased) {
    record_failure(call, std::move(intent));
    return store_problem(call.req, erased.error());
  }
  return json_answer(200, json::object{{"erased", true}});
}

}  // namespace sluis::api
