// application/x-www-form-urlencoded bodies and query strings (WHATWG URL §5.1, "urlencoded
// parser"), made strict: complete escapes, UTF-8, our own field-name alphabet, explicit duplicates.
#include "sluis/console/http_input.hpp"

#include "sluis/console/utf8.hpp"

#include <algorithm>

namespace sluis::console {
namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// C0 controls and DEL; TAB, CR and LF are allowed in values (a textarea sends CRLF).
bool forbidden_control(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f;
}

// Decoded length without decoding, so limits hold before anything is copied.
// (A broken escape may make the count meaningless; decoding then refuses it.)
std::size_t decoded_length(std::string_view s) noexcept {
  const auto escapes = static_cast<std::size_t>(std::count(s.begin(), s.end(), '%'));
  return s.size() >= 2 * escapes ? s.size() - 2 * escapes : 0;
}

}  // namespace

InputResult<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) return InputErrc::bad_escape;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return InputErrc::bad_escape;
      out += static_cast<char>((hi << 4) | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  if (!is_valid_utf8(out)) return InputErrc::invalid_utf8;
  return out;
}

std::optional<std::string_view> FormFields::get(std::string_view name) const noexcept {
  for (const auto& [n, v] : fields_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::vector<std::string_view> FormFields::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : fields_) {
    if (n == name) out.emplace_back(v);
  }
  return out;
}

InputResult<FormFields> parse_urlencoded(std::string_view text, const FormLimits& limits,
                                         DuplicateNames duplicates) {
  if (text.size() > limits.max_bytes) return InputErrc::too_large;
  FormFields out;
  if (text.empty()) return out;
  // Count pairs first: a body of 60 000 '&' is refused before any work per pair.
  const auto pairs = static_cast<std::size_t>(std::count(text.begin(), text.end(), '&')) + 1;
  if (pairs > limits.max_fields) return InputErrc::too_many_fields;
  out.fields_.reserve(pairs);
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t amp = std::min(text.find('&', start), text.size());
    const std::string_view pair = text.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) return InputErrc::malformed;
    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (raw_name.empty()) return InputErrc::bad_name;
    if (decoded_length(raw_name) > limits.max_name_bytes) return InputErrc::name_too_long;
    if (decoded_length(raw_value) > limits.max_value_bytes) return InputErrc::value_too_long;
    auto name = percent_decode(raw_name, true);
    if (!name) return name.error();
    if (name->empty() || !std::all_of(name->begin(), name->end(), name_char))
      return InputErrc::bad_name;
    auto value = percent_decode(raw_value, true);
    if (!value) return value.error();
    if (std::any_of(value->begin(), value->end(), forbidden_control))
      return InputErrc::control_character;
    if (duplicates == DuplicateNames::refuse && out.get(*name)) return InputErrc::duplicate_name;
    out.fields_.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

InputResult<FormFields> parse_query(std::string_view target, const FormLimits& limits,
                                    DuplicateNames duplicates) {
  if (target.find('#') != std::string_view::npos) return InputErrc::malformed;
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return FormFields{};
  return parse_urlencoded(target.substr(q + 1), limits, duplicates);
}

}  // namespace sluis::console
