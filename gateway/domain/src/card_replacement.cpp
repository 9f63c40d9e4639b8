// A new card for a client whose card was lost (replace_lost_card).
#include "sluis/domain/card_replacement.hpp"

#include "rules.hpp"
#include "sluis/crypto/card.hpp"

namespace sluis::domain {

Result<Registration> replace_lost_card(Storage& storage, std::string_view partner_id,
                                       std::string_view client_pseudonym,
                                       std::string_view new_pseudonym,
                                       const RegistryOptions& options) {
  if (!crypto::looks_like_service_pseudonym(new_pseudonym)) {
    return make_error_code(Errc::invalid_argument);
  }
  UnitOfWork u(storage);
  // The checks inside the write transaction (see Registry::link): another node's replacement
  // of the same card between a check and the write makes one of the two fail busy.
  if (auto r = u.begin_write(); !r) return r.error();
  auto partner = find_partner_in(u, partner_id);
  if (!partner) return partner.error();
  if (partner->revoked_at || !options.anonymous_partner_types.contains(partner->partner_type)) {
    return make_error_code(Errc::not_permitted);
  }
  auto client = u.clients().resolve_pseudonym(partner_id, client_pseudonym);
  if (!client) return client.error();
  if (!*client) return make_error_code(Errc::not_found);
  auto anonymous = u.clients().anonymous(**client);
  if (!anonymous) return anonymous.error();
  if (!*anonymous) return make_error_code(Errc::not_permitted);
  const auto digest = crypto::service_pseudonym_digest(
      u.pseudonym_keys().service_pseudonym_index, partner_id, new_pseudonym);
  auto clash = u.clients().find_service_pseudonym(digest);
  if (!clash) return clash.error();
  if (*clash) return make_error_code(Errc::conflict);
  auto rel = u.clients().relationship(partner_id, **client);
  if (!rel) return rel.error();
  if (!*rel) return make_error_code(Errc::not_found);
  if (auto r = u.fault_point_for_test("replace_lost_card.checked"); !r) return r.error();

  if (auto r = u.clients().retire_service_pseudonyms(**client, u.now()); !r) return r.error();
  if (auto r = u.clients().insert_service_pseudonym(digest, **client, partner_id, u.now()); !r) {
    return r.error();
  }
  if (auto r = u.clients().record_card_event(**client, store::CardEventKind::new_card, {},
                                             partner_id, "lost-card", u.now());
      !r) {
    return r.error();
  }
  if (auto r = u.commit(); !r) return r.error();
  return Registration{std::move((*rel)->pseudonym), true};
}

}  // namespace sluis::domain
