// Strict UTF-8 validation (RFC 3629): the one check every console parser applies to text.
#pragma once

#include <string_view>

namespace sluis::console {

/// True when `text` is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF), no
/// code point above U+10FFFF, no truncated sequence. NUL and other control characters are valid
/// UTF-8; callers that refuse them say so.
[[nodiscard]] bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace sluis::console
