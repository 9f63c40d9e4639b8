// The two relying-party ceremonies of WebAuthn Level 2: registering a new credential (§7.1) and
// verifying an authentication assertion (§7.2), step by step in the specification's order.
#include "sluis/console/webauthn.hpp"

#include "sluis/console/base64url.hpp"
#include "sluis/crypto/secret.hpp"

#include <sodium.h>

#include <algorithm>

namespace sluis::console {
namespace {

constexpr std::string_view kTypeCreate = "webauthn.create";
constexpr std::string_view kTypeGet = "webauthn.get";

bool valid_relying_party(const RelyingParty& rp, std::span<const std::uint8_t> challenge) {
  return !rp.id.empty() && !rp.origin.empty() && !challenge.empty();
}

std::array<std::uint8_t, crypto_hash_sha256_BYTES> sha256(std::span<const std::uint8_t> bytes) {
  sluis::crypto::ensure_sodium();
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

bool same_bytes(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Steps 7-10 of §7.1 and 11-14 of §7.2: the client data is for this ceremony, this challenge and
// this origin, and was not collected inside a cross-origin frame. The challenge is compared as
// text against our own encoding, so any other spelling of the same bytes (padding, standard
// base64) is refused too.
WebauthnResult<void> check_client_data(const ClientData& cd, std::string_view type,
                                       const RelyingParty& rp,
                                       std::span<const std::uint8_t> challenge) {
  if (cd.type != type) return WebauthnErrc::wrong_type;
  const std::string expected = base64url_encode(challenge);
  if (cd.challenge.size() != expected.size() ||
      sodium_memcmp(cd.challenge.data(), expected.data(), expected.size()) != 0)
    return WebauthnErrc::challenge_mismatch;
  if (cd.origin != rp.origin) return WebauthnErrc::origin_mismatch;
  if (cd.cross_origin.value_or(false) || cd.top_origin.has_value())
    return WebauthnErrc::cross_origin;
  return {};
}

// Steps 13-15 of §7.1 and 15-17 of §7.2.
WebauthnResult<void> check_auth_data(const AuthenticatorData& ad, const RelyingParty& rp) {
  const auto rp_hash = sha256({reinterpret_cast<const std::uint8_t*>(rp.id.data()), rp.id.size()});
  if (!same_bytes(ad.rp_id_hash, rp_hash)) return WebauthnErrc::rp_id_mismatch;
  if (!ad.flags.user_present) return WebauthnErrc::user_not_present;
  if (!ad.flags.user_verified) return WebauthnErrc::user_not_verified;
  return {};
}

struct Attestation {
  std::string fmt;
  std::vector<std::uint8_t> auth_data;
};

// §6.5 / §7.1 step 12: {"fmt": text, "attStmt": map, "authData": bytes} and nothing else; with
// fmt "none" (§8.7) the statement is the empty map.
WebauthnResult<Attestation> parse_attestation(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kMaxAttestationObjectBytes) return WebauthnErrc::cbor_too_large;
  auto obj = cbor_decode(bytes);
  if (!obj) return obj.error();
  if (obj->kind != CborValue::Kind::map || obj->entries.size() != 3)
    return WebauthnErrc::attestation_malformed;
  const auto* fmt = obj->find("fmt");
  const auto* stmt = obj->find("attStmt");
  const auto* auth = obj->find("authData");
  if (fmt == nullptr || fmt->kind != CborValue::Kind::text || stmt == nullptr ||
      stmt->kind != CborValue::Kind::map || auth == nullptr || auth->kind != CborValue::Kind::bytes)
    return WebauthnErrc::attestation_malformed;
  if (fmt->text != "none") return WebauthnErrc::unsupported_attestation;
  if (!stmt->entries.empty()) return WebauthnErrc::attestation_statement_present;
  return Attestation{fmt->text, auth->bytes};
}

}  // namespace

WebauthnResult<RegisteredCredential> verify_registration(const RelyingParty& rp,
                                                         std::span<const std::uint8_t> challenge,
                                                         const RegistrationResponse& response) {
  if (!valid_relying_party(rp, challenge)) return WebauthnErrc::invalid_argument;
  auto cd = parse_client_data(response.client_data_json);
  if (!cd) return cd.error();
  if (auto ok = check_client_data(*cd, kTypeCreate, rp, challenge); !ok) return ok.error();

  auto attestation = parse_attestation(response.attestation_object);
  if (!attestation) return attestation.error();
  auto ad = parse_authenticator_data(attestation->auth_data);
  if (!ad) return ad.error();
  if (auto ok = check_auth_data(*ad, rp); !ok) return ok.error();
  if (!ad->attested) return WebauthnErrc::missing_credential_data;
  // Step 16: the key's algorithm is one we asked for (parse_cose_key accepts only those two).
  auto key = parse_cose_key(ad->attested->cose_key);
  if (!key) return key.error();
  if (!same_bytes(ad->attested->credential_id, response.credential_id))
    return WebauthnErrc::credential_mismatch;

  RegisteredCredential out;
  out.credential_id = std::move(ad->attested->credential_id);
  out.cose_key = std::move(ad->attested->cose_key);
  out.algorithm = key->algorithm;
  out.sign_count = ad->sign_count;
  out.aaguid = ad->attested->aaguid;
  out.backup_eligible = ad->flags.backup_eligible;
  out.backup_state = ad->flags.backup_state;
  return out;
}

WebauthnResult<VerifiedAssertion> verify_assertion(const RelyingParty& rp,
                                                   std::span<const std::uint8_t> challenge,
                                                   const StoredCredential& credential,
                                                   const AssertionResponse& response) {
  if (!valid_relying_party(rp, challenge) || credential.credential_id.empty())
    return WebauthnErrc::invalid_argument;
  // Step 5-6: the credential is the one the caller looked up.
  if (!same_bytes(credential.credential_id, response.credential_id))
    return WebauthnErrc::credential_mismatch;
  auto key = parse_cose_key(credential.cose_key);
  if (!key) return key.error();

  auto cd = parse_client_data(response.client_data_json);
  if (!cd) return cd.error();
  if (auto ok = check_client_data(*cd, kTypeGet, rp, challenge); !ok) return ok.error();

  auto ad = parse_authenticator_data(response.authenticator_data);
  if (!ad) return ad.error();
  if (auto ok = check_auth_data(*ad, rp); !ok) return ok.error();
  if (ad->attested) return WebauthnErrc::unexpected_credential_data;

  // Steps 19-20: the signature covers authenticatorData || SHA-256(clientDataJSON).
  const auto client_hash = sha256(response.client_data_json);
  std::vector<std::uint8_t> signed_bytes(response.authenticator_data.begin(),
                                         response.authenticator_data.end());
  signed_bytes.insert(signed_bytes.end(), client_hash.begin(), client_hash.end());
  if (auto ok = verify_signature(*key, signed_bytes, response.signature); !ok) return ok.error();

  // Step 21 (§6.1.1): a counter that is in use must grow. An authenticator without a counter
  // keeps it at zero and so does the stored value.
  if ((ad->sign_count != 0 || credential.sign_count != 0) &&
      ad->sign_count <= credential.sign_count)
    return WebauthnErrc::sign_count_regression;
  return VerifiedAssertion{ad->sign_count, ad->flags.backup_state};
}

}  // namespace sluis::console
