// The "sluis.webauthn" error category: fixed messages and stable names.
#include "sluis/console/webauthn_error.hpp"

#include <string>

namespace sluis::console {
namespace {

class WebauthnCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.webauthn"; }

  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<WebauthnErrc>(ev)) {
    case WebauthnErrc::cbor_truncated: return "CBOR input ends inside an item";
    case WebauthnErrc::cbor_trailing_bytes: return "bytes follow the CBOR item";
    case WebauthnErrc::cbor_indefinite_length: return "indefinite-length CBOR is not accepted";
    case WebauthnErrc::cbor_duplicate_key: return "a CBOR map repeats a key";
    case WebauthnErrc::cbor_too_large: return "a CBOR string or container exceeds the limits";
    case WebauthnErrc::cbor_too_deep: return "CBOR nested too deeply";
    case WebauthnErrc::cbor_unsupported: return "unsupported CBOR item";
    case WebauthnErrc::cbor_bad_key: return "a CBOR map key is neither an integer nor text";
    case WebauthnErrc::cbor_invalid_utf8: return "a CBOR text string is not valid UTF-8";
    case WebauthnErrc::attestation_malformed: return "malformed attestation object";
    case WebauthnErrc::unsupported_attestation: return "attestation format is not \"none\"";
    case WebauthnErrc::attestation_statement_present:
      return "attestation \"none\" with a non-empty statement";
    case WebauthnErrc::auth_data_malformed: return "malformed authenticator data";
    case WebauthnErrc::missing_credential_data:
      return "registration without attested credential data";
    case WebauthnErrc::unexpected_credential_data: return "assertion with attested credential data";
    case WebauthnErrc::rp_id_mismatch: return "authenticator data is for another relying party";
    case WebauthnErrc::user_not_present: return "user presence flag not set";
    case WebauthnErrc::user_not_verified: return "user verification flag not set";
    case WebauthnErrc::client_data_malformed: return "malformed client data";
    case WebauthnErrc::wrong_type: return "client data has the wrong ceremony type";
    case WebauthnErrc::challenge_mismatch: return "client data challenge does not match";
    case WebauthnErrc::origin_mismatch: return "client data origin does not match";
    case WebauthnErrc::cross_origin: return "ceremony ran in a cross-origin frame";
    case WebauthnErrc::cose_key_malformed: return "malformed COSE public key";
    case WebauthnErrc::unsupported_algorithm: return "unsupported public key algorithm";
    case WebauthnErrc::invalid_public_key: return "public key is not a valid point";
    case WebauthnErrc::signature_malformed: return "malformed signature";
    case WebauthnErrc::signature_invalid: return "signature does not verify";
    case WebauthnErrc::sign_count_regression:
      return "signature counter did not increase (possible cloned authenticator)";
    case WebauthnErrc::credential_mismatch: return "response names another credential";
    case WebauthnErrc::invalid_argument: return "invalid argument";
    case WebauthnErrc::crypto_failure: return "cryptographic library failure";
    }
    return "unknown webauthn error";
  }
};

}  // namespace

const boost::system::error_category& webauthn_category() noexcept {
  static const WebauthnCategory category;
  return category;
}

boost::system::error_code make_error_code(WebauthnErrc e) noexcept {
  return {static_cast<int>(e), webauthn_category()};
}

const char* webauthn_errc_name(WebauthnErrc e) noexcept {
  switch (e) {
  case WebauthnErrc::cbor_truncated: return "cbor_truncated";
  case WebauthnErrc::cbor_trailing_bytes: return "cbor_trailing_bytes";
  case WebauthnErrc::cbor_indefinite_length: return "cbor_indefinite_length";
  case WebauthnErrc::cbor_duplicate_key: return "cbor_duplicate_key";
  case WebauthnErrc::cbor_too_large: return "cbor_too_large";
  case WebauthnErrc::cbor_too_deep: return "cbor_too_deep";
  case WebauthnErrc::cbor_unsupported: return "cbor_unsupported";
  case WebauthnErrc::cbor_bad_key: return "cbor_bad_key";
  case WebauthnErrc::cbor_invalid_utf8: return "cbor_invalid_utf8";
  case WebauthnErrc::attestation_malformed: return "attestation_malformed";
  case WebauthnErrc::unsupported_attestation: return "unsupported_attestation";
  case WebauthnErrc::attestation_statement_present: return "attestation_statement_present";
  case WebauthnErrc::auth_data_malformed: return "auth_data_malformed";
  case WebauthnErrc::missing_credential_data: return "missing_credential_data";
  case WebauthnErrc::unexpected_credential_data: return "unexpected_credential_data";
  case WebauthnErrc::rp_id_mismatch: return "rp_id_mismatch";
  case WebauthnErrc::user_not_present: return "user_not_present";
  case WebauthnErrc::user_not_verified: return "user_not_verified";
  case WebauthnErrc::client_data_malformed: return "client_data_malformed";
  case WebauthnErrc::wrong_type: return "wrong_type";
  case WebauthnErrc::challenge_mismatch: return "challenge_mismatch";
  case WebauthnErrc::origin_mismatch: return "origin_mismatch";
  case WebauthnErrc::cross_origin: return "cross_origin";
  case WebauthnErrc::cose_key_malformed: return "cose_key_malformed";
  case WebauthnErrc::unsupported_algorithm: return "unsupported_algorithm";
  case WebauthnErrc::invalid_public_key: return "invalid_public_key";
  case WebauthnErrc::signature_malformed: return "signature_malformed";
  case WebauthnErrc::signature_invalid: return "signature_invalid";
  case WebauthnErrc::sign_count_regression: return "sign_count_regression";
  case WebauthnErrc::credential_mismatch: return "credential_mismatch";
  case WebauthnErrc::invalid_argument: return "invalid_argument";
  case WebauthnErrc::crypto_failure: return "crypto_failure";
  }
  return "unknown";
}

}  // namespace sluis::console
