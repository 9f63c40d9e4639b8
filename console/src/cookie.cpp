// The Cookie request header (RFC 6265 §4.2.1 grammar, §5.4 as browsers send it).
#include "sluis/console/http_input.hpp"

#include <algorithm>

namespace sluis::console {
namespace {

// RFC 7230 §3.2.6 tchar.
bool token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 6265 §4.1.1 cookie-octet: no CTLs, whitespace, DQUOTE, comma, semicolon or backslash.
bool cookie_octet(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x2b) || (u >= 0x2d && u <= 0x3a) ||
         (u >= 0x3c && u <= 0x5b) || (u >= 0x5d && u <= 0x7e);
}

std::string_view trim_spaces(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Cookies::Lookup Cookies::find(std::string_view name) const noexcept {
  Lookup out;
  for (const auto& [n, v] : cookies_) {
    if (n != name) continue;
    if (out.status == Status::found) return {Status::ambiguous, {}};
    out = {Status::found, v};
  }
  if (out.status == Status::found &&
      std::find(malformed_names_.begin(), malformed_names_.end(), name) != malformed_names_.end())
    return {Status::ambiguous, {}};
  return out;
}

InputResult<Cookies> parse_cookie_header(std::string_view header, const CookieLimits& limits) {
  if (header.size() > limits.max_bytes) return InputErrc::too_large;
  // A control character (other than the TAB of optional whitespace) has no place in a header:
  // it is an injection attempt, not a cookie another site set.
  if (std::any_of(header.begin(), header.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
      }))
    return InputErrc::control_character;
  const auto pairs = static_cast<std::size_t>(std::count(header.begin(), header.end(), ';')) + 1;
  if (pairs > limits.max_cookies) return InputErrc::too_many_fields;
  Cookies out;
  std::size_t start = 0;
  while (start <= header.size()) {
    const std::size_t semi = std::min(header.find(';', start), header.size());
    const std::string_view pair = trim_spaces(header.substr(start, semi - start));
    start = semi + 1;
    if (pair.empty()) continue;  // "a=1;" or "a=1; ; b=2": nothing there to misread
    const std::size_t eq = pair.find('=');
    const std::string_view name = trim_spaces(pair.substr(0, eq));
    if (name.size() > limits.max_name_bytes) return InputErrc::name_too_long;
    if (eq == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), token_char)) {
      out.malformed_names_.emplace_back(eq == std::string_view::npos ? pair : name);
      continue;
    }
    std::string_view value = trim_spaces(pair.substr(eq + 1));
    if (value.size() > limits.max_value_bytes) return InputErrc::value_too_long;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!std::all_of(value.begin(), value.end(), cookie_octet)) {
      out.malformed_names_.emplace_back(name);
      continue;
    }
    out.cookies_.emplace_back(std::string(name), std::string(value));
  }
  return out;
}

}  // namespace sluis::console
