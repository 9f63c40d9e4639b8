// The console's audit-log witness against the real sluisd over mTLS: checkpoints and consistency
// proofs fetched through console::ApiClient verify and are archived; a tampered checkpoint and a
// tampered proof from the same gateway are refused with alerts naming the tree sizes.
#include "sluis/console/api_client.hpp"
#include "sluis/console/witness.hpp"

#include "sluisd_harness.hpp"

#include "sluis/crypto/sign.hpp"

#include <catch2/catch.hpp>

using namespace sluis::test;
namespace sc = sluis::console;
namespace crypto = sluis::crypto;

namespace {

// The pinned log key, as the operator hands it to the console: the gateway's audit signer's
// public half under the configured origin (what `sluisctl audit checkpoint` prints).
crypto::NoteVerifierKey pinned_log_key(const GatewayHome& home) {
  const auto root = crypto::read_root_key(home.dir.path() / "keys/root.key", {}).value();
  const auto signer = crypto::SigningKey::from_subkey(
      crypto::derive_subkey(root, crypto::KeyPurpose::audit_signing));
  return crypto::make_verifier_key("sluis-gateway/audit", signer.verifying_key()).value();
}

void register_people(const sc::ApiClient& client, unsigned long long first, int count) {
  for (int i = 0; i < count; ++i) {
    sc::ApiRequest reg;
    reg.method = "POST";
    reg.target = "/v1/clients";
    reg.worker = "ocmw-sw";
    reg.body = R"({"identifier":{"scheme":"national-register","value":")" +
               national_register_number(first + static_cast<unsigned long long>(i)) + R"("}})";
    const auto r = client.call(reg);
    REQUIRE(r.has_value());
    REQUIRE(r->status == 201);
  }
}

// The checkpoint sluisd serves now, once it covers more than `size` entries (the writer signs
// one at least every second while events arrive).
std::string checkpoint_beyond(const sc::ApiClient& client, const crypto::NoteVerifierKey& key,
                              std::uint64_t size) {
  const auto end = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < end) {
    sc::ApiRequest get;
    get.target = "/v1/audit/checkpoint";
    get.worker = "ocmw-sw";
    const auto r = client.call(get);
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    const auto cp = crypto::verify_checkpoint(r->body, key.key, key.name, key.name);
    REQUIRE(cp.has_value());
    if (cp->size > size) return r->body;
    std::this_thread::sleep_for(100ms);
  }
  FAIL("sluisd issued no checkpoint beyond " << size << " entries");
  return {};
}

}  // namespace

TEST_CASE("console witness: verifies sluisd's checkpoints and consistency proofs over mTLS, "
          "refuses tampered ones",
          "[console][witness]") {
  GatewayHome home;
  Sluisd gateway(home);
  REQUIRE(gateway.wait_ready());
  sc::ApiClientOptions o;
  o.port = gateway.port();
  o.timeout = std::chrono::milliseconds(3000);
  const sc::ApiClient client(o, home.ca.certificate(), home.ocmw);
  const auto key = pinned_log_key(home);

  auto archive = sc::FileCheckpointArchive::open(home.dir.path() / "witness.log").value();
  sc::Witness witness(key, archive);

  // First use: a checkpoint covering at least one event.
  register_people(client, 850101101, 1);
  const auto first_note = checkpoint_beyond(client, key, 0);
  const sc::ConsistencyProofSource unused =
      [](std::uint64_t,
         std::uint64_t) -> sc::WitnessResult<std::optional<std::vector<crypto::Hash>>> {
    FAIL("no proof is needed for the first checkpoint");
    return std::optional<std::vector<crypto::Hash>>{};
  };
  auto r = witness.observe(first_note, unused).value();
  REQUIRE(r.status == sc::WitnessReport::Status::first);
  const auto old_size = r.accepted->size;
  REQUIRE(old_size > 0);

  // The log grows; witness_once fetches the new checkpoint and the proof through the client.
  register_people(client, 850101201, 3);
  (void)checkpoint_beyond(client, key, old_size);
  r = sc::witness_once(client, "ocmw-sw", witness).value();
  REQUIRE(r.status == sc::WitnessReport::Status::grew);
  REQUIRE(r.accepted->size > old_size);
  CHECK(archive.count() == 2);
  const auto proven_size = r.accepted->size;
  // Asked again with nothing new: unchanged.
  r = sc::witness_once(client, "ocmw-sw", witness).value();
  if (r.status != sc::WitnessReport::Status::grew) {  // the asking itself is not audited
    CHECK(r.status == sc::WitnessReport::Status::unchanged);
  }

  // More growth; this time the real proof is fetched through the client and one hash flipped.
  register_people(client, 850101301, 2);
  const auto newer_note = checkpoint_beyond(client, key, archive.newest().value()->size);
  const auto newest_size = archive.newest().value()->size;
  const auto newer = crypto::verify_checkpoint(newer_note, key.key, key.name, key.name).value();
  bool fetched = false;
  const sc::ConsistencyProofSource tampered =
      [&](std::uint64_t from,
          std::uint64_t to) -> sc::WitnessResult<std::optional<std::vector<crypto::Hash>>> {
    sc::ApiRequest req;
    req.target =
        "/v1/audit/proofs/consistency?from=" + std::to_string(from) + "&to=" + std::to_string(to);
    req.worker = "ocmw-sw";
    const auto res = client.call(req);
    REQUIRE(res.has_value());
    REQUIRE(res->status == 200);
    auto proof = sc::parse_consistency_proof(res->body, from, to);
    REQUIRE(proof);
    REQUIRE(!proof->empty());
    // The untampered proof verifies: the refusal below is the flip's doing.
    const auto old_root = archive.newest().value()->root;
    REQUIRE(crypto::verify_consistency(from, to, old_root, newer.root, *proof));
    (*proof)[proof->size() / 2][0] ^= 0x80U;
    fetched = true;
    return proof;
  };
  r = witness.observe(newer_note, tampered).value();
  CHECK(fetched);
  REQUIRE(r.status == sc::WitnessReport::Status::alert);
  CHECK(r.alert->kind == sc::WitnessAlertKind::bad_proof);
  CHECK(r.alert->old_size == newest_size);
  CHECK(r.alert->new_size == newer.size);
  CHECK(archive.newest().value()->size == newest_size);
  CHECK(newest_size >= proven_size);

  // A checkpoint from the gateway with its size changed after signing: a bad signature.
  auto forged = newer_note;
  const auto line = "\n" + std::to_string(newer.size) + "\n";
  const auto pos = forged.find(line);
  REQUIRE(pos != std::string::npos);
  forged.replace(pos, line.size(), "\n" + std::to_string(newer.size + 1000) + "\n");
  r = witness.observe(forged, unused).value();
  REQUIRE(r.status == sc::WitnessReport::Status::alert);
  CHECK(r.alert->kind == sc::WitnessAlertKind::bad_signature);
  CHECK(r.alert->old_size == newest_size);

  // A console pinned to another key refuses the genuine checkpoint.
  auto other_archive = sc::FileCheckpointArchive::open(home.dir.path() / "other.log").value();
  const auto stranger = crypto::SigningKey::generate();
  sc::Witness misconfigured(
      crypto::make_verifier_key("sluis-gateway/audit", stranger.verifying_key()).value(),
      other_archive);
  r = sc::witness_once(client, "ocmw-sw", misconfigured).value();
  CHECK(r.status == sc::WitnessReport::Status::alert);
  CHECK(r.alert->kind == sc::WitnessAlertKind::bad_signature);
  CHECK(other_archive.count() == 0);

  // The genuine proof, fetched by witness_once, is accepted after all that.
  r = sc::witness_once(client, "ocmw-sw", witness).value();
  CHECK(r.status == sc::WitnessReport::Status::grew);
  CHECK(r.accepted->size >= newer.size);

  // A closed gateway is an error, not an alert.
  gateway.signal(SIGKILL);
  REQUIRE(gateway.exited(5s));
  const auto down = sc::witness_once(client, "ocmw-sw", witness);
  REQUIRE(!down);
  CHECK(down.error() == sc::WitnessErrc::log_unreachable);
}
