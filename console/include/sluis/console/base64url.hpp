// base64url without padding (RFC 4648 §5), as WebAuthn uses for challenges and credential ids.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

/// The unpadded base64url text of `bytes`.
[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> bytes);

/// Decodes unpadded base64url strictly: only [A-Za-z0-9_-], no '=', no whitespace, no length of
/// 1 mod 4, and the unused low bits of the last character must be zero (so each byte string has
/// exactly one accepted text). std::nullopt otherwise.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

}  // namespace sluis::console
