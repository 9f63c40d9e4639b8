// KEK fingerprints and the erasure ledger's keyed digests (sluis/crypto/key_ring.hpp), checked
// against BLAKE2b computed here from libsodium's primitive over the documented encoding.
#include "sluis/crypto/key_ring.hpp"

#include <catch2/catch.hpp>
#include <sodium.h>

#include <array>
#include <string>
#include <vector>

using namespace sluis::crypto;

namespace {

/// LP(x): 8-byte big-endian length, then x.
void lp(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> x) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>((x.size() >> (8 * i)) & 0xffU));
  out.insert(out.end(), x.begin(), x.end());
}

void lp(std::vector<std::uint8_t>& out, std::string_view x) {
  lp(out, std::span(reinterpret_cast<const std::uint8_t*>(x.data()), x.size()));
}

std::array<std::uint8_t, 32> blake2b(std::span<const std::uint8_t, 32> key,
                                     const std::vector<std::uint8_t>& msg) {
  std::array<std::uint8_t, 32> out{};
  REQUIRE(crypto_generichash(out.data(), out.size(), msg.data(), msg.size(), key.data(),
                             key.size()) == 0);
  return out;
}

}  // namespace

TEST_CASE("key ring: a KEK fingerprint is BLAKE2b-256 under the KEK of its label and version, "
          "and changes with either",
          "[crypto][keys]") {
  const auto kek = KeyEncryptionKey::generate(KekVersion{3});
  std::vector<std::uint8_t> msg;
  lp(msg, "sluis/kek-fingerprint/v1");
  const std::array<std::uint8_t, 4> be{0, 0, 0, 3};
  lp(msg, be);
  CHECK(kek_fingerprint(kek) == blake2b(kek.key.reveal(), msg));
  // Another version number with the same secret, or another secret: another fingerprint.
  const KeyEncryptionKey relabelled{KekVersion{4}, kek.key.clone()};
  CHECK(kek_fingerprint(relabelled) != kek_fingerprint(kek));
  CHECK(kek_fingerprint(KeyEncryptionKey::generate(KekVersion{3})) != kek_fingerprint(kek));
}

TEST_CASE("key ring: an erasure ledger digest is BLAKE2b-256 under its sub-key of label and line, "
          "and a changed line or another root key does not match",
          "[crypto][keys]") {
  const auto root = RootKey::random();
  const auto key = derive_subkey(root, kErasureLedgerPurpose);
  const std::string line = "a1abcdefghijklmnopqrstuvwxyz 1733612400000 1";
  std::vector<std::uint8_t> msg;
  lp(msg, "sluis/erasure-ledger/v1");
  lp(msg, line);
  CHECK(erasure_record_digest(key, line) == blake2b(key.reveal(), msg));
  CHECK(erasure_record_digest(key, "a1abcdefghijklmnopqrstuvwxyz 1733612400000 2") !=
        erasure_record_digest(key, line));
  const auto other = derive_subkey(RootKey::random(), kErasureLedgerPurpose);
  CHECK(erasure_record_digest(other, line) != erasure_record_digest(key, line));
  // Its own purpose: not the sub-key of any other purpose.
  CHECK(erasure_record_digest(derive_subkey(root, KeyPurpose::audit_pseudonym), line) !=
        erasure_record_digest(key, line));
}
