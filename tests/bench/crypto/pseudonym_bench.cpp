// Pseudonym derivation next to the raw keyed BLAKE2b call it is built on.
#include "sluis/crypto/pseudonym.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

namespace {

using sluis::crypto::ClientId;
using sluis::crypto::SubKey;

constexpr std::string_view kPartner = "caw-brussel";
// What partner_pseudonym hashes: LP(domain) || LP(partner id) || LP(client id), 8-byte lengths.
constexpr std::size_t kPartnerMessageSize =
    (8 + std::string_view("sluis/partner-pseudonym/v1").size()) + (8 + kPartner.size()) + (8 + 16);

void partner_pseudonym_sluis(benchmark::State& state) {
  const auto key = SubKey::random();
  const auto client = ClientId::random();
  for (auto _ : state) {
    auto p = sluis::crypto::partner_pseudonym(key, kPartner, client);
    benchmark::DoNotOptimize(p);
  }
}

// One-shot keyed BLAKE2b-128 over a message of the same length: the floor for the above.
void partner_pseudonym_raw(benchmark::State& state) {
  const auto key = SubKey::random();
  std::array<std::uint8_t, kPartnerMessageSize> message{};
  randombytes_buf(message.data(), message.size());
  std::array<std::uint8_t, 16> out{};
  for (auto _ : state) {
    crypto_generichash(out.data(), out.size(), message.data(), message.size(), key.reveal().data(),
                       key.size());
    benchmark::DoNotOptimize(out);
  }
}

constexpr std::string_view kNormalised = "85073003328";
constexpr std::size_t kIdentifierMessageSize =
    (8 + std::string_view("sluis/identifier/v1").size()) +
    (8 + std::string_view("national-register").size()) + (8 + kNormalised.size());

void identifier_digest_sluis(benchmark::State& state) {
  const auto key = SubKey::random();
  for (auto _ : state) {
    auto d = sluis::crypto::identifier_digest(
        key, sluis::crypto::IdentifierScheme::national_register, kNormalised);
    benchmark::DoNotOptimize(d);
  }
}

void identifier_digest_raw(benchmark::State& state) {
  const auto key = SubKey::random();
  std::array<std::uint8_t, kIdentifierMessageSize> message{};
  randombytes_buf(message.data(), message.size());
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    crypto_generichash(out.data(), out.size(), message.data(), message.size(), key.reveal().data(),
                       key.size());
    benchmark::DoNotOptimize(out);
  }
}

void normalise_national_register(benchmark::State& state) {
  for (auto _ : state) {
    auto n = sluis::crypto::normalise_identifier(sluis::crypto::IdentifierScheme::national_register,
                                                 "85.07.30-033.28", "");
    benchmark::DoNotOptimize(n);
  }
}

}  // namespace

BENCHMARK(partner_pseudonym_sluis)->Name("BM_partner_pseudonym/sluis");
BENCHMARK(partner_pseudonym_raw)->Name("BM_partner_pseudonym/raw");
BENCHMARK(identifier_digest_sluis)->Name("BM_identifier_digest/sluis");
BENCHMARK(identifier_digest_raw)->Name("BM_identifier_digest/raw");
BENCHMARK(normalise_national_register)->Name("BM_normalise_identifier/national_register");
