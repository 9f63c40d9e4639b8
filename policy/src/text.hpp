// Small text measures shared by the policy sources (private header).
#pragma once

#include <cstddef>
#include <string_view>

namespace sluis::policy {

/// Number of UTF-8 code points (continuation bytes are not counted).
[[nodiscard]] inline std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++n;
  }
  return n;
}

/// True when `s` holds nothing but ASCII whitespace.
[[nodiscard]] inline bool is_blank(std::string_view s) noexcept {
  for (const char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

}  // namespace sluis::policy
