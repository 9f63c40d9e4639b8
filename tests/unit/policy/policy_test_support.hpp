// Shared fixtures for the policy unit tests: the default pack and small builders.
#pragma once

#include "sluis/policy/rule_pack.hpp"
#include "sluis/policy/types.hpp"

#include <stdexcept>
#include <string>

namespace sluis::policy::test {

inline const std::string kDefaultPackPath =
    std::string(SLUIS_SOURCE_DIR) + "/policy/packs/brussels-welfare.toml";

/// The shipped default pack, loaded once (throws if it does not validate).
inline const RulePack& default_pack() {
  static const RulePack pack = load_rule_pack(kDefaultPackPath).value();
  return pack;
}

inline Time at(const char* rfc3339) {
  const auto t = parse_time(rfc3339);
  if (!t) throw std::invalid_argument(rfc3339);
  return *t;
}

inline RoleId role(const char* n) {
  return default_pack().role(n).value();
}
inline CategoryId category(const char* n) {
  return default_pack().category(n).value();
}
inline PurposeId purpose(const char* n) {
  return default_pack().purpose(n).value();
}
inline PartnerTypeId partner_type(const char* n) {
  return default_pack().partner_type(n).value();
}

}  // namespace sluis::policy::test
