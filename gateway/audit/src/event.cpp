// Audit event names and the canonical byte encoding the Merkle leaves are computed over.
#include "sluis/audit/event.hpp"

#include "sluis/audit/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>

namespace sluis::audit {
namespace {

struct ActionName {
  AuditAction action;
  std::string_view name;
};

constexpr std::array<ActionName, 27> kActionNames{{
    {AuditAction::registration, "registration"},
    {AuditAction::read, "read"},
    {AuditAction::fragment_write, "fragment-write"},
    {AuditAction::fragment_supersede, "fragment-supersede"},
    {AuditAction::consent_grant, "consent-grant"},
    {AuditAction::consent_revoke, "consent-revoke"},
    {AuditAction::link, "link"},
    {AuditAction::card_replace, "card-replace"},
    {AuditAction::break_glass_start, "break-glass-start"},
    {AuditAction::break_glass_expiry, "break-glass-expiry"},
    {AuditAction::erasure, "erasure"},
    {AuditAction::partner_add, "partner-add"},
    {AuditAction::partner_revoke, "partner-revoke"},
    {AuditAction::worker_add, "worker-add"},
    {AuditAction::worker_disable, "worker-disable"},
    {AuditAction::key_rotate, "key-rotate"},
    {AuditAction::policy_reload, "policy-reload"},
    {AuditAction::backup, "backup"},
    {AuditAction::worker_enable, "worker-enable"},
    {AuditAction::restore, "restore"},
    {AuditAction::unlink, "unlink"},
    {AuditAction::consent_read, "consent-read"},
    {AuditAction::access_report, "access-report"},
    {AuditAction::audit_query, "audit-query"},
    {AuditAction::break_glass_review, "break-glass-review"},
    {AuditAction::caseload_read, "caseload-read"},
    {AuditAction::caseload_label, "caseload-label"},
}};

/// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool acceptable(std::string_view s) noexcept {
  return s.size() <= kMaxAuditText && valid_utf8(s);
}

void put_string(std::string& out, std::string_view s) {
  append_json_string(out, s);
}

void put_member(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  put_string(out, value);
}

}  // namespace

std::string_view to_string(AuditAction a) noexcept {
  for (const auto& n : kActionNames) {
    if (n.action == a) return n.name;
  }
  return "unknown";
}

std::optional<AuditAction> parse_audit_action(std::string_view text) noexcept {
  for (const auto& n : kActionNames) {
    if (n.name == text) return n.action;
  }
  return std::nullopt;
}

std::string_view to_string(AuditDecision d) noexcept {
  switch (d) {
  case AuditDecision::permit: return "permit";
  case AuditDecision::deny: return "deny";
  case AuditDecision::not_applicable: break;
  }
  return "n/a";
}

std::optional<AuditDecision> parse_audit_decision(std::string_view text) noexcept {
  if (text == "permit") return AuditDecision::permit;
  if (text == "deny") return AuditDecision::deny;
  if (text == "n/a") return AuditDecision::not_applicable;
  return std::nullopt;
}

Result<std::string> encode_audit_event(const AuditEvent& e) {
  if (!acceptable(e.partner) || !acceptable(e.worker) || !acceptable(e.role) ||
      !acceptable(e.client) || !acceptable(e.purpose) || !acceptable(e.rule) ||
      !acceptable(e.request_id) || !acceptable(e.owner_partner) ||
      e.categories.size() > kMaxAuditCategories) {
    return make_error_code(Errc::invalid_argument);
  }
  for (const auto& c : e.categories) {
    if (!acceptable(c)) return make_error_code(Errc::invalid_argument);
  }
  if (parse_audit_action(to_string(e.action)) != e.action) {
    return make_error_code(Errc::invalid_argument);
  }
  std::string out;
  out.reserve(256);
  out += "{\"v\":";
  out += std::to_string(kAuditEncodingVersion);
  out += ",\"time\":";
  out += std::to_string(e.time.time_since_epoch().count());
  put_member(out, "partner", e.partner);
  put_member(out, "worker", e.worker);
  put_member(out, "role", e.role);
  put_member(out, "action", to_string(e.action));
  put_member(out, "client", e.client);
  out += ",\"categories\":[";
  for (std::size_t i = 0; i < e.categories.size(); ++i) {
    if (i != 0) out += ',';
    put_string(out, e.categories[i]);
  }
  out += ']';
  put_member(out, "purpose", e.purpose);
  put_member(out, "decision", to_string(e.decision));
  put_member(out, "rule", e.rule);
  out += ",\"break_glass\":";
  out += e.break_glass ? "true" : "false";
  put_member(out, "request_id", e.request_id);
  put_member(out, "owner_partner", e.owner_partner);
  out += '}';
  return out;
}

Result<AuditEvent> decode_audit_event(std::string_view canonical) {
  const auto bad = make_error_code(Errc::invalid_argument);
  if (canonical.size() > 64 * 1024) return bad;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(canonical, ec);
  if (ec || !v.is_object()) return bad;
  const auto& o = v.as_object();
  auto text = [&](std::string_view key, std::string& out) {
    const auto* p = o.if_contains(key);
    if (p == nullptr || !p->is_string()) return false;
    out.assign(p->as_string().data(), p->as_string().size());
    return true;
  };
  AuditEvent e;
  const auto* time = o.if_contains("time");
  if (time == nullptr || !time->is_int64()) return bad;
  e.time = Instant(std::chrono::milliseconds(time->as_int64()));
  std::string action;
  std::string decision;
  if (!text("partner", e.partner) || !text("worker", e.worker) || !text("role", e.role) ||
      !text("action", action) || !text("client", e.client) || !text("purpose", e.purpose) ||
      !text("decision", decision) || !text("rule", e.rule) || !text("request_id", e.request_id) ||
      !text("owner_partner", e.owner_partner)) {
    return bad;
  }
  const auto a = parse_audit_action(action);
  const auto d = parse_audit_decision(decision);
  if (!a || !d) return bad;
  e.action = *a;
  e.decision = *d;
  const auto* bg = o.if_contains("break_glass");
  if (bg == nullptr || !bg->is_bool()) return bad;
  e.break_glass = bg->as_bool();
  const auto* cats = o.if_contains("categories");
  if (cats == nullptr || !cats->is_array()) return bad;
  for (const auto& c : cats->as_array()) {
    if (!c.is_string()) return bad;
    e.categories.emplace_back(c.as_string().data(), c.as_string().size());
  }
  // One event, one encoding: anything but the exact canonical form (other member order, extra
  // members, whitespace, escapes, another version) is refused.
  auto again = encode_audit_event(e);
  if (!again || *again != canonical) return bad;
  return e;
}


void append_json_string(std::string& out, std::string_view s) {
  append_json_string_to(out, s);
}

}  // namespace sluis::audit
