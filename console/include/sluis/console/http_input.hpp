// The console's parsers of what a browser sends: form bodies, query strings, Cookie headers and
// static-file paths. Bytes in, a result out (no sockets), so a fuzzer drives them directly.
//
// Every parser is strict and bounded: limits are checked before anything is copied, percent
// escapes must be complete, decoded text must be UTF-8, and each refusal has its own InputErrc
// ("sluis.console.input"). Refusals never echo the input.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluis::console {

enum class InputErrc {
  too_large = 1,          ///< the whole input is longer than the limit
  too_many_fields = 2,    ///< more fields (or cookies) than the limit
  name_too_long = 3,      ///< a field or cookie name longer than the limit
  value_too_long = 4,     ///< a decoded value longer than the limit
  bad_escape = 5,         ///< '%' not followed by two hex digits
  invalid_utf8 = 6,       ///< decoded text that is not UTF-8
  bad_name = 7,           ///< an empty name, or a character outside [A-Za-z0-9_.-]
  control_character = 8,  ///< a control character (values allow only TAB, CR, LF)
  duplicate_name = 9,     ///< a name given twice where the policy refuses that
  malformed = 10,         ///< an empty pair ("a=1&&b=2") or other broken structure
  bad_path = 11,          ///< a static path that could leave the web root or is not plain
  not_found = 12,         ///< a static path that names no regular file inside the root
};

[[nodiscard]] const boost::system::error_category& input_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(InputErrc e) noexcept;
template <class T> using InputResult = boost::system::result<T>;

/// Bounds for form bodies and query strings.
struct FormLimits {
  std::size_t max_bytes = 64 * 1024;  ///< the encoded input
  std::size_t max_fields = 64;
  std::size_t max_name_bytes = 64;
  std::size_t max_value_bytes = 8 * 1024;  ///< each decoded value
};

/// What to do when a name appears twice. There is no default: each form says which it means.
enum class DuplicateNames {
  refuse,    ///< InputErrc::duplicate_name (single-valued forms: a second value is an attack)
  keep_all,  ///< keep every value in order (check boxes, multi-selects)
};

/// Decodes application/x-www-form-urlencoded text (WHATWG URL §5.1): '+' is a space when
/// `plus_is_space`, "%XX" a byte; a '%' without two hex digits is bad_escape; the decoded bytes
/// must be UTF-8 (invalid_utf8).
[[nodiscard]] InputResult<std::string> percent_decode(std::string_view text, bool plus_is_space);

/// Decoded fields in input order.
class FormFields {
 public:
  /// The one value of `name`, or nullopt when absent. With several values (keep_all), the first.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const noexcept;
  /// Every value of `name`, in input order.
  [[nodiscard]] std::vector<std::string_view> get_all(std::string_view name) const;
  [[nodiscard]] std::size_t size() const noexcept { return fields_.size(); }
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& fields() const noexcept {
    return fields_;
  }

 private:
  friend InputResult<FormFields> parse_urlencoded(std::string_view, const FormLimits&,
                                                  DuplicateNames);
  std::vector<std::pair<std::string, std::string>> fields_;
};

/// Parses an application/x-www-form-urlencoded body or query string: pairs separated by '&',
/// each "name=value" or "name" (empty value). Names are decoded and must be non-empty
/// [A-Za-z0-9_.-] (the console names its own fields; anything else is bad_name). Values are
/// decoded, UTF-8, and may hold TAB, CR and LF but no other control character. An empty input is
/// no fields; an empty pair is malformed.
[[nodiscard]] InputResult<FormFields>
parse_urlencoded(std::string_view text, const FormLimits& limits, DuplicateNames duplicates);

/// The query part of a request target ("/clients?q=x" -> "q=x"; no '?' -> no fields), parsed as
/// parse_urlencoded. A fragment ('#') in a target is malformed (browsers never send one).
[[nodiscard]] InputResult<FormFields> parse_query(std::string_view target, const FormLimits& limits,
                                                  DuplicateNames duplicates);

/// Bounds for a Cookie request header.
struct CookieLimits {
  std::size_t max_bytes = 8 * 1024;
  std::size_t max_cookies = 64;
  std::size_t max_name_bytes = 128;
  std::size_t max_value_bytes = 4096;
};

/// The cookies of one Cookie header (RFC 6265 §4.2.1, §5.4). A name may legitimately appear more
/// than once (cookies of other paths or of a parent domain), so duplicates are kept and reported
/// per name by find(): the console never guesses which one is its own.
class Cookies {
 public:
  enum class Status { absent, found, ambiguous };
  struct Lookup {
    Status status = Status::absent;
    std::string_view value;  ///< only when found
  };
  /// The cookie `name`: found (exactly one well-formed pair), absent, or ambiguous (given twice,
  /// or also present as a malformed pair — a forged second copy).
  [[nodiscard]] Lookup find(std::string_view name) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return cookies_.size(); }
  /// How many pairs were dropped as malformed (no '=', a bad name or value octet).
  [[nodiscard]] std::size_t malformed() const noexcept { return malformed_names_.size(); }

 private:
  friend InputResult<Cookies> parse_cookie_header(std::string_view, const CookieLimits&);
  std::vector<std::pair<std::string, std::string>> cookies_;
  std::vector<std::string> malformed_names_;  ///< the name part of each dropped pair (may be "")
};

/// Parses a Cookie header value: "name=value" pairs separated by ';' and optional spaces. Names
/// are RFC 7230 tokens, values cookie-octets, optionally in double quotes (which are removed).
/// A pair that breaks those rules is dropped and counted (other sites on a parent domain can set
/// odd cookies; they must not lock a worker out). Refused outright: too_large, too_many_fields,
/// name_too_long, value_too_long, and control characters anywhere (control_character).
[[nodiscard]] InputResult<Cookies> parse_cookie_header(std::string_view header,
                                                       const CookieLimits& limits = {});

/// Maps a request path under `prefix` (e.g. "/static/") to a path relative to the static root.
/// Only plain names are served: segments of [A-Za-z0-9_.-], not starting with '.', no empty
/// segment, at most 8 segments and 256 bytes. Everything else is bad_path — "..", ".",
/// percent escapes of any kind (so "%2e%2e" and "%2f" never reach the file system), '\\', NUL,
/// ':', a leading '/' after the prefix, a query or fragment.
[[nodiscard]] InputResult<std::string> static_relative_path(std::string_view request_path,
                                                            std::string_view prefix);

/// Resolves a relative path from static_relative_path under `root` to a regular file that really
/// lies inside `root` after symbolic links are followed (a link out of the root is bad_path);
/// not_found when there is no such regular file.
[[nodiscard]] InputResult<std::filesystem::path>
resolve_static_file(const std::filesystem::path& root, std::string_view relative);

}  // namespace sluis::console

template <> struct boost::system::is_error_code_enum<sluis::console::InputErrc> : std::true_type {};
