// Ed25519 sign/verify and checkpoint sign+verify next to raw libsodium crypto_sign_detached.
#include "sluis/crypto/note.hpp"
#include "sluis/crypto/sign.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <string>

using namespace sluis::crypto;

namespace {

// A checkpoint body is ~90 bytes; sign that much.
const std::string kMessage(90, 'c');

void BM_raw_crypto_sign_detached(benchmark::State& state) {
  ensure_sodium();
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  for (auto _ : state) {
    crypto_sign_detached(sig.data(), nullptr,
                         reinterpret_cast<const unsigned char*>(kMessage.data()), kMessage.size(),
                         sk.data());
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_raw_crypto_sign_detached);

void BM_sign(benchmark::State& state) {
  const auto key = SigningKey::generate();
  for (auto _ : state)
    benchmark::DoNotOptimize(key.sign(kMessage));
}
BENCHMARK(BM_sign);

void BM_raw_crypto_sign_verify_detached(benchmark::State& state) {
  ensure_sodium();
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  const auto* m = reinterpret_cast<const unsigned char*>(kMessage.data());
  crypto_sign_detached(sig.data(), nullptr, m, kMessage.size(), sk.data());
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(sig.data(), m, kMessage.size(), pk.data());
    if (rc != 0) state.SkipWithError("did not verify");
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_raw_crypto_sign_verify_detached);

void BM_verify(benchmark::State& state) {
  const auto key = SigningKey::generate();
  const Signature sig = key.sign(kMessage);
  for (auto _ : state) {
    auto r = key.verifying_key().verify(kMessage, sig);
    if (!r) state.SkipWithError("did not verify");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_verify);

void BM_checkpoint_sign(benchmark::State& state) {
  const auto key = SigningKey::generate();
  const Hash root = leaf_hash(std::string_view("root"));
  for (auto _ : state) {
    auto note = sign_checkpoint("sluis.example/audit", 12345678, root, key, "sluis.example/audit");
    benchmark::DoNotOptimize(note);
  }
}
BENCHMARK(BM_checkpoint_sign);

void BM_checkpoint_verify(benchmark::State& state) {
  const auto key = SigningKey::generate();
  const Hash root = leaf_hash(std::string_view("root"));
  const std::string note =
      sign_checkpoint("sluis.example/audit", 12345678, root, key, "sluis.example/audit").value();
  for (auto _ : state) {
    auto cp =
        verify_checkpoint(note, key.verifying_key(), "sluis.example/audit", "sluis.example/audit");
    if (!cp) state.SkipWithError("did not verify");
    benchmark::DoNotOptimize(cp);
  }
}
BENCHMARK(BM_checkpoint_verify);

}  // namespace
