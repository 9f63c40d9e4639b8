// Ed25519 (RFC 8032) on libsodium's crypto_sign_* functions.
#include "sluis/crypto/sign.hpp"

#include "sluis/crypto/encoding.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ostream>

namespace sluis::crypto {
namespace {

static_assert(crypto_sign_SEEDBYTES == kEd25519SeedSize);
static_assert(crypto_sign_PUBLICKEYBYTES == kEd25519PublicKeySize);
static_assert(crypto_sign_BYTES == kEd25519SignatureSize);
static_assert(crypto_sign_SECRETKEYBYTES == 64);

[[noreturn]] void fatal(const char* what) noexcept {
  std::fprintf(stderr, "sluis: %s (libsodium invariant broken)\n", what);
  std::abort();
}

const unsigned char* bytes_of(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Result<VerifyingKey> VerifyingKey::from_bytes(std::span<const std::uint8_t> bytes) {
  ensure_sodium();
  if (bytes.size() != kSize) return Errc::malformed;
  // Rejects non-canonical encodings, points off the curve, small-order points and points
  // outside the prime-order subgroup: no public key produced by RFC 8032 §5.1.5 is any of those.
  if (crypto_core_ed25519_is_valid_point(bytes.data()) != 1) return Errc::malformed;
  VerifyingKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

Result<VerifyingKey> VerifyingKey::from_base64(std::string_view text) {
  // Strict standard base64 of exactly 32 bytes; re-encoding makes "canonical" explicit (one
  // accepted spelling per key).
  std::array<std::uint8_t, kSize> raw{};
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(raw.data(), raw.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size() || len != raw.size() || crypto::to_base64(raw) != text) {
    return Errc::malformed;
  }
  return from_bytes(raw);
}

std::string VerifyingKey::to_base64() const {
  return crypto::to_base64(bytes_);
}

Result<void> VerifyingKey::verify(std::span<const std::uint8_t> message,
                                  std::span<const std::uint8_t> signature) const noexcept {
  ensure_sodium();
  if (signature.size() != kEd25519SignatureSize) return Errc::bad_signature;
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  bytes_.data()) != 0) {
    return Errc::bad_signature;
  }
  return {};
}

Result<void> VerifyingKey::verify(std::string_view message,
                                  std::span<const std::uint8_t> signature) const noexcept {
  return verify(std::span<const std::uint8_t>(bytes_of(message), message.size()), signature);
}

std::ostream& operator<<(std::ostream& os, const VerifyingKey& key) {
  return os << key.to_base64();
}

SigningKey SigningKey::from_subkey(const SubKey& seed) {
  static_assert(SubKey::size() == kEd25519SeedSize);
  return from_seed(SecretBytes<kEd25519SeedSize>::copy_of(seed.reveal()));
}

SigningKey SigningKey::from_seed(SecretBytes<kEd25519SeedSize> seed) {
  ensure_sodium();
  SecretBytes<64> expanded;
  VerifyingKey pub;
  if (crypto_sign_seed_keypair(pub.bytes_.data(), expanded.reveal_mut().data(),
                               seed.reveal().data()) != 0) {
    fatal("crypto_sign_seed_keypair failed");
  }
  return SigningKey(std::move(seed), std::move(expanded), pub);
}

SigningKey SigningKey::generate() {
  return from_seed(SecretBytes<kEd25519SeedSize>::random());
}

Signature SigningKey::sign(std::span<const std::uint8_t> message) const noexcept {
  Signature sig{};
  unsigned long long sig_len = 0;
  if (crypto_sign_detached(sig.data(), &sig_len, message.data(), message.size(),
                           expanded_.reveal().data()) != 0 ||
      sig_len != sig.size()) {
    fatal("crypto_sign_detached failed");
  }
  return sig;
}

Signature SigningKey::sign(std::string_view message) const noexcept {
  return sign(std::span<const std::uint8_t>(bytes_of(message), message.size()));
}

std::ostream& operator<<(std::ostream& os, const SigningKey&) {
  return detail::print_redacted(os, kEd25519SeedSize);
}

}  // namespace sluis::crypto
