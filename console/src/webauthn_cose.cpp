// Credential public keys (COSE_Key: RFC 9052 §7; EC2 and OKP parameters: RFC 9053 §7.1, §7.2)
// and the two signature checks: ES256 with OpenSSL (RFC 9053 §2.1; WebAuthn L2 §6.5.6 requires
// the ASN.1 DER form of the ECDSA signature) and Ed25519 with libsodium (RFC 8032).
#include "sluis/console/webauthn.hpp"

#include "sluis/crypto/secret.hpp"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include <algorithm>
#include <memory>

namespace sluis::console {
namespace {

// COSE_Key labels (RFC 9052 §7.1, RFC 9053 §7.1.1 / §7.2).
constexpr std::int64_t kLabelKty = 1;
constexpr std::int64_t kLabelAlg = 3;
constexpr std::int64_t kLabelCrv = -1;
constexpr std::int64_t kLabelX = -2;
constexpr std::int64_t kLabelY = -3;
constexpr std::int64_t kKtyOkp = 1;
constexpr std::int64_t kKtyEc2 = 2;
constexpr std::int64_t kCrvP256 = 1;
constexpr std::int64_t kCrvEd25519 = 6;
constexpr std::size_t kP256CoordinateBytes = 32;
constexpr std::size_t kEd25519SignatureBytes = 64;
static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_BYTES == kEd25519SignatureBytes);

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// OpenSSL's error strings may describe the input; they are dropped, never shown (STYLE.md).
void drain_openssl_errors() noexcept {
  ERR_clear_error();
}

const CborValue* integer_at(const CborValue& map, std::int64_t label) {
  const auto* v = map.find(label);
  return v != nullptr && v->kind == CborValue::Kind::integer ? v : nullptr;
}

const CborValue* bytes_at(const CborValue& map, std::int64_t label, std::size_t size) {
  const auto* v = map.find(label);
  return v != nullptr && v->kind == CborValue::Kind::bytes && v->bytes.size() == size ? v : nullptr;
}

// An EVP_PKEY for an uncompressed P-256 point. OpenSSL decodes the point with EC_POINT_oct2point,
// which refuses coordinates that do not satisfy the curve equation; the public check below also
// refuses the point at infinity and coordinates outside the field.
WebauthnResult<Pkey> p256_public_key(std::span<const std::uint8_t> point) {
  EVP_PKEY_CTX* raw_ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (raw_ctx == nullptr) {
    drain_openssl_errors();
    return WebauthnErrc::crypto_failure;
  }
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(raw_ctx);
  char group[] = "prime256v1";
  std::vector<std::uint8_t> pub(point.begin(), point.end());
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw_key = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    drain_openssl_errors();
    return WebauthnErrc::crypto_failure;
  }
  if (EVP_PKEY_fromdata(ctx.get(), &raw_key, EVP_PKEY_PUBLIC_KEY,
                        const_cast<OSSL_PARAM*>(params)) != 1 ||
      raw_key == nullptr) {
    drain_openssl_errors();
    return WebauthnErrc::invalid_public_key;
  }
  Pkey key(raw_key);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) {
    drain_openssl_errors();
    return WebauthnErrc::crypto_failure;
  }
  if (EVP_PKEY_public_check(check.get()) != 1) {
    drain_openssl_errors();
    return WebauthnErrc::invalid_public_key;
  }
  return key;
}

WebauthnResult<CosePublicKey> ec2_key(const CborValue& map) {
  for (const auto& [label, value] : map.entries) {
    (void)value;
    if (label.kind != CborValue::Kind::integer ||
        (label.integer != kLabelKty && label.integer != kLabelAlg && label.integer != kLabelCrv &&
         label.integer != kLabelX && label.integer != kLabelY))
      return WebauthnErrc::cose_key_malformed;  // includes d (-4): never a private key here
  }
  const auto* x = bytes_at(map, kLabelX, kP256CoordinateBytes);
  const auto* y = bytes_at(map, kLabelY, kP256CoordinateBytes);
  if (x == nullptr || y == nullptr) return WebauthnErrc::cose_key_malformed;
  CosePublicKey out;
  out.algorithm = CoseAlgorithm::es256;
  out.raw.reserve(1 + 2 * kP256CoordinateBytes);
  out.raw.push_back(0x04);  // SEC 1 §2.3.3 uncompressed point
  out.raw.insert(out.raw.end(), x->bytes.begin(), x->bytes.end());
  out.raw.insert(out.raw.end(), y->bytes.begin(), y->bytes.end());
  auto key = p256_public_key(out.raw);
  if (!key) return key.error();
  return out;
}

WebauthnResult<CosePublicKey> okp_key(const CborValue& map) {
  for (const auto& [label, value] : map.entries) {
    (void)value;
    if (label.kind != CborValue::Kind::integer ||
        (label.integer != kLabelKty && label.integer != kLabelAlg && label.integer != kLabelCrv &&
         label.integer != kLabelX))
      return WebauthnErrc::cose_key_malformed;  // includes d (-4)
  }
  const auto* x = bytes_at(map, kLabelX, crypto_sign_PUBLICKEYBYTES);
  if (x == nullptr) return WebauthnErrc::cose_key_malformed;
  sluis::crypto::ensure_sodium();
  // Canonical encoding, on the curve, in the main subgroup and not of small order.
  if (crypto_core_ed25519_is_valid_point(x->bytes.data()) != 1)
    return WebauthnErrc::invalid_public_key;
  CosePublicKey out;
  out.algorithm = CoseAlgorithm::eddsa;
  out.raw = x->bytes;
  return out;
}

WebauthnResult<void> verify_es256(std::span<const std::uint8_t> point,
                                  std::span<const std::uint8_t> message,
                                  std::span<const std::uint8_t> der) {
  // Strict DER: it must decode, use every byte, and be the one encoding OpenSSL writes back.
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != der.data() + der.size()) {
    drain_openssl_errors();
    return WebauthnErrc::signature_malformed;
  }
  unsigned char* again = nullptr;
  const int again_len = i2d_ECDSA_SIG(sig.get(), &again);
  const bool canonical = again_len > 0 && static_cast<std::size_t>(again_len) == der.size() &&
                         std::equal(der.begin(), der.end(), again);
  OPENSSL_free(again);
  if (!canonical) {
    drain_openssl_errors();
    return WebauthnErrc::signature_malformed;
  }
  auto key = p256_public_key(point);
  if (!key) return key.error();
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1) {
    drain_openssl_errors();
    return WebauthnErrc::crypto_failure;
  }
  const int rc = EVP_DigestVerify(md.get(), der.data(), der.size(), message.data(), message.size());
  drain_openssl_errors();
  if (rc != 1) return WebauthnErrc::signature_invalid;
  return {};
}

}  // namespace

WebauthnResult<CosePublicKey> parse_cose_key(std::span<const std::uint8_t> bytes) {
  auto map = cbor_decode(bytes);
  if (!map) return map.error();
  if (map->kind != CborValue::Kind::map) return WebauthnErrc::cose_key_malformed;
  const auto* kty = integer_at(*map, kLabelKty);
  const auto* alg = integer_at(*map, kLabelAlg);
  const auto* crv = integer_at(*map, kLabelCrv);
  // alg is required here although optional in COSE: WebAuthn L2 §6.5.1 requires it.
  if (kty == nullptr || alg == nullptr) return WebauthnErrc::cose_key_malformed;
  if (kty->integer == kKtyEc2 && alg->integer == static_cast<std::int64_t>(CoseAlgorithm::es256)) {
    if (crv == nullptr) return WebauthnErrc::cose_key_malformed;
    if (crv->integer != kCrvP256) return WebauthnErrc::unsupported_algorithm;
    return ec2_key(*map);
  }
  if (kty->integer == kKtyOkp && alg->integer == static_cast<std::int64_t>(CoseAlgorithm::eddsa)) {
    if (crv == nullptr) return WebauthnErrc::cose_key_malformed;
    if (crv->integer != kCrvEd25519) return WebauthnErrc::unsupported_algorithm;
    return okp_key(*map);
  }
  return WebauthnErrc::unsupported_algorithm;
}

WebauthnResult<void> verify_signature(const CosePublicKey& key,
                                      std::span<const std::uint8_t> message,
                                      std::span<const std::uint8_t> signature) {
  switch (key.algorithm) {
  case CoseAlgorithm::es256: return verify_es256(key.raw, message, signature);
  case CoseAlgorithm::eddsa:
    sluis::crypto::ensure_sodium();
    if (signature.size() != kEd25519SignatureBytes || key.raw.size() != crypto_sign_PUBLICKEYBYTES)
      return WebauthnErrc::signature_malformed;
    if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                    key.raw.data()) != 0)
      return WebauthnErrc::signature_invalid;
    return {};
  }
  return WebauthnErrc::unsupported_algorithm;
}

}  // namespace sluis::console
