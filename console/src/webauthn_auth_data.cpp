// authenticatorData (WebAuthn L2 §6.1, attested credential data §6.5.1): a fixed 37-byte head,
// then optional parts announced by the flags, then nothing.
#include "sluis/console/webauthn.hpp"

#include <algorithm>

namespace sluis::console {
namespace {

constexpr std::uint8_t kFlagUp = 0x01;
constexpr std::uint8_t kFlagReserved1 = 0x02;
constexpr std::uint8_t kFlagUv = 0x04;
constexpr std::uint8_t kFlagBe = 0x08;
constexpr std::uint8_t kFlagBs = 0x10;
constexpr std::uint8_t kFlagReserved5 = 0x20;
constexpr std::uint8_t kFlagAt = 0x40;
constexpr std::uint8_t kFlagEd = 0x80;

constexpr std::size_t kHeadBytes = kRpIdHashBytes + 1 + 4;  // rpIdHash, flags, signCount

}  // namespace

WebauthnResult<AuthenticatorData> parse_authenticator_data(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeadBytes || bytes.size() > kMaxAuthenticatorDataBytes)
    return WebauthnErrc::auth_data_malformed;
  AuthenticatorData out;
  std::copy_n(bytes.begin(), kRpIdHashBytes, out.rp_id_hash.begin());
  const std::uint8_t flags = bytes[kRpIdHashBytes];
  // Reserved bits must be zero; a backed-up credential must be backup-eligible (§6.1, BS/BE).
  if ((flags & (kFlagReserved1 | kFlagReserved5)) != 0) return WebauthnErrc::auth_data_malformed;
  if ((flags & kFlagBs) != 0 && (flags & kFlagBe) == 0) return WebauthnErrc::auth_data_malformed;
  out.flags.user_present = (flags & kFlagUp) != 0;
  out.flags.user_verified = (flags & kFlagUv) != 0;
  out.flags.backup_eligible = (flags & kFlagBe) != 0;
  out.flags.backup_state = (flags & kFlagBs) != 0;
  out.flags.attested_credential_data = (flags & kFlagAt) != 0;
  out.flags.extension_data = (flags & kFlagEd) != 0;
  // signCount: 32-bit unsigned big-endian.
  out.sign_count = (std::uint32_t{bytes[33]} << 24U) | (std::uint32_t{bytes[34]} << 16U) |
                   (std::uint32_t{bytes[35]} << 8U) | std::uint32_t{bytes[36]};

  auto rest = bytes.subspan(kHeadBytes);
  if (out.flags.attested_credential_data) {
    // aaguid (16), credentialIdLength (2, big-endian), credentialId, credentialPublicKey (COSE).
    if (rest.size() < kAaguidBytes + 2) return WebauthnErrc::auth_data_malformed;
    AttestedCredential cred;
    std::copy_n(rest.begin(), kAaguidBytes, cred.aaguid.begin());
    const std::size_t id_len =
        (std::size_t{rest[kAaguidBytes]} << 8U) | std::size_t{rest[kAaguidBytes + 1]};
    rest = rest.subspan(kAaguidBytes + 2);
    if (id_len == 0 || id_len > kMaxCredentialIdBytes || id_len > rest.size())
      return WebauthnErrc::auth_data_malformed;
    cred.credential_id.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(id_len));
    rest = rest.subspan(id_len);
    // The key is a CBOR item of unknown length: decode it to find where it ends.
    std::size_t used = 0;
    auto key = cbor_decode_prefix(rest, used);
    if (!key) return key.error();
    if (key->kind != CborValue::Kind::map) return WebauthnErrc::cose_key_malformed;
    cred.cose_key.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(used));
    rest = rest.subspan(used);
    out.attested = std::move(cred);
  }
  if (out.flags.extension_data) {
    std::size_t used = 0;
    auto ext = cbor_decode_prefix(rest, used);
    if (!ext) return ext.error();
    if (ext->kind != CborValue::Kind::map) return WebauthnErrc::auth_data_malformed;
    rest = rest.subspan(used);
    out.extensions = std::move(*ext);
  }
  if (!rest.empty()) return WebauthnErrc::auth_data_malformed;
  return out;
}

}  // namespace sluis::console
