// Strict CBOR decoding: RFC 8949 examples, malformed items and limits
// (tests/vectors/webauthn/cbor.vec).
#include "sluis/console/cbor.hpp"

#include "result_printer.hpp"
#include "sluis/crypto/encoding.hpp"
#include "vectors.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using sluis::console::cbor_decode;
using sluis::console::cbor_decode_prefix;
using sluis::console::CborLimits;
using sluis::console::CborValue;
using sluis::console::WebauthnErrc;

namespace {

// RFC 8949 §8 diagnostic notation, as cbor.vec writes it.
std::string diag(const CborValue& v) {
  switch (v.kind) {
  case CborValue::Kind::integer: return std::to_string(v.integer);
  case CborValue::Kind::boolean: return v.boolean ? "true" : "false";
  case CborValue::Kind::null: return "null";
  case CborValue::Kind::bytes: return "h'" + sluis::crypto::to_hex(v.bytes) + "'";
  case CborValue::Kind::text: {
    std::string s = "\"";
    for (const char c : v.text) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    return s + "\"";
  }
  case CborValue::Kind::array: {
    std::string s = "[";
    for (std::size_t i = 0; i < v.items.size(); ++i)
      s += (i ? ", " : "") + diag(v.items[i]);
    return s + "]";
  }
  case CborValue::Kind::map: {
    std::string s = "{";
    for (std::size_t i = 0; i < v.entries.size(); ++i)
      s += (i ? ", " : "") + diag(v.entries[i].first) + ": " + diag(v.entries[i].second);
    return s + "}";
  }
  }
  return "?";
}

std::vector<std::uint8_t> hex(const std::string& h) {
  auto b = sluis::crypto::from_hex(h);
  REQUIRE(b.has_value());
  return *b;
}

}  // namespace

TEST_CASE("cbor: every vector decodes to its value or is refused with its error",
          "[console][cbor]") {
  const auto records = sluis::test::load_vectors("webauthn/cbor.vec");
  REQUIRE(records.size() > 80);
  std::size_t ok = 0, refused = 0;
  for (const auto& r : records) {
    INFO(r.at("name") << " (cbor.vec line " << r.line << ")");
    const auto input = hex(r.at("input"));
    const auto got = cbor_decode(input);
    if (r.at("expect") == "ok") {
      REQUIRE(got.has_value());
      CHECK(diag(*got) == r.at("value"));
      ++ok;
    } else {
      REQUIRE(got.has_error());
      CHECK(sluis::console::webauthn_errc_name(static_cast<WebauthnErrc>(got.error().value())) ==
            r.at("expect"));
      CHECK(got.error().category() == sluis::console::webauthn_category());
      ++refused;
    }
  }
  CHECK(ok >= 30);
  CHECK(refused >= 40);
}

TEST_CASE("cbor: map look-up by integer and text key", "[console][cbor]") {
  const auto v =
      cbor_decode(hex("a3010263666d74646e6f6e65206161"));  // {1: 2, "fmt": "none", -1: "a"}
  REQUIRE(v.has_value());
  REQUIRE(v->find(1) != nullptr);
  CHECK(v->find(1)->integer == 2);
  REQUIRE(v->find(-1) != nullptr);
  CHECK(v->find(-1)->text == "a");
  REQUIRE(v->find("fmt") != nullptr);
  CHECK(v->find("fmt")->text == "none");
  CHECK(v->find(3) == nullptr);
  CHECK(v->find("1") == nullptr);
  // Not a map: no entries to find.
  const auto i = cbor_decode(hex("01"));
  REQUIRE(i.has_value());
  CHECK(i->find(1) == nullptr);
  CHECK(i->find("fmt") == nullptr);
}

TEST_CASE("cbor: a prefix decode reports how many bytes the item used", "[console][cbor]") {
  const auto bytes = hex("a201020304"
                         "ffee");
  std::size_t used = 99;
  const auto v = cbor_decode_prefix(bytes, used);
  REQUIRE(v.has_value());
  CHECK(used == 5);
  CHECK(cbor_decode(bytes).error() == WebauthnErrc::cbor_trailing_bytes);
  // On a refusal nothing is reported as used.
  used = 99;
  CHECK(cbor_decode_prefix(hex("a2010203"), used).error() == WebauthnErrc::cbor_truncated);
  CHECK(used == 0);
}

TEST_CASE("cbor: the limits are the caller's", "[console][cbor]") {
  CborLimits tight;
  tight.max_depth = 2;
  tight.max_string_bytes = 3;
  tight.max_items = 2;
  CHECK(cbor_decode(hex("818100"), tight).has_value());
  CHECK(cbor_decode(hex("81818100"), tight).error() == WebauthnErrc::cbor_too_deep);
  CHECK(cbor_decode(hex("43010203"), tight).has_value());
  CHECK(cbor_decode(hex("4401020304"), tight).error() == WebauthnErrc::cbor_too_large);
  CHECK(cbor_decode(hex("63616263"), tight).has_value());
  CHECK(cbor_decode(hex("6461626364"), tight).error() == WebauthnErrc::cbor_too_large);
  CHECK(cbor_decode(hex("820102"), tight).has_value());
  CHECK(cbor_decode(hex("83010203"), tight).error() == WebauthnErrc::cbor_too_large);
  CHECK(cbor_decode(hex("a3010203040506"), tight).error() == WebauthnErrc::cbor_too_large);
}

TEST_CASE("cbor: deep nesting is refused without deep recursion", "[console][cbor]") {
  // 100 000 nested arrays: refused at the limit, long before the stack is in danger.
  std::vector<std::uint8_t> deep(100000, 0x81);
  deep.push_back(0x00);
  CHECK(cbor_decode(deep).error() == WebauthnErrc::cbor_too_deep);
}
