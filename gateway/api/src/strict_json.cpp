// Strict JSON for request bodies: a validating SAX pass (depth, duplicate keys), then the DOM
// parse.
#include "strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace sluis::api {
namespace {

namespace json = boost::json;

// SAX handler that only checks: every object's member names are unique. Depth is enforced by the
// parser itself (parse_options::max_depth). Keys may arrive in parts (escapes, buffer ends).
struct DuplicateKeyCheck {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  std::vector<std::set<std::string, std::less<>>> objects;  // one key set per open object
  std::string key;
  bool duplicate = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    objects.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    objects.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key.append(s.data(), s.size());
    const bool inserted = !objects.empty() && objects.back().insert(key).second;
    key.clear();
    if (!inserted) {
      duplicate = true;
      ec = json::make_error_code(json::error::syntax);
      return false;
    }
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

StrictJson parse_strict_json(std::string_view text, std::size_t max_depth) {
  StrictJson out;
  json::parse_options options;
  options.max_depth = max_depth;
  options.allow_comments = false;
  options.allow_trailing_commas = false;
  options.allow_invalid_utf8 = false;

  json::basic_parser<DuplicateKeyCheck> check(options);
  json::error_code ec;
  const std::size_t used = check.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size()) {
    if (check.handler().duplicate) {
      out.rejection = JsonRejection::duplicate_key;
    } else if (ec == json::error::too_deep) {
      out.rejection = JsonRejection::too_deep;
    } else {
      out.rejection = JsonRejection::malformed;
    }
    return out;
  }
  json::error_code parse_ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), parse_ec,
                              json::storage_ptr(), options);
  if (parse_ec) return out;  // cannot differ from the check above; stay safe anyway
  out.value = std::move(v);
  return out;
}

bool only_members(const json::object& object, std::initializer_list<std::string_view> allowed) {
  return std::all_of(object.begin(), object.end(), [&](const json::key_value_pair& kv) {
    const std::string_view k(kv.key().data(), kv.key().size());
    return std::find(allowed.begin(), allowed.end(), k) != allowed.end();
  });
}

}  // namespace sluis::api
