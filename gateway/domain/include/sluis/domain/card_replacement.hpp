// A new card for a client whose card was lost, reached by the service's own pseudonym.
#pragma once

#include "sluis/domain/records.hpp"
#include "sluis/domain/registry.hpp"

#include <string_view>

namespace sluis::domain {

/// The client `partner_id` knows as `client_pseudonym` (its own `p1…`, or an alias it holds) got
/// a new card at this service, and the old one is lost: the service cannot derive the old
/// card's pseudonym, so the client is reached through the care relationship instead. Every
/// service pseudonym of the client (the old card's, at every service) is retired — the old card
/// no longer registers or links anywhere (card_replaced) — and `new_pseudonym`, derived from the
/// new card for this service, names the client here from now on. Partner pseudonyms are not
/// touched: the answer is the caller's current pseudonym (existing = true). Recorded as a card
/// event (new card). Only partner types in `options` may, and only for an anonymous client.
/// Errors: invalid_argument (new_pseudonym not `sp1-` + 64 hex), not_found (pseudonym unknown
/// to this partner), not_permitted (partner type or revoked partner, or the client is
/// identified), conflict (new_pseudonym already names a client).
[[nodiscard]] Result<Registration> replace_lost_card(Storage& storage,
                                                     std::string_view partner_id,
                                                     std::string_view client_pseudonym,
                                                     std::string_view new_pseudonym,
                                                     const RegistryOptions& options = {});

}  // namespace sluis::domain
