// Field sealing: round trips, every tampering and context swap, sizes, and known-answer vectors.
#include "sluis/crypto/field.hpp"

#include "sluis/crypto/detail/known_answer.hpp"
#include "sluis/crypto/encoding.hpp"

#include "vectors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace sc = sluis::crypto;
using sc::Errc;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

Bytes hex(const std::string& s) {
  // from_hex("") passes a null pointer to libsodium (UBSan aborts); an empty value is no bytes.
  if (s.empty()) return {};
  auto r = sc::from_hex(s);
  REQUIRE(r.has_value());
  return *r;
}

template <class T> Errc errc_of(const sc::Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().category() == sc::crypto_category());
  return static_cast<Errc>(r.error().value());
}

Errc errc_named(const std::string& name) {
  static const std::map<std::string, Errc> kNames = {
      {"authentication_failed", Errc::authentication_failed},
      {"wrong_key_version", Errc::wrong_key_version},
      {"unsupported_format", Errc::unsupported_format},
      {"truncated", Errc::truncated},
      {"invalid_argument", Errc::invalid_argument},
  };
  auto it = kNames.find(name);
  REQUIRE(it != kNames.end());
  return it->second;
}

template <std::size_t N> std::array<std::uint8_t, N> fixed(const Bytes& b) {
  REQUIRE(b.size() == N);
  std::array<std::uint8_t, N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

// A context with owned name storage, so tests can change one part at a time.
struct Ctx {
  sc::FragmentId fragment = sc::FragmentId::random();
  std::string field_name = "phone";
  std::string category = "contact";
  sc::ClientId client = sc::ClientId::random();
  sc::DataKeyVersion key_version{3};

  [[nodiscard]] sc::FieldContext view() const {
    return {fragment, field_name, category, client, key_version};
  }
};

bool all_zero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

}  // namespace

TEST_CASE("seal_field / open_field round trip for sizes up to the maximum", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{64},
                        std::size_t{1024}, std::size_t{4097}, sc::kMaxFieldPlaintext}) {
    Bytes plain(n);
    for (std::size_t i = 0; i < n; ++i)
      plain[i] = static_cast<std::uint8_t>(i * 7 + 1);
    auto sealed = sc::seal_field(key, ctx.view(), plain);
    REQUIRE(sealed.has_value());
    REQUIRE(sealed->size() == n + sc::kFieldOverhead);
    CHECK((*sealed)[0] == sc::kFieldFormatV1);
    auto opened = sc::open_field(key, ctx.view(), *sealed);
    REQUIRE(opened.has_value());
    CHECK(std::equal(opened->begin(), opened->end(), plain.begin(), plain.end()));
  }
}

TEST_CASE("seal_field refuses plaintext over the maximum and over-long names", "[field]") {
  const auto key = sc::DataKey::random();
  Ctx ctx;
  const Bytes too_big(sc::kMaxFieldPlaintext + 1);
  CHECK(errc_of(sc::seal_field(key, ctx.view(), too_big)) == Errc::invalid_argument);

  ctx.field_name.assign(sc::kMaxNamePart, 'f');
  ctx.category.assign(sc::kMaxNamePart, 'c');
  auto sealed = sc::seal_field(key, ctx.view(), bytes_of("ok at the limit"));
  REQUIRE(sealed.has_value());
  CHECK(sc::open_field(key, ctx.view(), *sealed).has_value());

  Ctx long_name = ctx;
  long_name.field_name.push_back('f');
  CHECK(errc_of(sc::seal_field(key, long_name.view(), bytes_of("x"))) == Errc::invalid_argument);
  CHECK(errc_of(sc::open_field(key, long_name.view(), *sealed)) == Errc::invalid_argument);
  Ctx long_cat = ctx;
  long_cat.category.push_back('c');
  CHECK(errc_of(sc::seal_field(key, long_cat.view(), bytes_of("x"))) == Errc::invalid_argument);
}

TEST_CASE("seal_field_into needs an exactly sized output", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  const Bytes plain = bytes_of("0123456789");
  Bytes out(plain.size() + sc::kFieldOverhead);
  REQUIRE(sc::seal_field_into(key, ctx.view(), plain, out).has_value());
  CHECK(sc::open_field(key, ctx.view(), out).has_value());
  Bytes small(out.size() - 1);
  Bytes large(out.size() + 1);
  CHECK(errc_of(sc::seal_field_into(key, ctx.view(), plain, small)) == Errc::invalid_argument);
  CHECK(errc_of(sc::seal_field_into(key, ctx.view(), plain, large)) == Errc::invalid_argument);
}

TEST_CASE("two seals of the same field use different nonces", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  const Bytes plain = bytes_of("same plaintext");
  auto a = sc::seal_field(key, ctx.view(), plain);
  auto b = sc::seal_field(key, ctx.view(), plain);
  REQUIRE((a && b));
  CHECK_FALSE(std::equal(a->begin() + 5, a->begin() + 29, b->begin() + 5));
  CHECK(*a != *b);
}

TEST_CASE("every single-byte change to a sealed field is caught with the right error", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  auto sealed = sc::seal_field(key, ctx.view(), Bytes(64, 0x5a));
  REQUIRE(sealed.has_value());
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      Bytes t = *sealed;
      t[i] ^= mask;
      INFO("byte " << i << " mask " << int{mask});
      const Errc e = errc_of(sc::open_field(key, ctx.view(), t));
      if (i == 0) {
        CHECK(e == Errc::unsupported_format);  // format byte
      } else if (i < 5) {
        CHECK(e == Errc::wrong_key_version);  // key version in the header
      } else {
        CHECK(e == Errc::authentication_failed);  // nonce, ciphertext, tag
      }
    }
  }
}

TEST_CASE("a sealed field does not open in any other context", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  auto sealed = sc::seal_field(key, ctx.view(), bytes_of("+32 470 12 34 56"));
  REQUIRE(sealed.has_value());

  SECTION("other fragment") {
    Ctx c = ctx;
    c.fragment.bytes[15] ^= 1;
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::authentication_failed);
  }
  SECTION("other field name") {
    Ctx c = ctx;
    c.field_name = "email";
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::authentication_failed);
  }
  SECTION("other category") {
    Ctx c = ctx;
    c.category = "health";
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::authentication_failed);
  }
  SECTION("other client") {
    Ctx c = ctx;
    c.client.bytes[0] ^= 1;
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::authentication_failed);
  }
  SECTION("same bytes split differently between field name and category") {
    Ctx c = ctx;
    c.field_name = "phonec";
    c.category = "ontact";
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::authentication_failed);
  }
  SECTION("other key version: refused from the header, before the AEAD runs") {
    Ctx c = ctx;
    c.key_version = sc::DataKeyVersion{4};
    CHECK(errc_of(sc::open_field(key, c.view(), *sealed)) == Errc::wrong_key_version);
  }
  SECTION("other key version with the header rewritten to match: the AD still binds it") {
    Ctx c = ctx;
    c.key_version = sc::DataKeyVersion{4};
    Bytes t = *sealed;
    t[4] = 4;
    CHECK(errc_of(sc::open_field(key, c.view(), t)) == Errc::authentication_failed);
  }
  SECTION("other key") {
    const auto other = sc::DataKey::random();
    CHECK(errc_of(sc::open_field(other, ctx.view(), *sealed)) == Errc::authentication_failed);
  }
}

TEST_CASE("every length below the overhead is truncated", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  auto sealed = sc::seal_field(key, ctx.view(), Bytes{});
  REQUIRE(sealed.has_value());
  REQUIRE(sealed->size() == sc::kFieldOverhead);
  for (std::size_t n = 0; n < sc::kFieldOverhead; ++n) {
    INFO("length " << n);
    const std::span<const std::uint8_t> part(sealed->data(), n);
    CHECK(errc_of(sc::open_field(key, ctx.view(), part)) == Errc::truncated);
    CHECK(errc_of(sc::sealed_field_key_version(part)) == Errc::truncated);
  }
  // The empty field itself opens to nothing.
  auto opened = sc::open_field(key, ctx.view(), *sealed);
  REQUIRE(opened.has_value());
  CHECK(opened->empty());
}

TEST_CASE("unknown format versions are refused", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  auto sealed = sc::seal_field(key, ctx.view(), bytes_of("v"));
  REQUIRE(sealed.has_value());
  for (std::uint8_t v : {std::uint8_t{0x00}, std::uint8_t{0x02}, std::uint8_t{0xff}}) {
    Bytes t = *sealed;
    t[0] = v;
    CHECK(errc_of(sc::open_field(key, ctx.view(), t)) == Errc::unsupported_format);
    CHECK(errc_of(sc::sealed_field_key_version(t)) == Errc::unsupported_format);
  }
}

TEST_CASE("sealed_field_key_version reads the header", "[field]") {
  const auto key = sc::DataKey::random();
  Ctx ctx;
  ctx.key_version = sc::DataKeyVersion{0x01020304};
  auto sealed = sc::seal_field(key, ctx.view(), bytes_of("x"));
  REQUIRE(sealed.has_value());
  auto v = sc::sealed_field_key_version(*sealed);
  REQUIRE(v.has_value());
  CHECK(v->value == 0x01020304U);
  CHECK((*sealed)[1] == 0x01);
  CHECK((*sealed)[4] == 0x04);
}

TEST_CASE("open_field_into zeroises its output on every failure", "[field]") {
  const auto key = sc::DataKey::random();
  const Ctx ctx;
  const Bytes plain(100, 0x77);
  auto sealed = sc::seal_field(key, ctx.view(), plain);
  REQUIRE(sealed.has_value());

  Bytes out(plain.size());
  auto n = sc::open_field_into(key, ctx.view(), *sealed, out);
  REQUIRE(n.has_value());
  CHECK(*n == plain.size());
  CHECK(out == plain);

  auto expect_wiped = [&](std::span<const std::uint8_t> input, Errc want, std::size_t out_size) {
    Bytes o(out_size, 0xaa);
    CHECK(errc_of(sc::open_field_into(key, ctx.view(), input, o)) == want);
    CHECK(all_zero(o));
  };
  Bytes tampered = *sealed;
  tampered.back() ^= 1;
  expect_wiped(tampered, Errc::authentication_failed, plain.size());
  expect_wiped(std::span(sealed->data(), 10), Errc::truncated, plain.size());
  expect_wiped(*sealed, Errc::invalid_argument, plain.size() - 1);  // output too small
  Bytes bad_version = *sealed;
  bad_version[4] ^= 1;
  expect_wiped(bad_version, Errc::wrong_key_version, plain.size());
}

TEST_CASE("field known-answer vectors (field_v1.vec)", "[field][vectors]") {
  const auto records = sluis::test::load_vectors("field_v1.vec");
  int seals = 0;
  int opens = 0;
  for (const auto& r : records) {
    INFO("vector '" << r.at("name") << "' at line " << r.line);
    const auto key = sc::DataKey::copy_of(fixed<32>(hex(r.at("key"))));
    const std::string field_name = r.at("field");
    const std::string category = r.at("category");
    const sc::FieldContext ctx{
        sc::FragmentId::from(fixed<16>(hex(r.at("fragment")))), field_name, category,
        sc::ClientId::from(fixed<16>(hex(r.at("client")))),
        sc::DataKeyVersion{static_cast<std::uint32_t>(std::stoul(r.at("key_version")))}};
    const Bytes sealed = hex(r.at("sealed"));
    if (r.at("op") == "seal") {
      ++seals;
      REQUIRE(r.at("expect") == "ok");
      // The AD encoding, byte for byte.
      std::array<std::uint8_t, sc::detail::kMaxFieldAdSize> ad{};
      auto ad_len = sc::detail::encode_field_ad(ctx, ad);
      REQUIRE(ad_len.has_value());
      CHECK(sc::to_hex(std::span(ad.data(), *ad_len)) == r.at("ad"));
      // Deterministic seal with the vector's nonce.
      const Bytes plain = hex(r.at("plaintext"));
      const auto nonce = fixed<24>(hex(r.at("nonce")));
      Bytes out(plain.size() + sc::kFieldOverhead);
      REQUIRE(sc::detail::seal_field_with_nonce(key, ctx, nonce, plain, out).has_value());
      CHECK(sc::to_hex(out) == r.at("sealed"));
      auto opened = sc::open_field(key, ctx, sealed);
      REQUIRE(opened.has_value());
      CHECK(std::equal(opened->begin(), opened->end(), plain.begin(), plain.end()));
    } else {
      ++opens;
      REQUIRE(r.at("op") == "open");
      REQUIRE(r.at("expect") != "ok");
      CHECK(errc_of(sc::open_field(key, ctx, sealed)) == errc_named(r.at("expect")));
    }
  }
  CHECK(seals >= 4);
  CHECK(opens >= 10);
}

TEST_CASE("the first field vector's AD matches the hand-written encoding", "[field][vectors]") {
  // Written out by hand from docs/crypto/field-format.md, independently of any encoder.
  const std::string expected = "0e"                                // label length 14
                               "736c7569732f6669656c642f7631"      // "sluis/field/v1"
                               "01"                                // format version
                               "00112233445566778899aabbccddeeff"  // fragment id
                               "05"
                               "70686f6e65"  // "phone"
                               "07"
                               "636f6e74616374"                    // "contact"
                               "f0e1d2c3b4a5968778695a4b3c2d1e0f"  // client id
                               "00000007";                         // data-key version, big-endian
  const auto frag = fixed<16>(hex("00112233445566778899aabbccddeeff"));
  const auto client = fixed<16>(hex("f0e1d2c3b4a5968778695a4b3c2d1e0f"));
  const sc::FieldContext ctx{sc::FragmentId::from(frag), "phone", "contact",
                             sc::ClientId::from(client), sc::DataKeyVersion{7}};
  std::array<std::uint8_t, sc::detail::kMaxFieldAdSize> ad{};
  auto n = sc::detail::encode_field_ad(ctx, ad);
  REQUIRE(n.has_value());
  CHECK(sc::to_hex(std::span(ad.data(), *n)) == expected);
  CHECK(sluis::test::load_vectors("field_v1.vec").front().at("ad") == expected);
}
