// Fuzz target: the consent and break-the-glass JSON of the policy module (parse_consent,
// consent_from_json, break_glass_from_json) against the repository's default rule pack.
//
// Input: a JSON document as a partner's system would send it. Invariants (consent_json.hpp):
// whatever parses serialises back to JSON that parses to an equal value, and serialising that
// gives the same bytes again (one document, one meaning). Validation runs on every accepted
// value at a fixed "now" so its checks see fuzzed consents too (no invariant on its verdict).
#include "sluis/policy/consent_json.hpp"

#include "default_rule_pack.hpp"
#include "fuzz_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <string>

namespace {

namespace policy = sluis::policy;
namespace json = boost::json;

// The pack every consent is read against: the one the gateway ships (same as the unit tests).
const policy::RulePack& pack() {
  return sluis::fuzz::default_rule_pack();
}

// A fixed instant (2025-06-01T12:00:00Z), so a crash reproduces whenever it is replayed.
constexpr policy::Time kNow{std::chrono::sys_days{std::chrono::year{2025} / 6 / 1} +
                            std::chrono::hours{12}};

void check_consent(std::string_view text) {
  auto consent = policy::parse_consent(text, pack());
  if (!consent) return;
  const std::string once = policy::serialize_consent(*consent, pack());
  auto again = policy::parse_consent(once, pack());
  SLUIS_FUZZ_CHECK(again.has_value());
  SLUIS_FUZZ_CHECK(*again == *consent);
  SLUIS_FUZZ_CHECK(policy::serialize_consent(*again, pack()) == once);
  (void)policy::validate_consent(*consent, pack(), kNow);
  (void)policy::consent_end(*consent);
  // Revoking keeps the document readable (the store saves revoked consents in the same form).
  policy::Consent revoked = *consent;
  if (policy::revoke_consent(revoked, {"ocmw-brussel", "ocmw-sw"}, kNow)) {
    auto back = policy::parse_consent(policy::serialize_consent(revoked, pack()), pack());
    SLUIS_FUZZ_CHECK(back.has_value() && *back == revoked);
  }
}

void check_grant(const json::value& v) {
  auto grant = policy::break_glass_from_json(v, pack());
  if (!grant) return;
  const json::value once = policy::break_glass_to_json(*grant, pack());
  auto again = policy::break_glass_from_json(once, pack());
  SLUIS_FUZZ_CHECK(again.has_value());
  SLUIS_FUZZ_CHECK(*again == *grant);
  SLUIS_FUZZ_CHECK(json::serialize(policy::break_glass_to_json(*again, pack())) ==
                   json::serialize(once));
  if (const auto role = pack().role("social-worker")) {
    (void)policy::validate_break_glass(*grant, pack(), *role, kNow);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  check_consent(text);
  if (text.size() <= policy::kMaxConsentJsonBytes) {
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (!ec) check_grant(v);
  }
  return 0;
}
