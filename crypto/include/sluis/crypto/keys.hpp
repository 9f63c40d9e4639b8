// The key hierarchy below the root key: derived sub-keys, key-encryption keys, data keys.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/crypto/types.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sluis::crypto {

/// The 256-bit root key. Everything else is derived from it or wrapped under something that is.
using RootKey = SecretBytes<32, struct RootKeyTag>;
/// A 256-bit key derived from the root key for one purpose.
using SubKey = SecretBytes<32, struct SubKeyTag>;
/// The secret of a key-encryption key.
using KekSecret = SecretBytes<32, struct KekTag>;

/// The purposes a sub-key is derived for. Each has its own domain; values are part of the
/// derivation and must never change (docs/crypto/key-hierarchy.md, "Sub-keys").
enum class KeyPurpose : std::uint64_t {
  database = 1,                 ///< SQLCipher raw key of the main store
  keystore = 2,                 ///< SQLCipher raw key of the key store (wrapped KEKs and data keys)
  identifier_index = 3,         ///< keyed hash of normalised client identifiers
  partner_pseudonym = 4,        ///< partner-local client pseudonyms
  audit_pseudonym = 5,          ///< client pseudonyms in the audit log
  audit_signing = 6,            ///< Ed25519 seed of the audit checkpoint signer
  kek_wrapping = 7,             ///< wraps the versioned key-encryption keys at rest
  service_pseudonym_index = 8,  ///< keyed hash of anonymous service pseudonyms
  audit_store = 9,              ///< SQLCipher raw key of the audit log file
  caseload_label_index = 10,    ///< blind index of partners' own caseload labels
};

/// Derives the sub-key for `purpose` (libsodium crypto_kdf, BLAKE2b, context "sluis-v1").
/// Deterministic: same root and purpose give the same key; different purposes are independent.
[[nodiscard]] SubKey derive_subkey(const RootKey& root, KeyPurpose purpose);

/// A key-encryption key: random, versioned; wraps data keys.
struct KeyEncryptionKey {
  KekVersion version;
  KekSecret key;
  /// A fresh random KEK with the given version.
  [[nodiscard]] static KeyEncryptionKey generate(KekVersion version);
};

/// A KEK sealed under the kek_wrapping sub-key (XChaCha20-Poly1305, AD binds the version).
struct WrappedKek {
  KekVersion version;
  std::vector<std::uint8_t> blob;  ///< format byte || nonce || ciphertext || tag
};

[[nodiscard]] Result<WrappedKek> wrap_kek(const SubKey& kek_wrapping, const KeyEncryptionKey& kek);
/// Errors: truncated, unsupported_format, malformed (longer than a wrapped key),
/// authentication_failed (wrong root, tampered, version swapped).
[[nodiscard]] Result<KeyEncryptionKey> unwrap_kek(const SubKey& kek_wrapping,
                                                  const WrappedKek& wrapped);

/// Names one data key: which client, which category, which version.
struct DataKeyRef {
  ClientId client;
  std::string_view category;  ///< at most kMaxNamePart bytes
  DataKeyVersion version;
};

/// A data key sealed under a KEK. The AD binds client, category, data-key version and KEK version,
/// so a wrapped key moved to another client/category/version fails to unwrap.
struct WrappedDataKey {
  KekVersion kek_version;
  std::vector<std::uint8_t> blob;  ///< format byte || nonce || ciphertext || tag
};

/// A fresh random data key.
[[nodiscard]] DataKey generate_data_key();

/// Errors: invalid_argument (category over kMaxNamePart).
[[nodiscard]] Result<WrappedDataKey> wrap_data_key(const KeyEncryptionKey& kek,
                                                   const DataKeyRef& ref, const DataKey& key);
/// Errors: wrong_key_version (kek.version != wrapped.kek_version, checked first), truncated,
/// unsupported_format, malformed (longer than a wrapped key), invalid_argument (category over
/// kMaxNamePart), authentication_failed (tampered, wrong KEK, or moved to another client,
/// category or version).
[[nodiscard]] Result<DataKey> unwrap_data_key(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                              const WrappedDataKey& wrapped);
/// As unwrap_data_key, into a DataKey the caller already holds (e.g. a reused slot of a key
/// cache), avoiding one guarded allocation (several syscalls) per unwrap. On failure `out` is
/// zeroised. Same errors as unwrap_data_key.
[[nodiscard]] Result<void> unwrap_data_key_into(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                                const WrappedDataKey& wrapped, DataKey& out);
/// Rotation step: opens under `from`, seals under `to` with a fresh nonce. The data key itself
/// (and therefore every field ciphertext) is unchanged. Errors: those of unwrap_data_key.
[[nodiscard]] Result<WrappedDataKey> rewrap_data_key(const KeyEncryptionKey& from,
                                                     const KeyEncryptionKey& to,
                                                     const DataKeyRef& ref,
                                                     const WrappedDataKey& wrapped);

/// The set of unwrapped KEKs a running gateway holds, and which one is current.
/// Not thread-safe for mutation; readers may share a const KeyRing.
class KeyRing {
 public:
  /// Adds (or replaces) a KEK. The highest version added becomes current.
  void add(KeyEncryptionKey kek);
  /// Forgets a retired version (after every data key has been rewrapped away from it).
  void retire(KekVersion version);
  /// The KEK new data keys are wrapped under. Errc::key_not_found when empty.
  [[nodiscard]] Result<const KeyEncryptionKey*> current() const;
  [[nodiscard]] Result<const KeyEncryptionKey*> find(KekVersion version) const;
  [[nodiscard]] std::vector<KekVersion> versions() const;

 private:
  std::map<std::uint32_t, KeyEncryptionKey> keks_;
};

}  // namespace sluis::crypto
