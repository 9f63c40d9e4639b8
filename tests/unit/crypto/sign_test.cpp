// Ed25519 signing keys: RFC 8032 known answers, negatives, redaction, determinism.
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/sign.hpp"

#include "vectors.hpp"

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <sstream>
#include <string>
#include <vector>

using namespace sluis::crypto;

namespace {

std::vector<std::uint8_t> hex(const std::string& s) {
  if (s.empty()) return {};  // encoding.cpp's from_hex("") trips UBSan (reported); avoid it
  auto r = from_hex(s);
  REQUIRE(r);
  return *r;
}

SecretBytes<32> seed_of(const std::vector<std::uint8_t>& bytes) {
  REQUIRE(bytes.size() == 32);
  return SecretBytes<32>::copy_of(std::span<const std::uint8_t, 32>(bytes.data(), 32));
}

Errc errc_named(const std::string& name) {
  if (name == "bad_signature") return Errc::bad_signature;
  if (name == "malformed") return Errc::malformed;
  if (name == "bad_proof") return Errc::bad_proof;
  if (name == "invalid_argument") return Errc::invalid_argument;
  if (name == "authentication_failed") return Errc::authentication_failed;
  FAIL("unknown expected error '" << name << "'");
  return Errc::malformed;
}

}  // namespace

TEST_CASE("Ed25519 known answers (RFC 8032 §7.1) and negatives", "[sign]") {
  int positives = 0;
  int negatives = 0;
  for (const auto& rec : sluis::test::load_vectors("checkpoint_v1.vec")) {
    if (rec.at("kind") != "ed25519") continue;
    INFO("record " << rec.at("name") << " at line " << rec.line);
    const auto key = SigningKey::from_seed(seed_of(hex(rec.at("seed"))));
    const auto message = hex(rec.at("message"));
    const auto signature = hex(rec.at("signature"));
    auto pub = VerifyingKey::from_bytes(hex(rec.at("public")));
    REQUIRE(pub);
    const auto result = pub->verify(message, signature);
    if (rec.at("expect") == "ok") {
      ++positives;
      CHECK(to_hex(key.verifying_key().bytes()) == rec.at("public"));
      const Signature produced = key.sign(message);
      CHECK(to_hex(produced) == rec.at("signature"));
      CHECK(result);
    } else {
      ++negatives;
      REQUIRE_FALSE(result);
      CHECK(result.error() == make_error_code(errc_named(rec.at("expect"))));
    }
  }
  CHECK(positives == 3);
  CHECK(negatives >= 3);
}

TEST_CASE("sign/verify round trip; tampered message, signature or key fails", "[sign]") {
  const auto key = SigningKey::generate();
  const auto other = SigningKey::generate();
  const std::string msg = "sluis audit checkpoint\n";
  const Signature sig = key.sign(msg);

  CHECK(key.verifying_key().verify(msg, sig));
  CHECK(key.sign(msg) == sig);  // deterministic (RFC 8032)

  std::string changed = msg;
  changed[0] = 'S';
  CHECK(key.verifying_key().verify(changed, sig).error() == make_error_code(Errc::bad_signature));
  CHECK_FALSE(key.verifying_key().verify(msg.substr(1), sig));
  CHECK_FALSE(other.verifying_key().verify(msg, sig));

  for (std::size_t bit = 0; bit < sig.size() * 8; ++bit) {
    Signature bad = sig;
    bad[bit / 8] = static_cast<std::uint8_t>(bad[bit / 8] ^ (1U << (bit % 8)));
    INFO("bit " << bit);
    CHECK_FALSE(key.verifying_key().verify(msg, bad));
  }
  // Wrong lengths are refused, not read past.
  CHECK_FALSE(key.verifying_key().verify(msg, std::span<const std::uint8_t>(sig).first(63)));
  std::vector<std::uint8_t> longer(sig.begin(), sig.end());
  longer.push_back(0);
  CHECK_FALSE(key.verifying_key().verify(msg, longer));
}

TEST_CASE("the same seed gives the same key; different seeds differ", "[sign]") {
  auto seed = SecretBytes<32>::random();
  const auto a = SigningKey::from_seed(seed.clone());
  const auto b = SigningKey::from_seed(std::move(seed));
  CHECK(a.verifying_key() == b.verifying_key());
  CHECK_FALSE(a.verifying_key() == SigningKey::generate().verifying_key());
}

TEST_CASE("VerifyingKey parsing is strict", "[sign]") {
  const auto key = SigningKey::generate();
  const std::string b64 = key.verifying_key().to_base64();
  auto parsed = VerifyingKey::from_base64(b64);
  REQUIRE(parsed);
  CHECK(*parsed == key.verifying_key());
  std::ostringstream os;
  os << key.verifying_key();
  CHECK(os.str() == b64);

  CHECK(VerifyingKey::from_base64(b64 + "=").error() == make_error_code(Errc::malformed));
  CHECK_FALSE(VerifyingKey::from_base64(b64.substr(0, 43)));
  CHECK_FALSE(VerifyingKey::from_base64(" " + b64));
  CHECK_FALSE(VerifyingKey::from_bytes(std::vector<std::uint8_t>(31, 1)));
  CHECK_FALSE(VerifyingKey::from_bytes(std::vector<std::uint8_t>(33, 1)));
  // Small-order points (the identity, encoded as y = 1) and non-canonical encodings are refused.
  std::vector<std::uint8_t> identity(32, 0);
  identity[0] = 1;
  CHECK_FALSE(VerifyingKey::from_bytes(identity));
  CHECK_FALSE(VerifyingKey::from_bytes(std::vector<std::uint8_t>(32, 0xff)));
}

TEST_CASE("a signing key never prints its secret", "[sign]") {
  // Plant a recognisable seed and make sure no printed form of the key contains it.
  const std::string canary = "CANARY-ed25519-seed-0123456789ab";
  REQUIRE(canary.size() == 32);
  std::vector<std::uint8_t> bytes(canary.begin(), canary.end());
  const auto key = SigningKey::from_seed(seed_of(bytes));
  std::ostringstream os;
  os << key;
  CHECK(os.str() == "<redacted:32B>");
  CHECK(os.str().find("CANARY") == std::string::npos);
  CHECK(os.str().find(to_hex(bytes)) == std::string::npos);
}
