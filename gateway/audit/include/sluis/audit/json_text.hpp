// JSON string escaping shared by the audit encoder, the audit exports and the API answers that
// are written as text (the dossier).
#pragma once

#include <string>
#include <string_view>

namespace sluis::audit {

/// Appends `s` as a JSON string: quotes, with only '"', '\\' and control characters escaped (as
/// \u00XX, lowercase hex); every other byte is copied as is. This is the canonical audit encoding's
/// rule (audit_event.hpp), so exports and stored events escape identically. The result is valid
/// JSON when `s` is valid UTF-8.
void append_json_string(std::string& out, std::string_view s);

/// As append_json_string, into any string type with append(const char*, size) and += char (an
/// HttpBody, whose buffer is wiped when freed: a dossier answer is written straight into it).
template <class Text> void append_json_string_to(Text& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied: copied in runs, not byte by byte
  for (std::size_t k = 0; k < s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[k]);
    const bool quote = c == '"' || c == '\\';
    if (!quote && c >= 0x20 && c != 0x7f) continue;
    out.append(s.data() + run, k - run);
    run = k + 1;
    if (quote) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out.append("\\u00", 4);
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

}  // namespace sluis::audit
