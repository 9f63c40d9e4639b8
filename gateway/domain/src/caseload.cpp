// The caseload: a partner's care relationships, paged, with its own sealed, blind-indexed labels.
#include "sluis/domain/caseload.hpp"

#include "sluis/crypto/field.hpp"
#include "sluis/crypto/pseudonym.hpp"
#include "sluis/crypto/secret.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace sluis::domain {

namespace {

// The field context a label is sealed in: a fixed "fragment" id (a label is not a fragment), the
// partner id as the field name, so a label sealed for one partner cannot be passed off as
// another's, and the client and key version as for any field.
constexpr std::array<std::uint8_t, 16> kLabelContextId{'s', 'l', 'u', 'i', 's', '.', 'c', 'a',
                                                       's', 'e', 'l', 'o', 'a', 'd', '.', '1'};

FragmentId label_context_id() {
  return FragmentId::from(std::span<const std::uint8_t, 16>(kLabelContextId));
}

// The length of the UTF-8 sequence starting with `lead`, 0 when it cannot start one.
std::size_t sequence_length(unsigned char lead) noexcept {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

// Byte offsets where each code point of well-formed UTF-8 `s` ends; nullopt when `s` is not
// well formed (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) or holds a control
// character (C0, DEL, C1).
std::optional<std::vector<std::size_t>> code_point_ends(std::string_view s) {
  std::vector<std::size_t> ends;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t n = sequence_length(lead);
    if (n == 0 || i + n > s.size()) return std::nullopt;
    std::uint32_t cp = n == 1 ? lead : (lead & (0xffU >> (n + 1)));
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0U) != 0x80U) return std::nullopt;
      cp = (cp << 6U) | (c & 0x3fU);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return std::nullopt;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return std::nullopt;
    i += n;
    ends.push_back(i);
  }
  return ends;
}

std::vector<crypto::IdentifierDigest>
label_tokens(const crypto::SubKey& key, std::string_view partner_id, std::string_view label) {
  const std::string folded = search_form(label);
  const auto ends = code_point_ends(folded).value_or(std::vector<std::size_t>{});
  std::vector<crypto::IdentifierDigest> tokens;
  tokens.reserve(kMaxLabelCodePoints + 1);
  tokens.push_back(
      crypto::caseload_label_token(key, partner_id, crypto::LabelTokenKind::exact, folded));
  for (const auto end : ends) {
    tokens.push_back(crypto::caseload_label_token(key, partner_id, crypto::LabelTokenKind::prefix,
                                                  std::string_view(folded).substr(0, end)));
  }
  // Padding: every label has the same number of tokens, so the index does not tell a label's
  // length. A random token matches no search (2^-256).
  while (tokens.size() < kMaxLabelCodePoints + 1) {
    crypto::IdentifierDigest random{};
    crypto::random_bytes(random);
    tokens.push_back(random);
  }
  return tokens;
}

std::optional<std::string> open_label(UnitOfWork& u, std::string_view partner_id,
                                      const ClientId& client,
                                      std::span<const std::uint8_t> sealed) {
  auto version = crypto::sealed_field_key_version(sealed);
  if (!version) return std::nullopt;
  auto key = u.keys().cached_key(client, kCaseloadLabelCategory, *version);
  if (!key) return std::nullopt;  // erased or lost key: the label is gone, the client stays
  const crypto::FieldContext ctx{label_context_id(), partner_id, kCaseloadLabelCategory, client,
                                 *version};
  auto plain = crypto::open_field(**key, ctx, sealed);
  if (!plain) return std::nullopt;
  return std::string(plain->begin(), plain->end());
}

Result<void> has_relationship(UnitOfWork& u, std::string_view partner_id, const ClientId& client) {
  auto rel = u.clients().relationship(partner_id, client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  return {};
}

}  // namespace

std::optional<std::string> checked_label(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t'))
    raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t'))
    raw.remove_suffix(1);
  if (raw.empty() || raw.size() > 4 * kMaxLabelCodePoints) return std::nullopt;
  auto ends = code_point_ends(raw);
  if (!ends || ends->empty() || ends->size() > kMaxLabelCodePoints) return std::nullopt;
  return std::string(raw);
}

std::string search_form(std::string_view checked) {
  std::string out;
  out.reserve(checked.size());
  for (const char c : checked) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

Result<CaseloadPage> Caseload::page(std::string_view partner_id, const CaseloadQuery& query) const {
  if (query.limit == 0 || query.limit > kMaxCaseloadPage) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  if (auto r = u.begin_read(); !r) return r.error();
  std::optional<crypto::IdentifierDigest> token;
  if (query.search) {
    token = crypto::caseload_label_token(u.pseudonym_keys().caseload_label_index, partner_id,
                                         query.match == LabelMatch::exact
                                             ? crypto::LabelTokenKind::exact
                                             : crypto::LabelTokenKind::prefix,
                                         search_form(*query.search));
  }
  // One row more than asked tells whether another page follows.
  auto rows = u.clients().caseload(partner_id, query.after, query.limit + 1, token);
  if (!rows) return rows.error();
  CaseloadPage page;
  const bool more = rows->size() > query.limit;
  if (more) rows->resize(query.limit);
  page.entries.reserve(rows->size());
  for (auto& row : *rows) {
    CaseloadEntry e{row.pseudonym, row.since, row.origin, std::nullopt};
    if (!row.label_sealed.empty()) {
      e.label = open_label(u, partner_id, row.client, row.label_sealed);
    }
    page.entries.push_back(std::move(e));
  }
  if (more && !page.entries.empty()) {
    page.next = store::CaseloadPosition{page.entries.back().since, page.entries.back().pseudonym};
  }
  if (auto r = u.commit(); !r) return r.error();
  return page;
}

Result<void> Caseload::set_label(std::string_view partner_id, const ClientId& client,
                                 std::string_view label) {
  if (!checked_label(label) || checked_label(label) != std::string(label)) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage_);
  // The check inside the write transaction (Dossiers::add_fragment says why); the key, if new,
  // is committed to the key store at once, whatever the transaction does.
  if (auto r = u.begin_write(); !r) return r;
  if (auto r = has_relationship(u, partner_id, client); !r) return r;
  auto key = u.keys().key_for_sealing(client, kCaseloadLabelCategory);
  if (!key) return key.error();
  const crypto::FieldContext ctx{label_context_id(), partner_id, kCaseloadLabelCategory, client,
                                 key->first};
  auto sealed =
      crypto::seal_field(key->second, ctx,
                         std::span<const std::uint8_t>(
                             reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
  if (!sealed) return make_error_code(Errc::invalid_argument);
  const auto tokens = label_tokens(u.pseudonym_keys().caseload_label_index, partner_id, label);
  if (auto r = u.clients().set_caseload_label(partner_id, client, *sealed, tokens, u.now()); !r) {
    return r;
  }
  // The label's data key goes into the key journal like a fragment's (docs/store.md).
  if (auto r = u.keys().journal(client, kCaseloadLabelCategory, key->first, &key->second); !r) {
    return r;
  }
  return u.commit();
}

Result<void> Caseload::clear_label(std::string_view partner_id, const ClientId& client) {
  UnitOfWork u(storage_);
  if (auto r = u.begin_write(); !r) return r;
  if (auto r = has_relationship(u, partner_id, client); !r) return r;
  if (auto r = u.clients().clear_caseload_label(partner_id, client); !r) return r;
  return u.commit();
}

Result<std::optional<std::string>> Caseload::label(std::string_view partner_id,
                                                   const ClientId& client) const {
  UnitOfWork u(storage_);
  if (auto r = has_relationship(u, partner_id, client); !r) return r.error();
  auto sealed = u.clients().caseload_label(partner_id, client);
  if (!sealed) return sealed.error();
  if (sealed->empty()) return std::optional<std::string>();
  return open_label(u, partner_id, client, *sealed);
}

}  // namespace sluis::domain
