// Test tool: card codes, parse outcomes and service pseudonyms computed by crypto/src/card.cpp,
// printed as JSON lines for tests/console/pseudonym_test.mjs (which checks pseudonym.js agrees);
// with --parse SERVICE, the C++ parser's answer for codes read from standard input.
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crypto = sluis::crypto;

namespace {

// splitmix64: a fixed sequence, so every run prints the same vectors.
std::uint64_t next(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

std::string hex_of(std::string_view text) {
  return crypto::to_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

crypto::CardSecret secret_from(const std::array<std::uint8_t, 16>& bytes) {
  crypto::CardSecret s;
  auto out = s.reveal_mut();
  for (std::size_t i = 0; i < bytes.size(); ++i)
    out[i] = bytes[i];
  return s;
}

// What parse_card_code answers for `input`: "ok:<secret hex>" or the error's name.
std::string outcome(std::string_view input) {
  auto r = crypto::parse_card_code(input);
  if (r) return "ok:" + crypto::to_hex(r->reveal());
  if (r.error() == crypto::Errc::bad_check_character) return "bad_check_character";
  if (r.error() == crypto::Errc::bad_card_code) return "bad_card_code";
  return "other:" + std::to_string(r.error().value());
}

void print_parse(std::string_view input) {
  std::printf("{\"type\":\"parse\",\"input_hex\":\"%s\",\"expect\":\"%s\"}\n",
              hex_of(input).c_str(), outcome(input).c_str());
}

// `--parse SERVICE`: reads card codes, one a line, from standard input (codes the browser made,
// tests/console/pseudonym_test.mjs) and prints what parse_card_code answers for each, with the
// service pseudonym at SERVICE when it parses: {"code":…,"outcome":"ok:<hex>","pseudonym":…}.
int parse_codes(std::string_view service) {
  char line[256];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    std::string code(line);
    while (!code.empty() && (code.back() == '\n' || code.back() == '\r'))
      code.pop_back();
    auto r = crypto::parse_card_code(code);
    std::printf("{\"code\":\"%s\",\"outcome\":\"%s\",\"pseudonym\":\"%s\"}\n", code.c_str(),
                outcome(code).c_str(),
                r ? crypto::service_pseudonym(*r, service).c_str() : "");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--parse") return parse_codes(argv[2]);
  const std::vector<std::string> services = {
      "nachtopvang",
      "nachtopvang-gent",
      "straatwerk-antwerpen",
      "maison-m\xC3\xA9"
      "dicale-schaerbeek",
      "caw-brussel",
      "a",
      "\xE6\x97\xA5\xE6\x9C\xAC-\xF0\x9F\x8F\xA0",  // CJK and an emoji (4-byte UTF-8)
      std::string(200, 'x')};

  std::vector<std::array<std::uint8_t, 16>> secrets;
  secrets.push_back({});
  std::array<std::uint8_t, 16> ones{};
  ones.fill(0xFF);
  secrets.push_back(ones);
  std::array<std::uint8_t, 16> top{};
  top[0] = 0x80;
  secrets.push_back(top);
  std::array<std::uint8_t, 16> counting{};
  for (std::size_t i = 0; i < 16; ++i)
    counting[i] = static_cast<std::uint8_t>(i);
  secrets.push_back(counting);
  std::uint64_t state = 20261206;
  for (int k = 0; k < 200; ++k) {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 16; i += 8) {
      const std::uint64_t v = next(state);
      for (std::size_t j = 0; j < 8; ++j)
        b[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
    }
    secrets.push_back(b);
  }

  const std::string_view alphabet = crypto::kCardAlphabet;
  for (std::size_t k = 0; k < secrets.size(); ++k) {
    const auto secret = secret_from(secrets[k]);
    const std::string code = crypto::format_card_code(secret);
    std::printf("{\"type\":\"format\",\"secret\":\"%s\",\"code\":\"%s\"}\n",
                crypto::to_hex(secrets[k]).c_str(), code.c_str());
    for (std::size_t s = 0; s < services.size(); s += (k < 4 ? 1 : 3)) {
      std::printf("{\"type\":\"pseudonym\",\"secret\":\"%s\",\"service_hex\":\"%s\","
                  "\"pseudonym\":\"%s\"}\n",
                  crypto::to_hex(secrets[k]).c_str(), hex_of(services[s]).c_str(),
                  crypto::service_pseudonym(secret, services[s]).c_str());
    }

    // How people mistype: every parse outcome is the C++ parser's.
    std::string bare;
    for (const char c : code)
      if (c != '-') bare.push_back(c);
    std::string lower = bare;
    for (auto& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    print_parse(code);
    print_parse(lower);
    print_parse(" " + code.substr(0, 11) + "  " + code.substr(11) + " ");
    const auto pos = static_cast<std::size_t>(next(state) % bare.size());
    std::string wrong = bare;
    wrong[pos] = alphabet[(alphabet.find(wrong[pos]) + 1 + next(state) % 30) % 31];
    print_parse(wrong);
    std::string swapped = bare;
    const auto at = static_cast<std::size_t>(next(state) % (bare.size() - 1));
    std::swap(swapped[at], swapped[at + 1]);
    print_parse(swapped);
    print_parse(bare.substr(0, 26));
    print_parse(bare + "0");
    for (const std::string_view bad : {"O", "I", "L", "U", "Z", "\xC3\x9F", ".", "\t", "_"}) {
      std::string with = bare;
      with.replace(pos, 1, bad);
      print_parse(with);
    }
  }
  // Valid check symbols over values of 2^128 and more (not issued by sluis), and at the edge.
  for (const std::string_view data : {"HNERT9YJ363GG16NPS8WVQ1KE8", "YYYYYYYYYYYYYYYYYYYYYYYYYY",
                                      "HNERT9YJ363GG16NPS8WVQ1KE7", "00000000000000000000000000"}) {
    for (const char c : alphabet) {
      print_parse(std::string(data) + c);
    }
  }
  // Odd inputs: empty, only separators, too long, far too long, non-ASCII letters.
  for (const std::string_view odd : {"", "---", "   ", "\xEF\xBC\x90"}) {
    print_parse(odd);
  }
  print_parse(std::string(129, '-'));
  print_parse(std::string(128, ' ') + "0");
  print_parse("000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1" + std::string(93, ' '));
  print_parse("000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1" + std::string(94, ' '));
  return 0;
}
