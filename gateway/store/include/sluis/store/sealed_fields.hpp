// The stored form of a fragment's sealed fields: one blob per fragment, beside its metadata.
#pragma once

#include "sluis/store/error.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sluis::store {

/// Most fields one fragment may hold.
inline constexpr std::size_t kMaxFieldsPerFragment = 64;

/// One sealed field inside a fragment's blob (views into the blob).
struct SealedFieldView {
  std::string_view name;
  std::span<const std::uint8_t> sealed;
};

/// Layout (docs/store.md "Fragments"): byte 0 = format 1; byte 1 = field count (1..64); then per
/// field, in the order written: name length (1 byte, 1..64), the name, the sealed length (4 bytes
/// little-endian), the sealed bytes (crypto::seal_field output, which binds the name, fragment,
/// category, client and key version into its associated data). Only sealed bytes and field names
/// are stored; the names are the fragment's schema, not client data (as before in their own
/// column).
inline constexpr std::uint8_t kSealedFieldsFormat = 1;

/// A blob for `count` fields starts as sealed_fields_header(count); append_sealed_field adds
/// each in order.
void append_sealed_field(std::vector<std::uint8_t>& blob, std::string_view name,
                         std::span<const std::uint8_t> sealed);
[[nodiscard]] std::vector<std::uint8_t> sealed_fields_header(std::size_t count);

/// Splits a blob into its fields; any deviation from the layout (wrong format, count, lengths
/// that overrun, trailing bytes) is Errc::storage_failure: the file was damaged.
[[nodiscard]] Result<void> decode_sealed_fields(std::span<const std::uint8_t> blob,
                                                std::vector<SealedFieldView>& out);

}  // namespace sluis::store
