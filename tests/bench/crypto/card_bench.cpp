// Card codes and service pseudonyms next to the raw HMAC-SHA-256 call.
#include "sluis/crypto/card.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

namespace {

using sluis::crypto::CardSecret;

constexpr std::string_view kService = "nachtopvang-gent";

void service_pseudonym_sluis(benchmark::State& state) {
  const auto card = sluis::crypto::new_card_secret();
  for (auto _ : state) {
    auto p = sluis::crypto::service_pseudonym(card, kService);
    benchmark::DoNotOptimize(p);
  }
}

// HMAC-SHA-256 with a 16-byte key over a message of the same length (label || 0x00 || id).
void service_pseudonym_raw(benchmark::State& state) {
  const auto card = sluis::crypto::new_card_secret();
  std::array<std::uint8_t, sluis::crypto::kServicePseudonymLabel.size() + 1 + kService.size()>
      message{};
  randombytes_buf(message.data(), message.size());
  std::array<std::uint8_t, crypto_auth_hmacsha256_BYTES> mac{};
  for (auto _ : state) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, card.reveal().data(), card.size());
    crypto_auth_hmacsha256_update(&st, message.data(), message.size());
    crypto_auth_hmacsha256_final(&st, mac.data());
    benchmark::DoNotOptimize(mac);
  }
}

void card_parse(benchmark::State& state) {
  const auto card = sluis::crypto::new_card_secret();
  const std::string code = sluis::crypto::format_card_code(card);
  for (auto _ : state) {
    auto r = sluis::crypto::parse_card_code(code);
    benchmark::DoNotOptimize(r);
  }
}

// A code with a typo: rejected before any guarded allocation.
void card_parse_typo(benchmark::State& state) {
  const auto card = sluis::crypto::new_card_secret();
  std::string code = sluis::crypto::format_card_code(card);
  code[0] = code[0] == '0' ? '1' : '0';
  for (auto _ : state) {
    auto r = sluis::crypto::parse_card_code(code);
    benchmark::DoNotOptimize(r);
  }
}

// The cost floor of parse: allocating the guarded CardSecret it returns (sodium_malloc).
void card_parse_alloc_only(benchmark::State& state) {
  for (auto _ : state) {
    CardSecret s;
    benchmark::DoNotOptimize(s.reveal().data());
  }
}

void card_format(benchmark::State& state) {
  const auto card = sluis::crypto::new_card_secret();
  for (auto _ : state) {
    auto code = sluis::crypto::format_card_code(card);
    benchmark::DoNotOptimize(code);
  }
}

}  // namespace

BENCHMARK(service_pseudonym_sluis)->Name("BM_service_pseudonym/sluis");
BENCHMARK(service_pseudonym_raw)->Name("BM_service_pseudonym/raw");
BENCHMARK(card_parse)->Name("BM_card_code_parse/sluis");
BENCHMARK(card_parse_typo)->Name("BM_card_code_parse/typo_rejected");
BENCHMARK(card_parse_alloc_only)->Name("BM_card_code_parse/secret_alloc_only");
BENCHMARK(card_format)->Name("BM_card_code_format/sluis");
