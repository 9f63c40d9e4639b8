// Strict JSON for request bodies: UTF-8 only, bounded depth, duplicate keys refused.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace sluis::api {

/// Why a body is not acceptable JSON.
enum class JsonRejection {
  malformed,      ///< not one JSON text, invalid UTF-8, comments, trailing commas, ...
  too_deep,       ///< nesting deeper than the limit
  duplicate_key,  ///< an object names the same member twice
};

/// The parsed document, or why it was refused.
struct StrictJson {
  std::optional<boost::json::value> value;
  JsonRejection rejection = JsonRejection::malformed;
};

/// Parses exactly one JSON text. Refuses invalid UTF-8 (also in escapes: lone surrogates), nesting
/// deeper than `max_depth` arrays/objects, and any object with a repeated member name (RFC 8259
/// leaves their meaning open; two readers of one body must never disagree about it).
/// Pure; thread-safe; never throws for bad input (std::bad_alloc aside).
[[nodiscard]] StrictJson parse_strict_json(std::string_view text, std::size_t max_depth);

/// True when every member of `object` is one of `allowed` (unknown members are refused, not
/// ignored, so a misspelt optional member is an error rather than a silent default).
[[nodiscard]] bool only_members(const boost::json::object& object,
                                std::initializer_list<std::string_view> allowed);

}  // namespace sluis::api
