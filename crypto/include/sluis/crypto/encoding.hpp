// Text encodings of binary values: lowercase hex and unpadded-free standard base64.
#pragma once

#include "sluis/crypto/error.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::crypto {

/// Lowercase hex of `bytes`.
[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
/// Parses hex (either case). Errc::malformed on odd length or a non-hex character.
[[nodiscard]] Result<std::vector<std::uint8_t>> from_hex(std::string_view text);
/// Standard base64 with padding (RFC 4648 §4), as used by C2SP signed notes.
[[nodiscard]] std::string to_base64(std::span<const std::uint8_t> bytes);
/// Parses standard padded base64 strictly (no whitespace). Errc::malformed otherwise.
[[nodiscard]] Result<std::vector<std::uint8_t>> from_base64(std::string_view text);

}  // namespace sluis::crypto
