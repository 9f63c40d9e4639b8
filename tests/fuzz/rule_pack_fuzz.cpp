// Fuzz target: the rule pack parser (TOML text → validated RulePack, or diagnostics).
//
// Input: a rule pack file as an operator could write it. Invariants (rule_pack.hpp): a failed
// parse has at least one diagnostic, each with a message and this file's name; an accepted pack
// is self-consistent — every name resolves to its own id, at most kMaxNamesPerKind of each kind,
// every kind defined, restricted and identifying sets agree with the category definitions,
// restricted categories are never disclosed by default, a retention period for every category,
// and the duration and reason bounds are in the ranges the parser enforces.
#include "sluis/policy/rule_pack.hpp"

#include "fuzz_support.hpp"

#include <string>

namespace {

namespace policy = sluis::policy;

constexpr std::string_view kSource = "fuzz.toml";

template <class Id, class Defs, class Lookup> void check_names(const Defs& defs, Lookup&& lookup) {
  SLUIS_FUZZ_CHECK(!defs.empty() && defs.size() <= policy::kMaxNamesPerKind);
  for (std::size_t i = 0; i < defs.size(); ++i) {
    const auto id = lookup(defs[i].name);
    SLUIS_FUZZ_CHECK(id.has_value() && id->value == i);
  }
}

void check_pack(const policy::RulePack& p) {
  check_names<policy::PartnerTypeId>(p.partner_types(),
                                     [&](std::string_view n) { return p.partner_type(n); });
  check_names<policy::RoleId>(p.roles(), [&](std::string_view n) { return p.role(n); });
  check_names<policy::CategoryId>(p.categories(),
                                  [&](std::string_view n) { return p.category(n); });
  check_names<policy::PurposeId>(p.purposes(), [&](std::string_view n) { return p.purpose(n); });
  SLUIS_FUZZ_CHECK(p.source() == kSource);

  policy::CategorySet restricted;
  policy::CategorySet identifying;
  for (std::size_t c = 0; c < p.categories().size(); ++c) {
    const policy::CategoryId id{static_cast<std::uint8_t>(c)};
    SLUIS_FUZZ_CHECK(p.valid(id));
    if (p.def(id).restricted) restricted.insert(id);
    if (p.def(id).identifying) identifying.insert(id);
    SLUIS_FUZZ_CHECK(p.retention(id).count() >= 1);
    SLUIS_FUZZ_CHECK(p.accepts_on_anonymous_client(id) == !p.def(id).identifying);
  }
  SLUIS_FUZZ_CHECK(p.restricted_categories() == restricted);
  SLUIS_FUZZ_CHECK(p.identifying_categories() == identifying);
  SLUIS_FUZZ_CHECK(!p.valid(policy::CategoryId{static_cast<std::uint8_t>(p.categories().size())}));

  const std::size_t ntypes = p.partner_types().size();
  for (std::size_t o = 0; o < ntypes; ++o) {
    const policy::PartnerTypeId owner{static_cast<std::uint8_t>(o)};
    (void)p.requires_client_link(owner);
    (void)p.allows_break_glass(owner);
    for (std::size_t r = 0; r < ntypes; ++r) {
      const policy::PartnerTypeId recipient{static_cast<std::uint8_t>(r)};
      SLUIS_FUZZ_CHECK((p.disclosed(owner, recipient) & restricted).empty());
    }
  }
  for (std::size_t r = 0; r < p.roles().size(); ++r) {
    const policy::RoleId role{static_cast<std::uint8_t>(r)};
    (void)p.may_record_consent(role);
    (void)p.may_erase_client(role);
    for (std::size_t c = 0; c < p.categories().size(); ++c) {
      for (std::size_t u = 0; u < p.purposes().size(); ++u) {
        const auto level = p.access(role, policy::CategoryId{static_cast<std::uint8_t>(c)},
                                    policy::PurposeId{static_cast<std::uint8_t>(u)});
        SLUIS_FUZZ_CHECK(!policy::to_string(level).empty());
      }
    }
  }
  SLUIS_FUZZ_CHECK(p.consent_max_duration().count() >= 1);
  SLUIS_FUZZ_CHECK(p.break_glass_max_duration().count() >= 1);
  SLUIS_FUZZ_CHECK(p.break_glass_reason_min_chars() >= 1);
  SLUIS_FUZZ_CHECK(p.break_glass_reason_min_chars() <= p.break_glass_reason_max_chars());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = policy::parse_rule_pack(sluis::fuzz::as_text(data, size), kSource);
  if (r) {
    check_pack(*r);
    return 0;
  }
  const policy::Diagnostics& d = r.error();
  SLUIS_FUZZ_CHECK(!d.items.empty());
  for (const auto& item : d.items) {
    SLUIS_FUZZ_CHECK(item.file == kSource && !item.message.empty());
    SLUIS_FUZZ_CHECK(item.to_string().find(item.message) != std::string::npos);
  }
  return 0;
}
