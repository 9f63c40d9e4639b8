// Card secrets: base-31 card codes with a weighted mod-31 check symbol, and service pseudonyms.
#include "sluis/crypto/card.hpp"

#include "sluis/crypto/encoding.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>

namespace sluis::crypto {
namespace {

static_assert(kCardAlphabet.size() == kCardRadix);
static_assert(kCardSymbols % kCardGroupSize == 0);
static_assert(kCardCodeLength == 35);
static_assert(kServicePseudonymPrefix.size() + std::size_t{2} * crypto_auth_hmacsha256_BYTES ==
              kServicePseudonymLength);

// Why the check symbol catches every single typo and every adjacent swap
// (the same argument as ISBN-10's mod-11 check, ISO 7064 style):
//
// Let v_0..v_26 be the symbol values (0..30) of a code and S = sum (i + 1) * v_i mod 31; a valid
// code has S = 0. Arithmetic is in GF(31) because 31 is prime, so a product of two non-zero
// residues is non-zero.
//  - One symbol at position i changes from a to b != a: S changes by (i + 1)(b - a). The weight
//    i + 1 lies in 1..27, so it is non-zero mod 31; b - a lies in -30..30 without 0, so it is
//    non-zero mod 31. Their product is non-zero: S != 0, the code is rejected.
//  - Symbols a != b at positions i and i + 1 are swapped: S changes by
//    (i + 1)(b - a) + (i + 2)(a - b) = a - b, non-zero mod 31: rejected.
//    (More generally, a swap across a distance d changes S by d(a - b); with d <= 26 < 31 that is
//    also always caught.)
// The check symbol itself is one of the 27 positions, so a typo in it, or a swap of it with the
// last data symbol, is caught too. card_test.cpp checks this exhaustively for many codes.
//
// Choosing the check symbol: weight 27 multiplies it, and 27 * 23 = 621 = 20 * 31 + 1, so
// 27^-1 = 23 (mod 31) and c = -S_data * 23 mod 31, where S_data sums the 26 data positions.
constexpr std::uint32_t kInverseOfLastWeight = 23;
static_assert((kCardSymbols * kInverseOfLastWeight) % kCardRadix == 1);
// Short codes (format_short_code) use the same check over fewer positions: with n symbols in
// all, the weights are 1..n (n <= kMaxShortCodeSymbols + 1 < 31), so the argument above holds
// unchanged, and the check symbol is -S_data * n^-1 mod 31.
static_assert(kMaxShortCodeSymbols + 1 < kCardRadix);

// n^-1 mod 31 for n in 1..30 (Fermat: n^29).
constexpr std::uint32_t inverse_mod_radix(std::uint32_t n) noexcept {
  std::uint32_t r = 1;
  for (unsigned k = 0; k < kCardRadix - 2; ++k)
    r = r * n % kCardRadix;
  return r;
}
static_assert(inverse_mod_radix(static_cast<std::uint32_t>(kCardSymbols)) ==
              kInverseOfLastWeight);

// The check symbol for `data` (weights 1..data.size()), to be placed after it.
std::uint32_t check_symbol(std::span<const std::uint32_t> data) noexcept {
  std::uint32_t s = 0;
  for (std::size_t i = 0; i < data.size(); ++i)
    s += static_cast<std::uint32_t>(i + 1) * data[i];
  const auto inverse = inverse_mod_radix(static_cast<std::uint32_t>(data.size() + 1));
  return ((kCardRadix - s % kCardRadix) % kCardRadix) * inverse % kCardRadix;
}

// True when sum over i of (i + 1) * symbols[i] = 0 (mod 31), check symbol included.
bool check_holds(std::span<const std::uint32_t> symbols) noexcept {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < symbols.size(); ++i)
    sum += static_cast<std::uint32_t>(i + 1) * symbols[i];
  return sum % kCardRadix == 0;
}

// All-ones when a == b, else zero; no branch, so decoding a symbol takes the same path whatever
// its value (the symbols are the secret).
std::uint32_t equal_mask(std::uint32_t a, std::uint32_t b) noexcept {
  const std::uint32_t x = a ^ b;
  return ((x | (0U - x)) >> 31U) - 1U;
}

struct DecodedSymbol {
  std::uint32_t value;  ///< 0..30 when valid
  std::uint32_t valid;  ///< all-ones or zero
};

// Compares the byte against every symbol in both cases instead of indexing a table by it.
// Setting bit 0x20 lower-cases an ASCII letter and leaves the digits ('0' = 0x30) unchanged.
DecodedSymbol decode_symbol(unsigned char c) noexcept {
  DecodedSymbol d{.value = 0, .valid = 0};
  for (std::uint32_t j = 0; j < kCardRadix; ++j) {
    const auto sym = static_cast<std::uint32_t>(static_cast<unsigned char>(kCardAlphabet[j]));
    const std::uint32_t m = equal_mask(c, sym) | equal_mask(c, sym | 0x20U);
    d.value |= m & j;
    d.valid |= m;
  }
  return d;
}

}  // namespace

CardSecret new_card_secret() {
  ensure_sodium();
  return CardSecret::random();
}

std::string format_card_code(const CardSecret& secret) {
  // The secret as four 32-bit limbs, least significant first.
  std::array<std::uint32_t, 4> limbs{};
  const auto bytes = secret.reveal();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    limbs[3 - i / 4] = (limbs[3 - i / 4] << 8U) | bytes[i];
  }
  // 26 divisions by 31: the remainders are the base-31 digits, least significant first.
  std::array<std::uint32_t, kCardSymbols> v{};
  for (std::size_t k = 0; k < kCardDataSymbols; ++k) {
    std::uint64_t rem = 0;
    for (std::size_t j = limbs.size(); j-- > 0;) {
      const std::uint64_t cur = (rem << 32U) | limbs[j];
      limbs[j] = static_cast<std::uint32_t>(cur / kCardRadix);
      rem = cur % kCardRadix;
    }
    v[kCardDataSymbols - 1 - k] = static_cast<std::uint32_t>(rem);
  }
  v[kCardDataSymbols] = check_symbol(std::span<const std::uint32_t>(v.data(), kCardDataSymbols));

  std::string out;
  out.reserve(kCardCodeLength);
  for (std::size_t i = 0; i < kCardSymbols; ++i) {
    if (i != 0 && i % kCardGroupSize == 0) out.push_back('-');
    out.push_back(kCardAlphabet[v[i]]);
  }
  detail::zeroise(limbs.data(), sizeof limbs);
  detail::zeroise(v.data(), sizeof v);
  return out;
}

Result<CardSecret> parse_card_code(std::string_view code) {
  if (code.size() > kMaxCardCodeInput) return Errc::bad_card_code;
  std::array<std::uint32_t, kCardSymbols> v{};
  std::size_t n = 0;
  bool ok = true;
  for (const char ch : code) {
    // Separators are not secret: where a person put spaces and dashes says nothing about the card.
    if (ch == ' ' || ch == '-') continue;
    const DecodedSymbol d = decode_symbol(static_cast<unsigned char>(ch));
    if (d.valid == 0 || n == kCardSymbols) {
      ok = false;
      break;
    }
    v[n++] = d.value;
  }
  ok = ok && n == kCardSymbols;

  // The check is tested before the range so that a typo is always reported as a typo.
  const bool check_ok = check_holds(v);

  // value = sum v_i * 31^(25 - i) in five 32-bit limbs (160 bits), least significant first;
  // 31^26 > 2^128, so anything reaching the fifth limb is out of range.
  std::array<std::uint32_t, 5> limbs{};
  for (std::size_t i = 0; i < kCardDataSymbols; ++i) {
    std::uint64_t carry = v[i];
    for (auto& limb : limbs) {
      const std::uint64_t cur = std::uint64_t{limb} * kCardRadix + carry;
      limb = static_cast<std::uint32_t>(cur);
      carry = cur >> 32U;
    }
  }
  const bool in_range = limbs[4] == 0;
  detail::zeroise(v.data(), sizeof v);

  // Rejected input costs no guarded allocation (sodium_malloc is the expensive part of a parse).
  auto fail = [&limbs](Errc e) {
    detail::zeroise(limbs.data(), sizeof limbs);
    return e;
  };
  if (!ok) return fail(Errc::bad_card_code);
  if (!check_ok) return fail(Errc::bad_check_character);
  if (!in_range) return fail(Errc::bad_card_code);

  CardSecret secret;
  auto out = secret.reveal_mut();
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(limbs[3 - i / 4] >> (8U * (3U - i % 4)));
  }
  detail::zeroise(limbs.data(), sizeof limbs);
  return secret;
}

std::string format_short_code(std::uint64_t value, std::size_t data_symbols) {
  if (data_symbols == 0 || data_symbols > kMaxShortCodeSymbols) return {};
  std::array<std::uint32_t, kMaxShortCodeSymbols + 1> v{};
  for (std::size_t k = data_symbols; k-- > 0;) {
    v[k] = static_cast<std::uint32_t>(value % kCardRadix);
    value /= kCardRadix;
  }
  if (value != 0) return {};  // does not fit in data_symbols symbols
  v[data_symbols] = check_symbol(std::span<const std::uint32_t>(v.data(), data_symbols));
  std::string out;
  for (std::size_t i = 0; i <= data_symbols; ++i) {
    if (i != 0 && i % kCardGroupSize == 0) out.push_back('-');
    out.push_back(kCardAlphabet[v[i]]);
  }
  return out;
}

Result<std::uint64_t> parse_short_code(std::string_view code, std::size_t data_symbols) {
  if (data_symbols == 0 || data_symbols > kMaxShortCodeSymbols ||
      code.size() > kMaxCardCodeInput) {
    return Errc::bad_card_code;
  }
  std::array<std::uint32_t, kMaxShortCodeSymbols + 1> v{};
  std::size_t n = 0;
  for (const char ch : code) {
    if (ch == ' ' || ch == '-') continue;
    const DecodedSymbol d = decode_symbol(static_cast<unsigned char>(ch));
    if (d.valid == 0 || n == data_symbols + 1) return Errc::bad_card_code;
    v[n++] = d.value;
  }
  if (n != data_symbols + 1) return Errc::bad_card_code;
  if (!check_holds(std::span<const std::uint32_t>(v.data(), n))) return Errc::bad_check_character;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < data_symbols; ++i)
    value = value * kCardRadix + v[i];
  return value;
}

std::string service_pseudonym(const CardSecret& secret, std::string_view service_id) {
  ensure_sodium();
  crypto_auth_hmacsha256_state state;
  std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
  const auto key = secret.reveal();
  // HMAC (RFC 2104) accepts any key length; libsodium's init/update/final form takes the 16-byte
  // card secret as is. None of these calls can fail.
  (void)crypto_auth_hmacsha256_init(&state, key.data(), key.size());
  (void)crypto_auth_hmacsha256_update(
      &state, reinterpret_cast<const unsigned char*>(kServicePseudonymLabel.data()),
      kServicePseudonymLabel.size());
  const unsigned char separator = 0x00;
  (void)crypto_auth_hmacsha256_update(&state, &separator, 1);
  if (!service_id.empty()) {
    (void)crypto_auth_hmacsha256_update(
        &state, reinterpret_cast<const unsigned char*>(service_id.data()), service_id.size());
  }
  (void)crypto_auth_hmacsha256_final(&state, mac.data());
  detail::zeroise(&state, sizeof state);

  std::string out(kServicePseudonymPrefix);
  out += to_hex(mac);
  return out;
}

bool looks_like_service_pseudonym(std::string_view text) noexcept {
  if (text.size() != kServicePseudonymLength) return false;
  if (text.substr(0, kServicePseudonymPrefix.size()) != kServicePseudonymPrefix) return false;
  for (const char c : text.substr(kServicePseudonymPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sluis::crypto
