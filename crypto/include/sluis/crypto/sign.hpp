// Ed25519 signing and verifying keys (RFC 8032, libsodium) for the audit log's checkpoints.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/secret.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace sluis::crypto {

inline constexpr std::size_t kEd25519SeedSize = 32;
inline constexpr std::size_t kEd25519PublicKeySize = 32;
inline constexpr std::size_t kEd25519SignatureSize = 64;

/// A detached Ed25519 signature (R || S, 64 bytes).
using Signature = std::array<std::uint8_t, kEd25519SignatureSize>;

/// An Ed25519 public key. Not secret: comparable, printable (standard base64), copyable.
///
/// Promises: a VerifyingKey always holds a canonical encoding of a point of the prime-order
/// subgroup (checked when parsed), so no "weak" or small-order key can be loaded.
/// Thread rules: immutable; any number of threads may verify with one key concurrently.
class VerifyingKey {
 public:
  static constexpr std::size_t kSize = kEd25519PublicKeySize;

  /// Parses 32 raw bytes. Errc::malformed when the length is not 32 or the bytes are not a
  /// canonical, non-small-order curve point.
  [[nodiscard]] static Result<VerifyingKey> from_bytes(std::span<const std::uint8_t> bytes);
  /// Parses strict standard base64 of the 32 raw bytes. Errc::malformed otherwise.
  [[nodiscard]] static Result<VerifyingKey> from_base64(std::string_view text);

  [[nodiscard]] const std::array<std::uint8_t, kSize>& bytes() const noexcept { return bytes_; }
  /// Standard padded base64 of the 32 bytes (44 characters).
  [[nodiscard]] std::string to_base64() const;

  /// Checks a detached signature over `message` (RFC 8032 §5.1.7, libsodium's strict variant:
  /// non-canonical S and small-order R are rejected). Errc::bad_signature when the signature does
  /// not verify or is not exactly 64 bytes.
  [[nodiscard]] Result<void> verify(std::span<const std::uint8_t> message,
                                    std::span<const std::uint8_t> signature) const noexcept;
  /// Same, over the bytes of a text.
  [[nodiscard]] Result<void> verify(std::string_view message,
                                    std::span<const std::uint8_t> signature) const noexcept;

  friend bool operator==(const VerifyingKey&, const VerifyingKey&) = default;
  /// Prints the base64 form.
  friend std::ostream& operator<<(std::ostream& os, const VerifyingKey& key);

 private:
  VerifyingKey() = default;
  friend class SigningKey;
  std::array<std::uint8_t, kSize> bytes_{};
};

/// An Ed25519 signing key: the 32-byte seed and libsodium's expanded 64-byte secret, both in
/// guarded memory (SecretBytes), plus the public half.
///
/// Promises: move-only; secrets are zeroised on destruction and never printed (streaming prints
/// `<redacted:32B>`); signing is deterministic (RFC 8032), so equal seed and message give equal
/// signatures. The gateway builds its audit signer with
/// `SigningKey::from_subkey(derive_subkey(root, KeyPurpose::audit_signing))`.
/// Thread rules: sign() is const and may be called from many threads at once. Using a moved-from
/// key aborts (a programming error).
class SigningKey {
 public:
  /// Derives the key pair from a 32-byte seed (RFC 8032 §5.1.5). Takes ownership of the seed.
  [[nodiscard]] static SigningKey from_seed(SecretBytes<kEd25519SeedSize> seed);
  /// The key pair whose seed is a sub-key of the root key (the gateway's audit signer: a sub-key
  /// derived for KeyPurpose::audit_signing). The sub-key's bytes are copied into the signer's own
  /// guarded seed; the caller's sub-key is left as it is.
  [[nodiscard]] static SigningKey from_subkey(const SubKey& seed);
  /// A fresh key from the CSPRNG (tests, tools; the gateway derives its key from the root key).
  [[nodiscard]] static SigningKey generate();

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() = default;

  [[nodiscard]] const VerifyingKey& verifying_key() const noexcept { return public_; }

  /// Signs `message` (RFC 8032 §5.1.6). Cannot fail.
  [[nodiscard]] Signature sign(std::span<const std::uint8_t> message) const noexcept;
  /// Signs the bytes of a text.
  [[nodiscard]] Signature sign(std::string_view message) const noexcept;

  /// Prints `<redacted:32B>`, never the seed.
  friend std::ostream& operator<<(std::ostream& os, const SigningKey& key);

 private:
  SigningKey(SecretBytes<kEd25519SeedSize> seed, SecretBytes<64> expanded, VerifyingKey pub)
      : seed_(std::move(seed)), expanded_(std::move(expanded)), public_(pub) {}

  SecretBytes<kEd25519SeedSize> seed_;
  SecretBytes<64> expanded_;  ///< libsodium's secret key: seed || public key
  VerifyingKey public_;
};

}  // namespace sluis::crypto
