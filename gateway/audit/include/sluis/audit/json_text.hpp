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

}  // namespace sluis::audit
