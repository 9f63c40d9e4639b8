// Deterministic-nonce entry points and context encoders, for known-answer tests only.
//
// Production code must call seal_field / wrap_kek / wrap_data_key, which draw a fresh random
// nonce every time. The functions here take the nonce as a parameter so test vectors can fix it;
// reusing a nonce under one key breaks XChaCha20-Poly1305 completely, so never call them with a
// nonce that did not come from the CSPRNG outside of tests.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluis::crypto::detail {

/// Size of an XChaCha20-Poly1305-IETF nonce.
inline constexpr std::size_t kNonceSize = 24;
using Nonce = std::span<const std::uint8_t, kNonceSize>;

/// Largest field associated-data encoding: label (1+14), format (1), fragment (16),
/// field name (1+255), category (1+255), client (16), data-key version (4).
inline constexpr std::size_t kMaxFieldAdSize = 1 + 14 + 1 + 16 + 1 + 255 + 1 + 255 + 16 + 4;

/// Writes the associated data of a v1 field for `ctx` into `out` (docs/crypto/field-format.md)
/// and returns its length. Errors: invalid_argument (a name part over kMaxNamePart bytes).
[[nodiscard]] Result<std::size_t> encode_field_ad(const FieldContext& ctx,
                                                  std::span<std::uint8_t, kMaxFieldAdSize> out);

/// seal_field_into with a caller-chosen nonce. Same checks and errors as seal_field_into.
[[nodiscard]] Result<void> seal_field_with_nonce(const DataKey& key, const FieldContext& ctx,
                                                 Nonce nonce,
                                                 std::span<const std::uint8_t> plaintext,
                                                 std::span<std::uint8_t> out);

/// wrap_kek with a caller-chosen nonce.
[[nodiscard]] Result<WrappedKek> wrap_kek_with_nonce(const SubKey& kek_wrapping,
                                                     const KeyEncryptionKey& kek, Nonce nonce);

/// wrap_data_key with a caller-chosen nonce.
[[nodiscard]] Result<WrappedDataKey> wrap_data_key_with_nonce(const KeyEncryptionKey& kek,
                                                              const DataKeyRef& ref,
                                                              const DataKey& key, Nonce nonce);

}  // namespace sluis::crypto::detail
