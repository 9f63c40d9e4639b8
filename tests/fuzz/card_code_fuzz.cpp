// Fuzz target: card codes as a person types them (parse_card_code), and the service-pseudonym
// format check the API applies (looks_like_service_pseudonym).
//
// Invariants (card.hpp): an accepted code formats back to the same 27 symbols (ignoring case,
// spaces and '-'), and that formatted code parses to the same secret; every single wrong symbol
// and every swap of two adjacent different symbols of an accepted code is reported as
// bad_check_character; bad_check_character only ever comes with exactly 27 valid symbols.
#include "sluis/crypto/card.hpp"

#include "fuzz_support.hpp"

#include <algorithm>
#include <string>

namespace {

namespace crypto = sluis::crypto;

// The symbols of a code as the parser reads them: separators dropped, letters upper-cased.
std::string symbols_of(std::string_view code) {
  std::string s;
  for (char c : code) {
    if (c == ' ' || c == '-') continue;
    s.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return s;
}

bool all_symbols_valid(std::string_view symbols) {
  return std::all_of(symbols.begin(), symbols.end(), [](char c) {
    return crypto::kCardAlphabet.find(c) != std::string_view::npos;
  });
}

bool same_secret(const crypto::CardSecret& a, const crypto::CardSecret& b) {
  const auto x = a.reveal();
  const auto y = b.reveal();
  return std::equal(x.begin(), x.end(), y.begin(), y.end());
}

void check_accepted(std::string_view code, const crypto::CardSecret& secret) {
  std::string formatted = crypto::format_card_code(secret);
  SLUIS_FUZZ_CHECK(formatted.size() == crypto::kCardCodeLength);
  const std::string symbols = symbols_of(formatted);
  SLUIS_FUZZ_CHECK(symbols == symbols_of(code));
  auto again = crypto::parse_card_code(formatted);
  SLUIS_FUZZ_CHECK(again.has_value() && same_secret(*again, secret));

  // Every single-symbol typo is caught as a typo (check arithmetic over GF(31)), and so is
  // every swap of adjacent different symbols.
  std::string typo = symbols;
  for (std::size_t i = 0; i < typo.size(); ++i) {
    const char original = typo[i];
    for (const char replacement : crypto::kCardAlphabet) {
      if (replacement == original) continue;
      typo[i] = replacement;
      SLUIS_FUZZ_CHECK(crypto::parse_card_code(typo).error() == crypto::Errc::bad_check_character);
    }
    typo[i] = original;
  }
  for (std::size_t i = 0; i + 1 < typo.size(); ++i) {
    if (typo[i] == typo[i + 1]) continue;
    std::swap(typo[i], typo[i + 1]);
    SLUIS_FUZZ_CHECK(crypto::parse_card_code(typo).error() == crypto::Errc::bad_check_character);
    std::swap(typo[i], typo[i + 1]);
  }
  // The formatted code holds the secret in the clear: wipe it as card.hpp asks callers to.
  sluis::crypto::wipe(std::span<char>(formatted.data(), formatted.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view code = sluis::fuzz::as_text(data, size);
  auto secret = crypto::parse_card_code(code);
  if (secret) {
    SLUIS_FUZZ_CHECK(code.size() <= crypto::kMaxCardCodeInput);
    check_accepted(code, *secret);
  } else if (secret.error() == crypto::Errc::bad_check_character) {
    const std::string symbols = symbols_of(code);
    SLUIS_FUZZ_CHECK(symbols.size() == crypto::kCardSymbols && all_symbols_valid(symbols));
  } else {
    SLUIS_FUZZ_CHECK(secret.error() == crypto::Errc::bad_card_code);
  }
  if (crypto::looks_like_service_pseudonym(code)) {
    SLUIS_FUZZ_CHECK(code.size() == crypto::kServicePseudonymLength &&
                     code.starts_with(crypto::kServicePseudonymPrefix));
  }
  return 0;
}
