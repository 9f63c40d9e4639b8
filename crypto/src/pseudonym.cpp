// Identifier normalisation and the keyed, domain-separated pseudonym functions (BLAKE2b).
#include "sluis/crypto/pseudonym.hpp"

#include "keyed_hash.hpp"
#include "sluis/crypto/secret.hpp"

#include <sodium.h>

#include <cstddef>
#include <span>

namespace sluis::crypto {
namespace {

// Domain labels: the first length-prefixed field of every hashed message. They are part of the
// derivations and must never change; a new construction gets a new label (".../v2").
constexpr std::string_view kIdentifierDomain = "sluis/identifier/v1";
constexpr std::string_view kPartnerPseudonymDomain = "sluis/partner-pseudonym/v1";
constexpr std::string_view kAuditPseudonymDomain = "sluis/audit-pseudonym/v1";
constexpr std::string_view kServicePseudonymIndexDomain = "sluis/service-pseudonym-index/v1";
constexpr std::string_view kCaseloadLabelDomain = "sluis/caseload-label/v1";

constexpr std::string_view kPartnerPseudonymPrefix = "p1";
constexpr std::string_view kAuditPseudonymPrefix = "a1";

constexpr std::size_t kPseudonymBytes = 16;
constexpr std::size_t kMaxCaseNumber = 64;
constexpr std::size_t kMaxPartnerId = 255;

static_assert(std::tuple_size_v<IdentifierDigest> >= crypto_generichash_BYTES_MIN &&
              std::tuple_size_v<IdentifierDigest> <= crypto_generichash_BYTES_MAX);
static_assert(kPseudonymBytes >= crypto_generichash_BYTES_MIN);
static_assert(SubKey::kSize >= crypto_generichash_KEYBYTES_MIN &&
              SubKey::kSize <= crypto_generichash_KEYBYTES_MAX);

// Keyed BLAKE2b over length-prefixed fields (keyed_hash.hpp), keyed with a sub-key.
class KeyedHash : public detail::KeyedHash {
 public:
  KeyedHash(const SubKey& key, std::size_t out_len) : detail::KeyedHash(key.reveal(), out_len) {}
};

// RFC 4648 §6 base32, lowercase, without padding. 16 bytes give 26 characters: 25 full 5-bit
// groups and a last group of 3 data bits followed by two zero bits.
constexpr std::string_view kBase32Lower = "abcdefghijklmnopqrstuvwxyz234567";

constexpr std::size_t kPseudonymTextChars = (kPseudonymBytes * 8 + 4) / 5;  // 26

// Appends the base32 text of `bytes` to `out` (which the caller sized), one allocation in all.
void append_base32_lower(std::span<const std::uint8_t> bytes, std::string& out) {
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  for (const std::uint8_t b : bytes) {
    buffer = (buffer << 8U) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kBase32Lower[(buffer >> bits) & 0x1fU]);
    }
    buffer &= (1U << bits) - 1U;  // keep only the bits not yet written
  }
  if (bits > 0) out.push_back(kBase32Lower[(buffer << (5 - bits)) & 0x1fU]);
}

std::string labelled_pseudonym(std::string_view prefix,
                               const std::array<std::uint8_t, kPseudonymBytes>& digest) {
  std::string out;
  out.reserve(prefix.size() + kPseudonymTextChars);
  out.append(prefix);
  append_base32_lower(digest, out);
  return out;
}

std::string_view scheme_label(IdentifierScheme scheme) {
  switch (scheme) {
  case IdentifierScheme::national_register: return "national-register";
  case IdentifierScheme::bis: return "bis";
  case IdentifierScheme::case_number: return "case-number";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Belgian national register (rijksregisternummer) and BIS numbers.
//
// Structure (KB 8 February 1991 for BIS; the National Register's own rules for the NN):
//   YY MM DD  birth date, possibly incomplete;  SSS  serial;  CC  check number.
// CC = 97 - (YYMMDDSSS mod 97) for people born before 2000, and 97 - (2YYMMDDSSS mod 97) for
// people born in or after 2000. The number itself does not say which century applies, so we
// accept either rule; whichever matches tells us the century for the date check. Both cannot
// match at once because 2 000 000 000 mod 97 = 68 != 0.
//
// What we accept, and why:
//   - month 00 (NN) / 20 or 40 (BIS): the month is unknown, or the register ran out of serials
//     for that date and moved the person to the "month 00" bucket, whose day field then counts
//     up (00, 01, 02, ...). So with month 00 any day 00..31 is accepted.
//   - month 01..12 (NN) / 21..32 or 41..52 (BIS, +20 sex unknown, +40 sex known): the day must
//     be 00 (unknown day) or a real day of that month in the century the check number implies
//     (29 February only in leap years; 1900 was not one, 2000 was).
//   - serial 001..998: odd for men, even for women; 000 and 999 are never issued.
//   - the NN scheme accepts only NN months and the BIS scheme only BIS months, so a BIS number
//     registered as a national register number (or the reverse) is rejected rather than
//     silently indexed under the wrong scheme.
bool is_separator(char c) {
  return c == ' ' || c == '.' || c == '-';
}

bool is_leap(unsigned year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(unsigned year, unsigned month) {
  constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap(year)) return 29;
  return kDays[month - 1];
}

Result<std::string> normalise_register_number(IdentifierScheme scheme, std::string_view raw) {
  std::string digits;
  digits.reserve(11);
  for (const char c : raw) {
    if (is_separator(c)) continue;
    if (c < '0' || c > '9' || digits.size() == 11) return Errc::invalid_argument;
    digits.push_back(c);
  }
  if (digits.size() != 11) return Errc::invalid_argument;

  auto number = [&](std::size_t pos, std::size_t len) {
    std::uint64_t v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      v = v * 10 + static_cast<std::uint64_t>(digits[i] - '0');
    }
    return v;
  };
  const std::uint64_t first9 = number(0, 9);
  const std::uint64_t check = number(9, 2);
  const bool born_1900s = check == 97 - first9 % 97;
  const bool born_2000s = check == 97 - (2'000'000'000ULL + first9) % 97;
  if (!born_1900s && !born_2000s) return Errc::invalid_argument;

  const auto yy = static_cast<unsigned>(number(0, 2));
  auto month = static_cast<unsigned>(number(2, 2));
  const auto day = static_cast<unsigned>(number(4, 2));
  const auto serial = static_cast<unsigned>(number(6, 3));

  if (scheme == IdentifierScheme::bis) {
    if (month >= 20 && month <= 32) {
      month -= 20;
    } else if (month >= 40 && month <= 52) {
      month -= 40;
    } else {
      return Errc::invalid_argument;
    }
  } else if (month > 12) {
    return Errc::invalid_argument;
  }
  if (serial == 0 || serial == 999) return Errc::invalid_argument;
  if (day > 31) return Errc::invalid_argument;
  if (month != 0 && day != 0) {
    const unsigned year = (born_2000s ? 2000U : 1900U) + yy;
    if (day > days_in_month(year, month)) return Errc::invalid_argument;
  }
  return digits;
}

bool is_printable_ascii(char c) {
  return c >= 0x20 && c <= 0x7e;
}
bool is_trimmed_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

Result<std::string> normalise_case_number(std::string_view raw, std::string_view partner_id) {
  // The partner id comes first and ':' cannot occur in it, so "<partner>:<case>" splits one way.
  if (partner_id.empty() || partner_id.size() > kMaxPartnerId) return Errc::invalid_argument;
  for (const char c : partner_id) {
    if (!is_printable_ascii(c) || c == ':' || c == ' ') return Errc::invalid_argument;
  }
  while (!raw.empty() && is_trimmed_space(raw.front()))
    raw.remove_prefix(1);
  while (!raw.empty() && is_trimmed_space(raw.back()))
    raw.remove_suffix(1);
  if (raw.empty() || raw.size() > kMaxCaseNumber) return Errc::invalid_argument;
  for (const char c : raw) {
    if (!is_printable_ascii(c)) return Errc::invalid_argument;
  }
  std::string out;
  out.reserve(partner_id.size() + 1 + raw.size());
  out.append(partner_id);
  out.push_back(':');
  out.append(raw);
  return out;
}

}  // namespace

Result<std::string> normalise_identifier(IdentifierScheme scheme, std::string_view raw,
                                         std::string_view partner_id) {
  switch (scheme) {
  case IdentifierScheme::national_register:
  case IdentifierScheme::bis: return normalise_register_number(scheme, raw);
  case IdentifierScheme::case_number: return normalise_case_number(raw, partner_id);
  }
  return Errc::invalid_argument;
}

IdentifierDigest identifier_digest(const SubKey& identifier_index_key, IdentifierScheme scheme,
                                   std::string_view normalised) {
  IdentifierDigest out{};
  KeyedHash h(identifier_index_key, out.size());
  h.field(kIdentifierDomain);
  h.field(scheme_label(scheme));
  h.field(normalised);
  h.finish(out);
  return out;
}

std::string partner_pseudonym(const SubKey& partner_pseudonym_key, std::string_view partner_id,
                              const ClientId& client) {
  std::array<std::uint8_t, kPseudonymBytes> digest{};
  KeyedHash h(partner_pseudonym_key, digest.size());
  h.field(kPartnerPseudonymDomain);
  h.field(partner_id);
  h.field(client.view());
  h.finish(digest);
  return labelled_pseudonym(kPartnerPseudonymPrefix, digest);
}

std::string audit_pseudonym(const SubKey& audit_pseudonym_key, const ClientId& client) {
  std::array<std::uint8_t, kPseudonymBytes> digest{};
  KeyedHash h(audit_pseudonym_key, digest.size());
  h.field(kAuditPseudonymDomain);
  h.field(client.view());
  h.finish(digest);
  return labelled_pseudonym(kAuditPseudonymPrefix, digest);
}

IdentifierDigest service_pseudonym_digest(const SubKey& service_pseudonym_index_key,
                                          std::string_view service_id,
                                          std::string_view service_pseudonym) {
  IdentifierDigest out{};
  KeyedHash h(service_pseudonym_index_key, out.size());
  h.field(kServicePseudonymIndexDomain);
  h.field(service_id);
  h.field(service_pseudonym);
  h.finish(out);
  return out;
}

IdentifierDigest caseload_label_token(const SubKey& caseload_label_index_key,
                                      std::string_view partner_id, LabelTokenKind kind,
                                      std::string_view normalised) {
  IdentifierDigest out{};
  KeyedHash h(caseload_label_index_key, out.size());
  h.field(kCaseloadLabelDomain);
  h.field(partner_id);
  h.field(kind == LabelTokenKind::exact ? std::string_view("exact") : std::string_view("prefix"));
  h.field(normalised);
  h.finish(out);
  return out;
}

}  // namespace sluis::crypto
