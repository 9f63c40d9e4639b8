// Keyed, domain-separated pseudonyms: identifier index, partner-local and audit pseudonyms.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/types.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluis::crypto {

/// The kinds of client identifier a partner may register with.
enum class IdentifierScheme {
  national_register,  ///< Belgian rijksregisternummer / numéro de registre national (11 digits)
  bis,                ///< BIS number (11 digits, month + 20 or + 40)
  case_number,        ///< the partner's own case number; scoped to that partner
};

/// Normalises an identifier: national register and BIS numbers lose separators (spaces, dots,
/// dashes) and must be 11 digits with a valid mod-97 check (both pre- and post-2000 rules);
/// BIS additionally needs month + 20 or + 40; case numbers are trimmed, at most 64 printable
/// ASCII characters, and prefixed with the owning partner id so two partners' "123" differ.
/// Errors: invalid_argument with no detail about the value (it is personal data).
[[nodiscard]] Result<std::string> normalise_identifier(IdentifierScheme scheme,
                                                       std::string_view raw,
                                                       std::string_view partner_id);

/// 32-byte keyed hash of a normalised identifier (BLAKE2b keyed with the identifier_index sub-key,
/// domain "sluis/identifier/v1"). The gateway stores only this, to find the same client again.
using IdentifierDigest = std::array<std::uint8_t, 32>;
[[nodiscard]] IdentifierDigest identifier_digest(const SubKey& identifier_index_key,
                                                 IdentifierScheme scheme,
                                                 std::string_view normalised);

/// What a partner sees for a client: "p1" followed by 26 lowercase base32 characters (128 bits of
/// BLAKE2b keyed with the partner_pseudonym sub-key over partner id and client id). Stable for a
/// (partner, client) pair; unrelated across partners.
[[nodiscard]] std::string partner_pseudonym(const SubKey& partner_pseudonym_key,
                                            std::string_view partner_id, const ClientId& client);

/// The client as the audit log names it: "a1" + 26 base32 characters, keyed with audit_pseudonym.
[[nodiscard]] std::string audit_pseudonym(const SubKey& audit_pseudonym_key, const ClientId& client);

/// Keyed hash under which the gateway indexes an anonymous client's service pseudonym.
[[nodiscard]] IdentifierDigest service_pseudonym_digest(const SubKey& service_pseudonym_index_key,
                                                        std::string_view service_id,
                                                        std::string_view service_pseudonym);

}  // namespace sluis::crypto
