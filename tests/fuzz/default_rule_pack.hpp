// The repository's default rule pack, loaded once, for the targets that need a pack to read
// against (consent JSON, the API). A pack that does not load stops the target with its
// diagnostics: every input would otherwise be rejected for the wrong reason.
#pragma once

#include "sluis/policy/rule_pack.hpp"

#include "fuzz_support.hpp"

#include <cstdio>
#include <string>

namespace sluis::fuzz {

[[nodiscard]] inline const policy::RulePack& default_rule_pack() {
  static const policy::RulePack pack = [] {
    auto r = policy::load_rule_pack(std::string(SLUIS_SOURCE_DIR) +
                                    "/policy/packs/brussels-welfare.toml");
    if (!r) {
      for (const auto& d : r.error().items)
        std::fprintf(stderr, "%s\n", d.to_string().c_str());
      invariant_failed("the default rule pack loads", __FILE__, __LINE__);
    }
    return std::move(*r);
  }();
  return pack;
}

}  // namespace sluis::fuzz
