// Card codes and service pseudonyms: known answers, round trips, exhaustive typo detection.
#include "sluis/crypto/card.hpp"

#include "sluis/crypto/encoding.hpp"
#include "vectors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using sluis::crypto::CardSecret;
using sluis::crypto::Errc;
using sluis::crypto::kCardAlphabet;

namespace {

CardSecret secret_from_hex(const std::string& hex) {
  auto bytes = sluis::crypto::from_hex(hex);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() == CardSecret::kSize);
  return CardSecret::copy_of(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

std::string hex_of(const CardSecret& s) {
  return sluis::crypto::to_hex(s.reveal());
}

std::string without_dashes(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
  return s;
}

template <class T> boost::system::error_code error_of(const sluis::crypto::Result<T>& r) {
  return r.has_error() ? r.error() : boost::system::error_code{};
}

const boost::system::error_code kBadCode = make_error_code(Errc::bad_card_code);
const boost::system::error_code kBadCheck = make_error_code(Errc::bad_check_character);

/// Random secrets plus the edges of the range (all zero, all ones, top bit only).
std::vector<CardSecret> sample_secrets(std::size_t random_count) {
  std::vector<CardSecret> out;
  out.push_back(secret_from_hex("00000000000000000000000000000000"));
  out.push_back(secret_from_hex("ffffffffffffffffffffffffffffffff"));
  out.push_back(secret_from_hex("80000000000000000000000000000000"));
  out.push_back(secret_from_hex("00000000000000000000000000000001"));
  for (std::size_t i = 0; i < random_count; ++i)
    out.push_back(sluis::crypto::new_card_secret());
  return out;
}

}  // namespace

TEST_CASE("card known-answer vectors", "[card]") {
  const auto records = sluis::test::load_vectors("card_v1.vec");
  std::size_t negatives = 0;
  for (const auto& r : records) {
    INFO("vector '" << r.at("name") << "' at line " << r.line);
    const std::string& type = r.at("type");
    const std::string& expect = r.at("expect");
    if (expect != "ok") ++negatives;
    if (type == "format") {
      REQUIRE(expect == "ok");
      CHECK(sluis::crypto::format_card_code(secret_from_hex(r.at("secret"))) == r.at("code"));
    } else if (type == "parse") {
      const auto got = sluis::crypto::parse_card_code(r.at("code"));
      if (expect == "ok") {
        REQUIRE(got.has_value());
        CHECK(hex_of(*got) == r.at("secret"));
      } else if (expect == "bad_card_code") {
        CHECK(error_of(got) == kBadCode);
      } else {
        REQUIRE(expect == "bad_check_character");
        CHECK(error_of(got) == kBadCheck);
      }
    } else if (type == "service_pseudonym") {
      const auto p =
          sluis::crypto::service_pseudonym(secret_from_hex(r.at("secret")), r.at("service"));
      REQUIRE((expect == "ok" || expect == "mismatch"));
      CHECK((p == r.at("pseudonym")) == (expect == "ok"));
      CHECK(sluis::crypto::looks_like_service_pseudonym(r.at("pseudonym")));
    } else {
      FAIL("unknown record type " << type);
    }
  }
  CHECK(records.size() >= 30);
  CHECK(negatives >= 10);
}

TEST_CASE("card codes round-trip and have the documented shape", "[card]") {
  const auto secrets = sample_secrets(2000);
  std::set<std::string> codes;
  for (const auto& s : secrets) {
    const std::string code = sluis::crypto::format_card_code(s);
    REQUIRE(code.size() == sluis::crypto::kCardCodeLength);
    for (std::size_t i = 0; i < code.size(); ++i) {
      if (i % 4 == 3) {
        CHECK(code[i] == '-');
      } else {
        CHECK(kCardAlphabet.find(code[i]) != std::string_view::npos);
      }
    }
    const auto back = sluis::crypto::parse_card_code(code);
    REQUIRE(back.has_value());
    CHECK(*back == s);
    CHECK(codes.insert(code).second);
  }
  // Leading zeros are kept: the zero secret is 27 zeros, and small values are padded.
  CHECK(sluis::crypto::format_card_code(secrets[0]) == "000-000-000-000-000-000-000-000-000");
  CHECK(sluis::crypto::format_card_code(secrets[3]).substr(0, 32) ==
        "000-000-000-000-000-000-000-000-");
}

TEST_CASE("every single substitution and adjacent transposition is caught (exhaustive)", "[card]") {
  const auto secrets = sample_secrets(60);
  std::size_t substitutions = 0;
  std::size_t transpositions = 0;
  for (const auto& s : secrets) {
    const std::string code = without_dashes(sluis::crypto::format_card_code(s));
    REQUIRE(code.size() == sluis::crypto::kCardSymbols);
    for (std::size_t pos = 0; pos < code.size(); ++pos) {
      for (const char other : kCardAlphabet) {
        if (other == code[pos]) continue;
        std::string typo = code;
        typo[pos] = other;
        const auto r = sluis::crypto::parse_card_code(typo);
        if (error_of(r) != kBadCheck) FAIL_CHECK("undetected substitution at " << pos);
        ++substitutions;
      }
    }
    for (std::size_t pos = 0; pos + 1 < code.size(); ++pos) {
      if (code[pos] == code[pos + 1]) continue;  // swapping equal symbols changes nothing
      std::string swapped = code;
      std::swap(swapped[pos], swapped[pos + 1]);
      if (error_of(sluis::crypto::parse_card_code(swapped)) != kBadCheck) {
        FAIL_CHECK("undetected adjacent swap at " << pos);
      }
      ++transpositions;
    }
  }
  CHECK(substitutions == secrets.size() * 27 * 30);
  CHECK(transpositions > secrets.size() * 20);
}

TEST_CASE("swaps at any distance are caught too (weights differ mod 31)", "[card]") {
  const auto secrets = sample_secrets(16);
  for (const auto& s : secrets) {
    const std::string code = without_dashes(sluis::crypto::format_card_code(s));
    for (std::size_t i = 0; i < code.size(); ++i) {
      for (std::size_t j = i + 1; j < code.size(); ++j) {
        if (code[i] == code[j]) continue;
        std::string swapped = code;
        std::swap(swapped[i], swapped[j]);
        if (error_of(sluis::crypto::parse_card_code(swapped)) != kBadCheck) {
          FAIL_CHECK("undetected swap of " << i << " and " << j);
        }
      }
    }
  }
}

TEST_CASE("parsing forgives case, spaces and dashes", "[card]") {
  const auto s = sluis::crypto::new_card_secret();
  const std::string code = sluis::crypto::format_card_code(s);
  const std::string flat = without_dashes(code);
  std::string lower = code;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  std::string spaced;
  for (const char c : flat) {
    spaced += c;
    spaced += ' ';
  }
  std::string mixed;
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const char c = flat[i];
    mixed += (i % 2 == 0 && c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (i % 5 == 4) mixed += " - ";
  }
  for (const std::string& variant :
       {code, lower, flat, spaced, mixed, "  " + code + "  ", "--" + flat + "--",
        flat.substr(0, 13) + "   " + flat.substr(13), std::string(90, ' ') + flat}) {
    INFO(variant);
    const auto r = sluis::crypto::parse_card_code(variant);
    REQUIRE(r.has_value());
    CHECK(*r == s);
  }
}

TEST_CASE("parsing is strict about everything else", "[card]") {
  const auto s = sluis::crypto::new_card_secret();
  const std::string flat = without_dashes(sluis::crypto::format_card_code(s));

  SECTION("every byte outside the alphabet, replacing a symbol or inserted") {
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      if (c == ' ' || c == '-') continue;
      const char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
      if (kCardAlphabet.find(upper) != std::string_view::npos) continue;
      INFO("byte " << b);
      std::string replaced = flat;
      replaced[5] = c;
      CHECK(error_of(sluis::crypto::parse_card_code(replaced)) == kBadCode);
      CHECK(error_of(sluis::crypto::parse_card_code(flat + std::string(1, c))) == kBadCode);
      CHECK(error_of(sluis::crypto::parse_card_code(std::string(1, c) + flat)) == kBadCode);
    }
  }
  SECTION("the confusable letters I L O U (and the dropped Z) in either case") {
    for (const char c : std::string_view("ILOUZilouz")) {
      std::string replaced = flat;
      replaced[0] = c;
      CHECK(error_of(sluis::crypto::parse_card_code(replaced)) == kBadCode);
    }
  }
  SECTION("Unicode look-alikes and separators") {
    for (const std::string& u : {std::string("\xc3\x89"),      // É
                                 std::string("\xef\xbc\x90"),  // fullwidth zero
                                 std::string("\xc2\xa0"),      // no-break space
                                 std::string("\xe2\x80\x93"),  // en dash
                                 std::string("\xe2\x80\x8b"),  // zero-width space
                                 std::string("\xd0\x90")}) {   // Cyrillic A
      CHECK(error_of(sluis::crypto::parse_card_code(flat.substr(0, 9) + u + flat.substr(9))) ==
            kBadCode);
    }
  }
  SECTION("too short or too long") {
    for (std::size_t n = 0; n < flat.size(); ++n) {
      CHECK(error_of(sluis::crypto::parse_card_code(flat.substr(0, n))) == kBadCode);
    }
    for (const char extra : kCardAlphabet) {
      CHECK(error_of(sluis::crypto::parse_card_code(flat + extra)) == kBadCode);
    }
    CHECK(error_of(sluis::crypto::parse_card_code(flat + flat)) == kBadCode);
    // Over kMaxCardCodeInput bytes is refused even if only separators make up the excess.
    const std::string padded =
        std::string(sluis::crypto::kMaxCardCodeInput - flat.size(), ' ') + flat;
    CHECK(sluis::crypto::parse_card_code(padded).has_value());
    CHECK(error_of(sluis::crypto::parse_card_code(" " + padded)) == kBadCode);
  }
  SECTION("values of 2^128 and above, even with a correct check symbol") {
    // 2^128 / 31^25 is about 17.7, so a leading symbol of value 18 ('J') or more overflows.
    // For each such prefix exactly one check symbol satisfies the check; it must still fail.
    for (std::size_t lead = 18; lead < kCardAlphabet.size(); ++lead) {
      std::string data = std::string(1, kCardAlphabet[lead]) + flat.substr(1, 25);
      int range_errors = 0;
      for (const char check : kCardAlphabet) {
        const auto e = error_of(sluis::crypto::parse_card_code(data + check));
        CHECK((e == kBadCode || e == kBadCheck));
        if (e == kBadCode) ++range_errors;
      }
      CHECK(range_errors == 1);
    }
    // The largest secret still parses; see the vectors for the codes of 2^128 and 31^26 - 1.
    const auto max = secret_from_hex("ffffffffffffffffffffffffffffffff");
    CHECK(sluis::crypto::parse_card_code(sluis::crypto::format_card_code(max)).has_value());
  }
}

TEST_CASE("service pseudonyms: stable per service, unrelated across services and cards", "[card]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto card = sluis::crypto::new_card_secret();
    const auto at_shelter = sluis::crypto::service_pseudonym(card, "nachtopvang-gent");
    const auto at_street = sluis::crypto::service_pseudonym(card, "straatwerk-antwerpen");
    CHECK(at_shelter == sluis::crypto::service_pseudonym(card, "nachtopvang-gent"));
    CHECK(at_shelter != at_street);
    CHECK(at_shelter.substr(4, 8) != at_street.substr(4, 8));
    CHECK(sluis::crypto::looks_like_service_pseudonym(at_shelter));
    CHECK(sluis::crypto::looks_like_service_pseudonym(at_street));
    CHECK(at_shelter.size() == sluis::crypto::kServicePseudonymLength);
    // Parsing the printed code gives the same pseudonym as the original secret.
    const std::string code = sluis::crypto::format_card_code(card);
    CHECK(sluis::crypto::service_pseudonym(sluis::crypto::parse_card_code(code).value(),
                                           "nachtopvang-gent") == at_shelter);
    CHECK(seen.insert(at_shelter).second);
    CHECK(seen.insert(at_street).second);
  }
}

TEST_CASE("looks_like_service_pseudonym accepts exactly sp1- and 64 lowercase hex", "[card]") {
  const std::string good = "sp1-" + std::string(64, 'a');
  CHECK(sluis::crypto::looks_like_service_pseudonym(good));
  CHECK(sluis::crypto::looks_like_service_pseudonym("sp1-" + std::string(32, '0') +
                                                    std::string(32, 'f')));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym(""));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp1-"));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym(good.substr(0, 67)));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym(good + "a"));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("SP1-" + std::string(64, 'a')));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp2-" + std::string(64, 'a')));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp1_" + std::string(64, 'a')));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp1-" + std::string(64, 'A')));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp1-" + std::string(63, 'a') + "g"));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("sp1-" + std::string(63, 'a') + '\0'));
  CHECK_FALSE(sluis::crypto::looks_like_service_pseudonym("p1" + std::string(26, 'a')));
}

TEST_CASE("card secrets are random and never printed", "[card]") {
  const auto a = sluis::crypto::new_card_secret();
  const auto b = sluis::crypto::new_card_secret();
  CHECK_FALSE(a == b);
  std::ostringstream os;
  os << a;
  CHECK(os.str() == "<redacted:16B>");
  CHECK(os.str().find(hex_of(a).substr(0, 6)) == std::string::npos);
}

TEST_CASE("short codes: the card code's alphabet and check over fewer symbols", "[card][short-code]") {
  using sluis::crypto::format_short_code;
  using sluis::crypto::parse_short_code;
  // Known answers: 0 is all zeros with check 0; 1 has check c with 8*1 + 9*c = 0 (mod 31):
  // 9^-1 = 7 (63 = 2*31 + 1), c = -8*7 = -56 = 6 (mod 31).
  CHECK(format_short_code(0, 8) == "000-000-000");
  CHECK(format_short_code(1, 8) == "000-000-016");
  // The largest 36-bit value (what a consent reference carries) fits 8 symbols.
  const std::uint64_t top = (std::uint64_t{1} << 36) - 1;
  const auto top_code = format_short_code(top, 8);
  CHECK(top_code.size() == 11);
  CHECK(*parse_short_code(top_code, 8) == top);
  // Out of range: no code.
  CHECK(format_short_code(852891037441ULL, 8).empty());  // 31^8
  CHECK(format_short_code(1, 0).empty());
  CHECK(format_short_code(1, sluis::crypto::kMaxShortCodeSymbols + 1).empty());

  // Round trips, forgiving parsing, and every single typo and adjacent swap caught.
  std::size_t substitutions = 0;
  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{30}, std::uint64_t{31},
                          std::uint64_t{123456789}, std::uint64_t{0xabcdef012}, top}) {
    const auto code = format_short_code(v, 8);
    REQUIRE(code.size() == 11);
    CHECK(*parse_short_code(code, 8) == v);
    std::string lower = without_dashes(code);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    CHECK(*parse_short_code(lower, 8) == v);
    CHECK(*parse_short_code(" " + code.substr(0, 4) + " " + code.substr(4), 8) == v);
    const std::string plain = without_dashes(code);
    for (std::size_t pos = 0; pos < plain.size(); ++pos) {
      for (const char other : kCardAlphabet) {
        if (other == plain[pos]) continue;
        std::string typo = plain;
        typo[pos] = other;
        if (error_of(parse_short_code(typo, 8)) != kBadCheck) {
          FAIL_CHECK("undetected substitution at " << pos << " in " << code);
        }
        ++substitutions;
      }
    }
    for (std::size_t pos = 0; pos + 1 < plain.size(); ++pos) {
      if (plain[pos] == plain[pos + 1]) continue;
      std::string swapped = plain;
      std::swap(swapped[pos], swapped[pos + 1]);
      if (error_of(parse_short_code(swapped, 8)) != kBadCheck) {
        FAIL_CHECK("undetected adjacent swap at " << pos << " in " << code);
      }
    }
  }
  CHECK(substitutions == 7 * 9 * 30);
  // Strict about everything else.
  CHECK(error_of(parse_short_code("000-000-00", 8)) == kBadCode);     // too short
  CHECK(error_of(parse_short_code("000-000-0000", 8)) == kBadCode);   // too long
  CHECK(error_of(parse_short_code("000-000-00O", 8)) == kBadCode);    // O is not a symbol
  CHECK(error_of(parse_short_code("000_000_000", 8)) == kBadCode);
  CHECK(error_of(parse_short_code(std::string(200, '0'), 8)) == kBadCode);
  CHECK(error_of(parse_short_code("000-000-000", 0)) == kBadCode);
}
