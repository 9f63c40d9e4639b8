// Access decision speed with the default pack and 5 consents per client (target < 2 µs each).
#include "sluis/policy/decision.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace sluis::policy;

const RulePack& pack() {
  static const RulePack p =
      load_rule_pack(std::string(SLUIS_SOURCE_DIR) + "/policy/packs/brussels-welfare.toml").value();
  return p;
}

const Time kNow = *parse_time("2025-06-01T12:00:00Z");

// A realistic client: five consents (an expired one, a revoked one, two active ones with
// exceptions, one for a named partner), recorded over two years.
std::vector<Consent> five_consents() {
  const RulePack& p = pack();
  std::vector<Consent> out;
  for (int i = 0; i < 5; ++i) {
    Consent c;
    c.id = "consent-" + std::to_string(i);
    ConsentProvision v;
    v.purposes.insert(*p.purpose("care-coordination"));
    v.purposes.insert(*p.purpose("referral"));
    v.period = {kNow - std::chrono::days{30}, kNow + std::chrono::days{300}};
    switch (i) {
    case 0:  // expired, for the whole home-care sector
      v.grantee.partner_type = *p.partner_type("home-care");
      v.all_non_restricted = true;
      v.period = {kNow - std::chrono::days{800}, kNow - std::chrono::days{70}};
      break;
    case 1:  // revoked
      v.grantee.partner_type = *p.partner_type("mental-health");
      v.all_non_restricted = true;
      c.status = ConsentStatus::revoked;
      c.revocation = Revocation{kNow - std::chrono::days{2}, {"caw-1", "w-1"}};
      break;
    case 2:  // active for caw, except one caw and one worker, not addiction
      v.grantee.partner_type = *p.partner_type("caw");
      v.all_non_restricted = true;
      v.exceptions.push_back({ConsentException::Kind::partner, "caw-elsewhere", "", {}});
      v.exceptions.push_back({ConsentException::Kind::worker, "caw-noord", "w-excluded", {}});
      v.exceptions.push_back({ConsentException::Kind::category, "", "", *p.category("addiction")});
      break;
    case 3:  // active for nurses at community health centres
      v.grantee.partner_type = *p.partner_type("community-health");
      v.grantee.role = *p.role("nurse");
      v.categories.insert(*p.category("health"));
      v.categories.insert(*p.category("appointment"));
      break;
    default:  // residence status, by name, for one OCMW
      v.grantee.partner = "ocmw-anderlecht";
      v.categories.insert(*p.category("residence-status"));
      v.categories.insert(*p.category("income"));
      v.purposes.insert(*p.purpose("administration"));
      break;
    }
    c.provisions.push_back(v);
    c.evidence.recorded_by = {"caw-1", "w-1"};
    c.evidence.recorder_role = *p.role("social-worker");
    c.evidence.recorded_at = kNow - std::chrono::days{40};
    out.push_back(std::move(c));
  }
  return out;
}

AccessRequest request(const char* partner, const char* type, const char* role, const char* category,
                      const char* purpose) {
  const RulePack& p = pack();
  AccessRequest r;
  r.partner_id = partner;
  r.partner_type = *p.partner_type(type);
  r.worker_id = "w-7";
  r.role = *p.role(role);
  r.worker_active = true;
  r.category = *p.category(category);
  r.purpose = *p.purpose(purpose);
  r.owner_partner_id = "ocmw-1";
  r.owner_type = *p.partner_type("ocmw");
  r.care_relationship = true;
  r.now = kNow;
  return r;
}

// A mix of paths: permits through consent and own data; denials by matrix, disclosure,
// exhausted consents (all five scanned) and an exception.
const std::array<AccessRequest, 6>& mix() {
  static const std::array<AccessRequest, 6> m = [] {
    std::array<AccessRequest, 6> a{
        request("caw-noord", "caw", "social-worker", "housing", "care-coordination"),  // permit
        request("caw-noord", "caw", "social-worker", "addiction", "referral"),         // excepted
        request("ocmw-anderlecht", "ocmw", "social-worker", "residence-status",
                "administration"),                                              // permit
        request("hc-1", "home-care", "nurse", "contact", "care-coordination"),  // all scanned
        request("caw-noord", "caw", "admin", "health", "administration"),       // matrix.no
        request("ocmw-1", "ocmw", "social-worker", "income", "referral"),       // own data
    };
    return a;
  }();
  return m;
}

void BM_DecisionMix(benchmark::State& state) {
  const RulePack& p = pack();
  const std::vector<Consent> consents = five_consents();
  const std::vector<BreakGlassGrant> grants;
  const auto& requests = mix();
  std::size_t i = 0;
  for (auto _ : state) {
    const AccessDecision d = decide(p, requests[i], consents, grants);
    benchmark::DoNotOptimize(d);
    i = i + 1 == requests.size() ? 0 : i + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecisionMix);

// The slowest realistic path: every consent and provision is examined and none permits.
void BM_DecisionWorstCaseDeny(benchmark::State& state) {
  const RulePack& p = pack();
  const std::vector<Consent> consents = five_consents();
  const std::vector<BreakGlassGrant> grants;
  const AccessRequest r = request("hc-1", "home-care", "nurse", "contact", "care-coordination");
  for (auto _ : state) {
    benchmark::DoNotOptimize(decide(p, r, consents, grants));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecisionWorstCaseDeny);

}  // namespace
