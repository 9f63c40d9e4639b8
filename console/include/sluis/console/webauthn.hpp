// The console's WebAuthn relying party (W3C WebAuthn Level 2 §7): passkey registration with
// attestation "none" and authentication assertions, ES256 (P-256) and EdDSA (Ed25519) only,
// user verification always required.
//
// Operations, not classes: verify_registration and verify_assertion take the bytes the browser
// sent plus what the console stored, and either return what to store next or a WebauthnErrc that
// names the one check that failed. Nothing here keeps state, touches the network or a clock:
// challenges are made, remembered and expired by the caller (single use, short-lived), and the
// caller records sign_count_regression as a possible cloned authenticator.
//
// The parsing steps are public so that the unit tests and the fuzzer can drive them directly.
// Thread safety: every function is reentrant.
#pragma once

#include "sluis/console/cbor.hpp"
#include "sluis/console/webauthn_error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluis::console {

/// COSE algorithm identifiers the console accepts (IANA COSE Algorithms; RFC 9053 §2.1, §2.2).
enum class CoseAlgorithm : std::int64_t {
  es256 = -7,  ///< ECDSA with SHA-256 on P-256 (kty EC2 = 2, crv P-256 = 1)
  eddsa = -8,  ///< EdDSA on Ed25519 (kty OKP = 1, crv Ed25519 = 6)
};

inline constexpr std::size_t kRpIdHashBytes = 32;
inline constexpr std::size_t kAaguidBytes = 16;
/// WebAuthn L2 §5.8.3: a credential id is at most 1023 bytes.
inline constexpr std::size_t kMaxCredentialIdBytes = 1023;
/// Upper bounds on what the browser may send (far above any real authenticator's output).
inline constexpr std::size_t kMaxClientDataBytes = 8192;
inline constexpr std::size_t kMaxAuthenticatorDataBytes = 4096;
inline constexpr std::size_t kMaxAttestationObjectBytes = 8192;

/// The flags byte of authenticatorData (§6.1).
struct AuthenticatorFlags {
  bool user_present = false;              ///< UP, bit 0
  bool user_verified = false;             ///< UV, bit 2
  bool backup_eligible = false;           ///< BE, bit 3
  bool backup_state = false;              ///< BS, bit 4
  bool attested_credential_data = false;  ///< AT, bit 6
  bool extension_data = false;            ///< ED, bit 7
};

/// Attested credential data (§6.5.1): present only in a registration's authenticatorData.
struct AttestedCredential {
  std::array<std::uint8_t, kAaguidBytes> aaguid{};
  std::vector<std::uint8_t> credential_id;  ///< 1..kMaxCredentialIdBytes bytes
  std::vector<std::uint8_t> cose_key;       ///< the credential public key, as its COSE_Key bytes
};

/// authenticatorData (§6.1), parsed but not yet checked against a relying party.
struct AuthenticatorData {
  std::array<std::uint8_t, kRpIdHashBytes> rp_id_hash{};
  AuthenticatorFlags flags;
  std::uint32_t sign_count = 0;
  std::optional<AttestedCredential> attested;  ///< exactly when flags.attested_credential_data
  std::optional<CborValue> extensions;         ///< exactly when flags.extension_data (a CBOR map)
};

/// Parses authenticatorData strictly: the fixed 37 bytes, then attested credential data when AT
/// is set (its COSE key decoded to find its end), then an extensions map when ED is set, then
/// nothing. Reserved flag bits (1 and 5) must be zero and BS requires BE. Refusals:
/// auth_data_malformed, or the CBOR error of the embedded key / extensions.
[[nodiscard]] WebauthnResult<AuthenticatorData>
parse_authenticator_data(std::span<const std::uint8_t> bytes);

/// The members of CollectedClientData (§5.8.1) the relying party checks.
struct ClientData {
  std::string type;
  std::string challenge;  ///< base64url text, as the browser wrote it
  std::string origin;
  std::optional<bool> cross_origin;
  std::optional<std::string> top_origin;
};

/// Parses clientDataJSON as one strict JSON object (RFC 8259): valid UTF-8, no duplicate member
/// names, at most kMaxClientDataBytes, type / challenge / origin strings present, crossOrigin a
/// boolean if present. Unknown members are allowed (browsers add some). Refusal:
/// client_data_malformed.
[[nodiscard]] WebauthnResult<ClientData> parse_client_data(std::span<const std::uint8_t> bytes);

/// A credential public key checked for use: the algorithm and its raw key (65-byte uncompressed
/// SEC1 point for ES256, 32 bytes for EdDSA).
struct CosePublicKey {
  CoseAlgorithm algorithm = CoseAlgorithm::es256;
  std::vector<std::uint8_t> raw;
};

/// Parses a COSE_Key (RFC 9052 §7) holding an ES256 or Ed25519 public key and nothing else (no
/// private part, no unknown labels). The P-256 point must lie on the curve and the Ed25519 point
/// must be canonical and not of small order. Refusals: the CBOR errors, cose_key_malformed,
/// unsupported_algorithm, invalid_public_key.
[[nodiscard]] WebauthnResult<CosePublicKey> parse_cose_key(std::span<const std::uint8_t> bytes);

/// Verifies `signature` over `message` under `key`: a strict DER ECDSA signature with SHA-256,
/// or a 64-byte Ed25519 signature. Refusals: signature_malformed, signature_invalid.
[[nodiscard]] WebauthnResult<void> verify_signature(const CosePublicKey& key,
                                                    std::span<const std::uint8_t> message,
                                                    std::span<const std::uint8_t> signature);

/// The console as a WebAuthn relying party.
struct RelyingParty {
  std::string id;  ///< the RP ID, e.g. "console.example.org" (a registrable domain suffix)
  std::string
      origin;  ///< the exact origin pages are served from, e.g. "https://console.example.org"
};

/// What the browser returns from navigator.credentials.create() (already base64url-decoded).
struct RegistrationResponse {
  std::span<const std::uint8_t> credential_id;  ///< rawId
  std::span<const std::uint8_t> client_data_json;
  std::span<const std::uint8_t> attestation_object;
};

/// What the console stores for a newly registered passkey.
struct RegisteredCredential {
  std::vector<std::uint8_t> credential_id;
  std::vector<std::uint8_t> cose_key;  ///< exactly as the authenticator sent it
  CoseAlgorithm algorithm = CoseAlgorithm::es256;
  std::uint32_t sign_count = 0;
  std::array<std::uint8_t, kAaguidBytes> aaguid{};
  bool backup_eligible = false;
  bool backup_state = false;
};

/// Verifies a registration ceremony (§7.1) for the challenge the console issued: clientData type
/// "webauthn.create", challenge, origin and crossOrigin; attestationObject with fmt "none" and an
/// empty attStmt; rpIdHash, UP and UV; attested credential data whose id equals rawId and whose
/// key parses (parse_cose_key). Precondition: `challenge` non-empty, `rp` fields non-empty
/// (invalid_argument otherwise).
[[nodiscard]] WebauthnResult<RegisteredCredential>
verify_registration(const RelyingParty& rp, std::span<const std::uint8_t> challenge,
                    const RegistrationResponse& response);

/// What the console has stored for a credential (from RegisteredCredential and later assertions).
struct StoredCredential {
  std::span<const std::uint8_t> credential_id;
  std::span<const std::uint8_t> cose_key;
  std::uint32_t sign_count = 0;
};

/// What the browser returns from navigator.credentials.get() (already base64url-decoded).
struct AssertionResponse {
  std::span<const std::uint8_t> credential_id;  ///< rawId
  std::span<const std::uint8_t> client_data_json;
  std::span<const std::uint8_t> authenticator_data;
  std::span<const std::uint8_t> signature;
};

/// What changes after a verified assertion: store sign_count as the credential's new counter.
struct VerifiedAssertion {
  std::uint32_t sign_count = 0;
  bool backup_state = false;
};

/// Verifies an authentication assertion (§7.2) against the stored credential: rawId equals the
/// stored id; clientData type "webauthn.get", challenge, origin, crossOrigin; authenticatorData
/// without attested credential data, rpIdHash, UP, UV; the signature over
/// authenticatorData || SHA-256(clientDataJSON); then the counter: when the new or the stored
/// count is non-zero, the new one must be greater (§6.1.1), else sign_count_regression (checked
/// after the signature, so only a genuine authenticator response can report a clone).
[[nodiscard]] WebauthnResult<VerifiedAssertion>
verify_assertion(const RelyingParty& rp, std::span<const std::uint8_t> challenge,
                 const StoredCredential& credential, const AssertionResponse& response);

}  // namespace sluis::console
