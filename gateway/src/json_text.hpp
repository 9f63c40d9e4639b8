// Private: JSON string escaping shared by the audit encoder and the audit exports.
#pragma once

#include <string>
#include <string_view>

namespace sluis::gateway::detail {

/// Appends `s` as a JSON string: quotes, with only '"', '\\' and control characters escaped (as
/// \u00XX, lowercase hex); every other byte is copied as is. This is the canonical audit encoding's
/// rule (audit_event.hpp), so exports and stored events escape identically.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sluis::gateway::detail
