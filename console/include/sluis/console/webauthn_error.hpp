// Error codes of the console's WebAuthn relying party ("sluis.webauthn"): one per refusal.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace sluis::console {

/// Every way a WebAuthn ceremony (or one of its parsing steps) can be refused. Each refusal has
/// its own value so that a caller can record exactly what failed (sign_count_regression must be
/// recorded as a possible cloned authenticator). Values are stable; messages are fixed sentences
/// that never carry bytes from the input.
enum class WebauthnErrc {
  // CBOR (RFC 8949), the subset WebAuthn uses.
  cbor_truncated = 1,          ///< the bytes end inside an item (or a length exceeds the input)
  cbor_trailing_bytes = 2,     ///< bytes follow the single top-level item
  cbor_indefinite_length = 3,  ///< an indefinite-length string, array or map (or a "break")
  cbor_duplicate_key = 4,      ///< a map has the same key twice
  cbor_too_large = 5,          ///< a string or container is longer than the decoder's limits
  cbor_too_deep = 6,           ///< containers nested deeper than the decoder's limit
  cbor_unsupported = 7,        ///< a tag, float, simple value or integer outside int64
  cbor_bad_key = 8,            ///< a map key that is neither an integer nor a text string
  cbor_invalid_utf8 = 9,       ///< a text string that is not valid UTF-8
  // attestationObject (WebAuthn L2 §6.5).
  attestation_malformed = 10,          ///< not a map of fmt, attStmt and authData
  unsupported_attestation = 11,        ///< fmt is not "none"
  attestation_statement_present = 12,  ///< fmt "none" with a non-empty attStmt
  // authenticatorData (§6.1).
  auth_data_malformed = 13,         ///< too short, bad lengths or bytes after its end
  missing_credential_data = 14,     ///< registration without attested credential data (AT flag)
  unexpected_credential_data = 15,  ///< an assertion carrying attested credential data
  rp_id_mismatch = 16,              ///< rpIdHash is not SHA-256 of the relying party's id
  user_not_present = 17,            ///< the UP flag is not set
  user_not_verified = 18,           ///< the UV flag is not set (user verification is required)
  // clientDataJSON (§5.8.1).
  client_data_malformed = 19,  ///< not one JSON object with string type, challenge and origin
  wrong_type = 20,             ///< type is not webauthn.create / webauthn.get as expected
  challenge_mismatch = 21,     ///< challenge is not the base64url of the expected challenge
  origin_mismatch = 22,        ///< origin is not exactly the console's origin
  cross_origin = 23,           ///< crossOrigin is present and not false
  // Credential public key (COSE_Key, RFC 9052 §7, RFC 9053 §2).
  cose_key_malformed = 24,     ///< missing or mistyped kty, alg, crv, x or y
  unsupported_algorithm = 25,  ///< not ES256 on P-256 nor EdDSA on Ed25519
  invalid_public_key = 26,     ///< a P-256 point off the curve, or an unusable Ed25519 key
  // Signature and state.
  signature_malformed = 27,    ///< not a strict DER ECDSA signature / not 64 bytes for Ed25519
  signature_invalid = 28,      ///< the signature does not verify
  sign_count_regression = 29,  ///< the signature counter did not increase: possible clone
  credential_mismatch = 30,    ///< the response names another credential than the stored one
  invalid_argument = 31,       ///< a caller-supplied value is unusable (empty rp id, challenge)
  crypto_failure = 32,  ///< OpenSSL failed for a reason other than the input (detail withheld)
};

/// The error category of the WebAuthn relying party ("sluis.webauthn").
[[nodiscard]] const boost::system::error_category& webauthn_category() noexcept;

[[nodiscard]] boost::system::error_code make_error_code(WebauthnErrc e) noexcept;

/// The stable name of an error (the enumerator's spelling, as used by the test vectors).
[[nodiscard]] const char* webauthn_errc_name(WebauthnErrc e) noexcept;

template <class T> using WebauthnResult = boost::system::result<T>;

}  // namespace sluis::console

template <>
struct boost::system::is_error_code_enum<sluis::console::WebauthnErrc> : std::true_type {};
