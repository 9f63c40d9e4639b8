// Test tool: QR symbols made by console/src/qr.cpp, printed as JSON lines for
// tests/console/qr_test.mjs (which checks the browser's encoder, lowthreshold_qr.js, agrees).
#include "sluis/console/qr.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::uint64_t next(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

std::string hex_of(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4U]);
    out.push_back(kDigits[b & 15U]);
  }
  return out;
}

// {"input_hex":…,"min_version":…,"version":…,"mask":…,"rows":["0101…",…]} or an error line.
void print_symbol(std::string_view input, int min_version) {
  auto qr = sluis::console::encode_qr(input, min_version);
  if (!qr) {
    std::printf("{\"input_hex\":\"%s\",\"min_version\":%d,\"error\":\"%s\"}\n",
                hex_of(input).c_str(), min_version,
                qr.error() == boost::system::errc::message_size ? "too-long" : "bad-version");
    return;
  }
  std::printf("{\"input_hex\":\"%s\",\"min_version\":%d,\"version\":%d,\"mask\":%d,\"rows\":[",
              hex_of(input).c_str(), min_version, qr->version(), qr->mask());
  for (std::size_t y = 0; y < qr->size(); ++y) {
    std::string row;
    for (std::size_t x = 0; x < qr->size(); ++x)
      row.push_back(qr->dark(x, y) ? '1' : '0');
    std::printf("%s\"%s\"", y == 0 ? "" : ",", row.c_str());
  }
  std::printf("]}\n");
}

}  // namespace

int main() {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXY";
  std::uint64_t state = 20261207;
  // Card codes (what the console draws), bare and as the console URL with the code in the fragment.
  for (int k = 0; k < 60; ++k) {
    std::string code;
    for (int i = 0; i < 27; ++i) {
      if (i != 0 && i % 3 == 0) code.push_back('-');
      code.push_back(kAlphabet[next(state) % kAlphabet.size()]);
    }
    print_symbol(code, 1);
    print_symbol("https://console.example.org/lowthreshold/guest#" + code, 1);
  }
  // Every length from 0 to the capacity of 10-M and one past it: every version, every mask.
  for (std::size_t length = 0; length <= 214; ++length) {
    std::string bytes;
    for (std::size_t i = 0; i < length; ++i)
      bytes.push_back(static_cast<char>(next(state) & 0xFFU));
    print_symbol(bytes, 1);
  }
  // Text people read, UTF-8, and a forced larger version.
  print_symbol("HELLO WORLD", 1);
  print_symbol("Nachtopvang \xC3\xA9\xC3\xA8 \xE2\x82\xAC", 1);
  for (int v = 1; v <= 10; ++v)
    print_symbol("000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1", v);
  print_symbol("x", 0);
  print_symbol("x", 11);
  return 0;
}
