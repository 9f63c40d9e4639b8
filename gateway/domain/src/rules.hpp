// Private helpers the domain's services share: name rules, record ids, partner look-ups, and the
// sealing of break-the-glass reasons (consent_book.cpp) that a link reseals (registry.cpp).
#pragma once

#include "sluis/domain/records.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// Category and partner names: 1..64 of [a-z0-9-_.] — they appear in sealed-field AD and logs.
[[nodiscard]] bool valid_name(std::string_view s) noexcept;
/// 1..max bytes without control characters.
[[nodiscard]] bool valid_text(std::string_view s, std::size_t max) noexcept;
/// 32 lowercase hex characters of fresh randomness (consent and grant ids).
[[nodiscard]] std::string random_record_id();

/// An error as a Result<bool> (error_code also converts to bool, so say which is meant).
[[nodiscard]] inline Result<bool> bool_error(boost::system::error_code ec) {
  return Result<bool>(boost::system::in_place_error, ec);
}

/// One partner from the unit's partner table. Errors: not_found.
[[nodiscard]] Result<Partner> find_partner_in(UnitOfWork& u, std::string_view id);

/// A break-the-glass reason sealed like a fragment field (crypto::seal_field) under the client's
/// data key of category kBreakGlassReasonCategory, for the grant `grant_id` (32 hex characters:
/// its 16 bytes stand where a fragment id does in the sealed context). Creates the key on first
/// use. Errors: invalid_argument (grant id not 32 hex characters), the key store's.
[[nodiscard]] Result<std::vector<std::uint8_t>> seal_break_glass_reason(UnitOfWork& u,
                                                                        const ClientId& client,
                                                                        std::string_view grant_id,
                                                                        std::string_view reason);
/// Opens what seal_break_glass_reason sealed; nullopt when it cannot be opened (the key is gone,
/// or the bytes were altered or moved to another grant or client).
/// Errors: storage_failure (malformed grant id), the key store's.
[[nodiscard]] Result<std::optional<std::string>>
open_break_glass_reason(UnitOfWork& u, const ClientId& client, std::string_view grant_id,
                        std::span<const std::uint8_t> sealed);
/// Inside a link's write transaction: reseals the reasons of `absorbed`'s grants to `survivor`
/// (a sealed reason is bound to its client), before the grants move over.
[[nodiscard]] Result<void> reseal_break_glass_reasons(UnitOfWork& u, const ClientId& survivor,
                                                      const ClientId& absorbed);

}  // namespace sluis::domain
