// Field sealing: every fragment field is an AEAD ciphertext bound to where it belongs.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluis/crypto/types.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sluis::crypto {

/// A client × category data key (random, 256 bits). Wrapped at rest by a key-encryption key.
using DataKey = SecretBytes<32, struct DataKeyTag>;

/// Where a sealed field belongs. All of it is bound into the AEAD associated data, so a ciphertext
/// copied to another fragment, field, category, client or key version fails to open.
struct FieldContext {
  FragmentId fragment;
  std::string_view field_name;  ///< at most kMaxNamePart bytes
  std::string_view category;    ///< at most kMaxNamePart bytes
  ClientId client;
  DataKeyVersion key_version;
};

/// Sealed field format v1 (docs/crypto/field-format.md):
///   byte 0      format version (0x01)
///   bytes 1..4  data-key version, big-endian u32
///   bytes 5..28 XChaCha20-Poly1305-IETF nonce (random)
///   bytes 29..  ciphertext, then 16-byte Poly1305 tag
/// The AEAD associated data encodes the whole FieldContext plus the format version under the
/// domain label "sluis/field/v1" (byte layout in the document above).
inline constexpr std::uint8_t kFieldFormatV1 = 0x01;
inline constexpr std::size_t kFieldHeaderSize = 1 + 4 + 24;
inline constexpr std::size_t kFieldTagSize = 16;
inline constexpr std::size_t kFieldOverhead = kFieldHeaderSize + kFieldTagSize;
inline constexpr std::size_t kMaxNamePart = 255;
/// Largest plaintext a single field may hold (1 MiB).
inline constexpr std::size_t kMaxFieldPlaintext = std::size_t{1} << 20;

/// Seals `plaintext` under `key` for `ctx`, with a fresh random nonce.
/// Errors: invalid_argument (name parts too long, plaintext over kMaxFieldPlaintext).
[[nodiscard]] Result<std::vector<std::uint8_t>>
seal_field(const DataKey& key, const FieldContext& ctx, std::span<const std::uint8_t> plaintext);

/// As seal_field, writing into `out`, which must be exactly plaintext.size() + kFieldOverhead
/// bytes and must not overlap `plaintext`. No allocation. Errors: invalid_argument.
[[nodiscard]] Result<void> seal_field_into(const DataKey& key, const FieldContext& ctx,
                                           std::span<const std::uint8_t> plaintext,
                                           std::span<std::uint8_t> out);

/// Opens a sealed field. Errors: truncated (shorter than kFieldOverhead), unsupported_format
/// (version byte), wrong_key_version (header differs from ctx.key_version), authentication_failed
/// (tampered, wrong key, or any context part differs), invalid_argument (a name part over
/// kMaxNamePart). The key version is checked before any cryptography runs. On error nothing is
/// returned.
[[nodiscard]] Result<PlainBytes> open_field(const DataKey& key, const FieldContext& ctx,
                                            std::span<const std::uint8_t> sealed);

/// As open_field into `out` (at least sealed.size() - kFieldOverhead bytes); returns the
/// plaintext length. Errors as open_field, plus invalid_argument when `out` is too small.
/// On failure `out` is zeroised.
[[nodiscard]] Result<std::size_t> open_field_into(const DataKey& key, const FieldContext& ctx,
                                                  std::span<const std::uint8_t> sealed,
                                                  std::span<std::uint8_t> out);

/// Reads the data-key version from a sealed field's header without opening it, so the caller can
/// fetch the right key. Errors: truncated, unsupported_format.
[[nodiscard]] Result<DataKeyVersion> sealed_field_key_version(std::span<const std::uint8_t> sealed);

}  // namespace sluis::crypto
