// Identifier normalisation and keyed pseudonyms: known answers, stability, domain separation.
#include "sluis/crypto/pseudonym.hpp"

#include "sluis/crypto/encoding.hpp"
#include "vectors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using sluis::crypto::ClientId;
using sluis::crypto::Errc;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::SubKey;

namespace {

SubKey key_from_hex(const std::string& hex) {
  auto bytes = sluis::crypto::from_hex(hex);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() == SubKey::kSize);
  return SubKey::copy_of(std::span<const std::uint8_t, 32>(bytes->data(), 32));
}

ClientId client_from_hex(const std::string& hex) {
  auto bytes = sluis::crypto::from_hex(hex);
  REQUIRE(bytes.has_value());
  REQUIRE(bytes->size() == 16);
  return ClientId::from(std::span<const std::uint8_t, 16>(bytes->data(), 16));
}

IdentifierScheme scheme_from(const std::string& name) {
  if (name == "national_register") return IdentifierScheme::national_register;
  if (name == "bis") return IdentifierScheme::bis;
  REQUIRE(name == "case_number");
  return IdentifierScheme::case_number;
}

bool is_base32_lower(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); });
}

/// Builds an 11-digit number from its first nine digits with the check of the given century.
std::string with_check(const std::string& first9, bool born_2000s) {
  const std::uint64_t n = std::stoull(first9) + (born_2000s ? 2'000'000'000ULL : 0);
  const auto cc = 97 - n % 97;
  return first9 + (cc < 10 ? "0" : "") + std::to_string(cc);
}

}  // namespace

TEST_CASE("pseudonym known-answer vectors", "[pseudonym]") {
  const auto records = sluis::test::load_vectors("pseudonym_v1.vec");
  std::size_t checked = 0;
  for (const auto& r : records) {
    INFO("vector '" << r.at("name") << "' at line " << r.line);
    const std::string& type = r.at("type");
    const std::string& expect = r.at("expect");
    if (type == "normalise") {
      const auto got = sluis::crypto::normalise_identifier(
          scheme_from(r.at("scheme")), r.at("input"), r.get("partner", "partner-x"));
      if (expect == "ok") {
        REQUIRE(got.has_value());
        CHECK(*got == r.at("normal"));
      } else {
        REQUIRE(expect == "invalid_argument");
        REQUIRE(got.has_error());
        CHECK(got.error() == make_error_code(Errc::invalid_argument));
      }
    } else if (type == "identifier_digest") {
      const auto d = sluis::crypto::identifier_digest(
          key_from_hex(r.at("key")), scheme_from(r.at("scheme")), r.at("normalised"));
      CHECK((sluis::crypto::to_hex(d) == r.at("digest")) == (expect == "ok"));
    } else if (type == "partner_pseudonym") {
      const auto p = sluis::crypto::partner_pseudonym(key_from_hex(r.at("key")), r.at("partner"),
                                                      client_from_hex(r.at("client")));
      CHECK((p == r.at("pseudonym")) == (expect == "ok"));
    } else if (type == "audit_pseudonym") {
      const auto p = sluis::crypto::audit_pseudonym(key_from_hex(r.at("key")),
                                                    client_from_hex(r.at("client")));
      CHECK((p == r.at("pseudonym")) == (expect == "ok"));
    } else if (type == "service_pseudonym_digest") {
      const auto d = sluis::crypto::service_pseudonym_digest(key_from_hex(r.at("key")),
                                                             r.at("service"), r.at("pseudonym"));
      CHECK((sluis::crypto::to_hex(d) == r.at("digest")) == (expect == "ok"));
    } else {
      FAIL("unknown record type " << type);
    }
    if (type != "normalise") REQUIRE((expect == "ok" || expect == "mismatch"));
    ++checked;
  }
  CHECK(checked == records.size());
  CHECK(checked >= 60);
}

TEST_CASE("national register numbers of both centuries normalise to 11 digits", "[pseudonym]") {
  using sluis::crypto::normalise_identifier;
  constexpr auto kNr = IdentifierScheme::national_register;
  // Same birth date and serial, one check per century: both are accepted (the number itself does
  // not say the century), and they are different numbers.
  const std::string born_1985 = with_check("850730033", false);
  const std::string born_2085 = with_check("850730033", true);
  CHECK(born_1985 == "85073003328");
  CHECK(normalise_identifier(kNr, born_1985, "").value() == born_1985);
  CHECK(normalise_identifier(kNr, born_2085, "").value() == born_2085);
  CHECK(normalise_identifier(kNr, "85-07-30 033.28", "").value() == born_1985);
  CHECK(normalise_identifier(kNr, "85..07--30  033 28", "").value() == born_1985);
  // Only the separators named in the contract are removed.
  for (const char* bad : {"85073003328\n", "\t85073003328", "85/07/30/033/28", "85_07_30_033_28",
                          "+85073003328", "85073003328x", "850730033 2 8 0", "８5073003328"}) {
    INFO(bad);
    CHECK(normalise_identifier(kNr, bad, "").error() == make_error_code(Errc::invalid_argument));
  }
}

TEST_CASE("a wrong check number is rejected for every other value of CC", "[pseudonym]") {
  const std::string first9 = "930518223";
  const std::string good_1900 = with_check(first9, false);
  const std::string good_2000 = with_check(first9, true);
  int accepted = 0;
  for (int cc = 0; cc < 100; ++cc) {
    const std::string n = first9 + (cc < 10 ? "0" : "") + std::to_string(cc);
    const auto r = sluis::crypto::normalise_identifier(IdentifierScheme::national_register, n, "");
    if (n == good_1900 || n == good_2000) {
      CHECK(r.has_value());
      ++accepted;
    } else {
      CHECK(r.has_error());
    }
  }
  CHECK(accepted == 2);
  CHECK(good_1900 == "93051822361");  // the worked example the National Register publishes
}

TEST_CASE("BIS month rules: +20 and +40 accepted, register months rejected", "[pseudonym]") {
  using sluis::crypto::normalise_identifier;
  for (int month_field = 0; month_field < 100; ++month_field) {
    const std::string mm = (month_field < 10 ? "0" : "") + std::to_string(month_field);
    const std::string first9 = "85" + mm + "00" + "017";  // day 00: valid for every real month
    const bool bis_month =
        (month_field >= 20 && month_field <= 32) || (month_field >= 40 && month_field <= 52);
    const bool nn_month = month_field <= 12;
    for (const bool born_2000s : {false, true}) {
      const std::string n = with_check(first9, born_2000s);
      INFO(n);
      CHECK(normalise_identifier(IdentifierScheme::bis, n, "").has_value() == bis_month);
      CHECK(normalise_identifier(IdentifierScheme::national_register, n, "").has_value() ==
            nn_month);
    }
  }
  // A known BIS month applies the calendar: 31 June (+40) is not a date, 30 June is.
  CHECK(
      normalise_identifier(IdentifierScheme::bis, with_check("854631001", false), "").has_error());
  CHECK(
      normalise_identifier(IdentifierScheme::bis, with_check("854630001", false), "").has_value());
  CHECK(normalise_identifier(IdentifierScheme::bis, with_check("852630001", true), "").has_value());
}

TEST_CASE("case numbers are trimmed, bounded and scoped to the partner", "[pseudonym]") {
  using sluis::crypto::normalise_identifier;
  constexpr auto kCase = IdentifierScheme::case_number;
  CHECK(normalise_identifier(kCase, " \t 2024/0042 \r\n", "caw-brussel").value() ==
        "caw-brussel:2024/0042");
  CHECK(normalise_identifier(kCase, "a  b", "p").value() == "p:a  b");  // inner spaces kept
  CHECK(normalise_identifier(kCase, "AbC", "p").value() == "p:AbC");    // case kept
  CHECK(normalise_identifier(kCase, "~!", "p").value() == "p:~!");
  CHECK(normalise_identifier(kCase, std::string(64, 'z'), "p").has_value());
  CHECK(normalise_identifier(kCase, "  " + std::string(64, 'z') + "  ", "p").has_value());
  for (const std::string& bad :
       {std::string(), std::string("   "), std::string(65, 'z'), std::string("a\tb"),
        std::string("a\x7f"), std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    CHECK(normalise_identifier(kCase, bad, "p").error() == make_error_code(Errc::invalid_argument));
  }
  for (const std::string& bad_partner : {std::string(), std::string("a:b"), std::string("a b"),
                                         std::string(256, 'p'), std::string("p\xc3\xa9")}) {
    CHECK(normalise_identifier(kCase, "42", bad_partner).has_error());
  }
  CHECK(normalise_identifier(kCase, "42", std::string(255, 'p')).has_value());
  CHECK(normalise_identifier(kCase, "42", "a").value() !=
        normalise_identifier(kCase, "42", "b").value());
}

TEST_CASE("normalisation errors never carry the identifier", "[pseudonym]") {
  const std::string secret_number = "85073003329";  // bad check
  const auto r =
      sluis::crypto::normalise_identifier(IdentifierScheme::national_register, secret_number, "");
  REQUIRE(r.has_error());
  const std::string text = r.error().message() + " " + r.error().to_string();
  CHECK(text.find("8507") == std::string::npos);
  CHECK(text.find("3329") == std::string::npos);
}

TEST_CASE("partner pseudonyms are stable, well-formed and unrelated across partners",
          "[pseudonym]") {
  const auto key = SubKey::random();
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto client = ClientId::random();
    const auto at_caw = sluis::crypto::partner_pseudonym(key, "caw-brussel", client);
    const auto at_ocmw = sluis::crypto::partner_pseudonym(key, "ocmw-gent", client);
    CHECK(at_caw == sluis::crypto::partner_pseudonym(key, "caw-brussel", client));
    CHECK(at_caw != at_ocmw);
    for (const auto& p : {at_caw, at_ocmw}) {
      REQUIRE(p.size() == 28);
      CHECK(p.substr(0, 2) == "p1");
      CHECK(is_base32_lower(p.substr(2)));
      // 26 characters carry 128 bits: the last one holds 3 bits and two zero bits, so it is
      // one of the characters whose value is a multiple of 4.
      CHECK(std::string_view("aeimquy4").find(p.back()) != std::string_view::npos);
    }
    // Unrelated, not merely different: no shared prefix beyond chance.
    std::size_t common = 0;
    while (common < 26 && at_caw[2 + common] == at_ocmw[2 + common])
      ++common;
    CHECK(common < 6);
    CHECK(seen.insert(at_caw).second);
    CHECK(seen.insert(at_ocmw).second);
  }
  // Another key (another gateway) gives other pseudonyms.
  const auto client = ClientId::random();
  CHECK(sluis::crypto::partner_pseudonym(key, "p", client) !=
        sluis::crypto::partner_pseudonym(SubKey::random(), "p", client));
}

TEST_CASE("audit pseudonyms differ from every partner pseudonym of the client", "[pseudonym]") {
  // The same key bytes on purpose: the domain labels alone must keep the outputs apart.
  const auto key = SubKey::random();
  const auto client = ClientId::random();
  const auto audit = sluis::crypto::audit_pseudonym(key, client);
  CHECK(audit.substr(0, 2) == "a1");
  CHECK(audit.size() == 28);
  CHECK(audit == sluis::crypto::audit_pseudonym(key, client));
  const auto partner = sluis::crypto::partner_pseudonym(key, "", client);
  CHECK(audit.substr(2) != partner.substr(2));
  CHECK(audit != sluis::crypto::audit_pseudonym(key, ClientId::random()));
}

TEST_CASE("identifier and service-index digests are domain separated", "[pseudonym]") {
  const auto key = SubKey::random();
  using sluis::crypto::identifier_digest;
  const auto nn = identifier_digest(key, IdentifierScheme::national_register, "85073003328");
  CHECK(nn == identifier_digest(key, IdentifierScheme::national_register, "85073003328"));
  CHECK(nn != identifier_digest(key, IdentifierScheme::bis, "85073003328"));
  CHECK(nn != identifier_digest(key, IdentifierScheme::case_number, "85073003328"));
  CHECK(nn !=
        identifier_digest(SubKey::random(), IdentifierScheme::national_register, "85073003328"));
  // Same key, inputs lined up so that an unlabelled, unprefixed hash would collide.
  CHECK(identifier_digest(key, IdentifierScheme::case_number, "a:b") !=
        sluis::crypto::service_pseudonym_digest(key, "a:", "b"));
  CHECK(sluis::crypto::service_pseudonym_digest(key, "ab", "c") !=
        sluis::crypto::service_pseudonym_digest(key, "a", "bc"));
  CHECK(sluis::crypto::service_pseudonym_digest(key, "s", "sp1-x") ==
        sluis::crypto::service_pseudonym_digest(key, "s", "sp1-x"));
}
