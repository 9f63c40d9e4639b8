// Fuzz target: the strict JSON parser every /v1 request body goes through (parse_strict_json).
//
// Input: a request body. Parsed with the API's depth limit (16) and with a small one (3), so the
// too-deep refusal is reachable with short inputs. For an accepted document it checks what
// strict_json.hpp promises: nesting within the limit, and that the document survives
// serialise → strict parse unchanged (doubles up to a few ULPs, see same_document): what the
// gateway reads is what it would write.
#include "../../gateway/api/src/strict_json.hpp"

#include "fuzz_support.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

namespace {

namespace json = boost::json;
using sluis::api::JsonRejection;
using sluis::api::parse_strict_json;

// Depth as parse_options::max_depth counts it: each array or object is one level.
std::size_t depth_of(const json::value& v) {
  std::size_t inner = 0;
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      inner = std::max(inner, depth_of(e));
    return inner + 1;
  }
  if (v.is_object()) {
    for (const auto& kv : v.get_object())
      inner = std::max(inner, depth_of(kv.value()));
    return inner + 1;
  }
  return 0;
}

// Boost.JSON reads a number beyond the double range (1e400) as ±infinity and writes that back as
// `Infinity`, which is not JSON. The API never echoes a client's numbers (it reads integers such
// as `minutes` with is_int64), so documents holding one are kept out of the round trip below.
bool all_finite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_array()) {
    return std::all_of(v.get_array().begin(), v.get_array().end(),
                       [](const json::value& e) { return all_finite(e); });
  }
  if (v.is_object()) {
    return std::all_of(v.get_object().begin(), v.get_object().end(),
                       [](const json::key_value_pair& kv) { return all_finite(kv.value()); });
  }
  return true;
}

// Equality with one allowance: Boost.JSON 1.81's number parser is not correctly rounded (e.g. it
// reads "-1.6744073709551615E0", which it printed for -1.674407370955161400, one unit in the last
// place off), so doubles may differ by a few ULPs after a round trip. Everything else — structure,
// strings, keys, integers — must match exactly. The API never reads client doubles.
bool same_document(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double();
    for (int ulps = 0; ulps < 4 && x != b.get_double(); ++ulps)
      x = std::nextafter(x, b.get_double());
    return x == b.get_double();
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same_document(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    auto j = y.begin();
    for (auto i = x.begin(); i != x.end(); ++i, ++j) {
      if (i->key() != j->key() || !same_document(i->value(), j->value())) return false;
    }
    return true;
  }
  return a == b;
}

void check(std::string_view text, std::size_t max_depth) {
  const auto parsed = parse_strict_json(text, max_depth);
  if (!parsed.value) {
    SLUIS_FUZZ_CHECK(parsed.rejection == JsonRejection::malformed ||
                     parsed.rejection == JsonRejection::too_deep ||
                     parsed.rejection == JsonRejection::duplicate_key);
    return;
  }
  const json::value& v = *parsed.value;
  SLUIS_FUZZ_CHECK(depth_of(v) <= max_depth);
  if (!all_finite(v)) return;
  // Canonical re-serialisation is itself strict JSON and means the same document.
  const std::string again = json::serialize(v);
  const auto reparsed = parse_strict_json(again, max_depth);
  SLUIS_FUZZ_CHECK(reparsed.value.has_value());
  SLUIS_FUZZ_CHECK(same_document(*reparsed.value, v));
  // only_members looks at exactly the members the document has.
  if (v.is_object()) {
    const auto& o = v.get_object();
    const bool known = sluis::api::only_members(o, {"category", "fields", "supersedes"});
    bool expected = true;
    for (const auto& kv : o) {
      const std::string_view k(kv.key().data(), kv.key().size());
      expected = expected && (k == "category" || k == "fields" || k == "supersedes");
    }
    SLUIS_FUZZ_CHECK(known == expected);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  check(text, 16);  // ApiLimits::max_json_depth
  check(text, 3);
  return 0;
}
