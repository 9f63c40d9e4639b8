// The key journal: new data keys sealed to a key-store snapshot's public key (docs/store.md).
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/secret.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sluis::crypto {

/// X25519 public key of one key-store snapshot: journal entries are sealed to it.
using JournalPublicKey = std::array<std::uint8_t, 32>;
/// Its secret half. It lives only inside that snapshot (wrapped under the kek_wrapping sub-key);
/// the live key store never keeps it, so a data backup's journal opens only with the snapshot.
using JournalSecretKey = SecretBytes<32>;

/// Bytes of one sealed journal entry (crypto_box_seal of format byte, data key and binding).
inline constexpr std::size_t kJournalEntrySize = 1 + 32 + 32 + 48;

/// A fresh X25519 key pair for a new snapshot.
struct JournalKeyPair {
  JournalPublicKey public_key{};
  JournalSecretKey secret_key;
  [[nodiscard]] static JournalKeyPair generate();
};

/// Seals `key` (named by `ref`) to `recipient` (libsodium sealed box: X25519 + XSalsa20-Poly1305
/// with an ephemeral sender key). The plaintext carries a BLAKE2b binding of ref and recipient,
/// so an entry moved to another client, category or version does not open as that key.
/// Errors: invalid_argument (category over kMaxNamePart).
[[nodiscard]] Result<std::vector<std::uint8_t>>
seal_journal_entry(const JournalPublicKey& recipient, const DataKeyRef& ref, const DataKey& key);
/// Opens an entry sealed by seal_journal_entry. Errors: truncated / malformed (wrong size),
/// authentication_failed (wrong key pair, tampered, or moved to another ref).
[[nodiscard]] Result<DataKey> open_journal_entry(const JournalPublicKey& recipient,
                                                 const JournalSecretKey& secret,
                                                 const DataKeyRef& ref,
                                                 std::span<const std::uint8_t> sealed);

/// The journal secret wrapped under the kek_wrapping sub-key (XChaCha20-Poly1305, AD binds the
/// public key), as a snapshot stores it. Format byte || nonce || ciphertext || tag.
[[nodiscard]] Result<std::vector<std::uint8_t>> wrap_journal_secret(const SubKey& kek_wrapping,
                                                                    const JournalKeyPair& pair);
/// Errors: truncated, unsupported_format, malformed, authentication_failed (wrong root key,
/// tampered, or another snapshot's public key).
[[nodiscard]] Result<JournalSecretKey>
unwrap_journal_secret(const SubKey& kek_wrapping, const JournalPublicKey& public_key,
                      std::span<const std::uint8_t> wrapped);

}  // namespace sluis::crypto
