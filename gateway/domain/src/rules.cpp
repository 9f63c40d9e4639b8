// Name rules, record ids and partner look-ups shared by the domain's services.
#include "rules.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/domain/registry.hpp"

#include <algorithm>
#include <array>

namespace sluis::domain {

bool valid_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool valid_text(std::string_view s, std::size_t max) noexcept {
  if (s.empty() || s.size() > max) return false;
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string random_record_id() {
  std::array<std::uint8_t, 16> b{};
  crypto::random_bytes(b);
  return crypto::to_hex(b);
}

Result<Partner> find_partner_in(UnitOfWork& u, std::string_view id) {
  auto table = u.partners().table();
  if (!table) return table.error();
  const auto* p = find_in_partner_table(**table, id);
  if (p == nullptr) return make_error_code(Errc::not_found);
  return *p;
}

}  // namespace sluis::domain
