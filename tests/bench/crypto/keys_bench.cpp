// Data-key unwrap and sub-key derivation next to the raw libsodium calls they wrap.
#include "sluis/crypto/keys.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <vector>

namespace sc = sluis::crypto;

namespace {

// unwrap_data_key: checks, AD, decrypt into a fresh guarded DataKey (sodium_malloc per call).
void unwrap_sluis(benchmark::State& state) {
  const auto kek = sc::KeyEncryptionKey::generate(sc::KekVersion{1});
  const sc::DataKeyRef ref{sc::ClientId::random(), "health", sc::DataKeyVersion{1}};
  const auto wrapped = sc::wrap_data_key(kek, ref, sc::generate_data_key()).value();
  for (auto _ : state) {
    auto dk = sc::unwrap_data_key(kek, ref, wrapped);
    benchmark::DoNotOptimize(dk);
  }
}

// unwrap_data_key_into: the same into a reused DataKey (what a key cache would do).
void unwrap_sluis_into(benchmark::State& state) {
  const auto kek = sc::KeyEncryptionKey::generate(sc::KekVersion{1});
  const sc::DataKeyRef ref{sc::ClientId::random(), "health", sc::DataKeyVersion{1}};
  const auto wrapped = sc::wrap_data_key(kek, ref, sc::generate_data_key()).value();
  sc::DataKey slot;
  for (auto _ : state) {
    auto ok = sc::unwrap_data_key_into(kek, ref, wrapped, slot);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(slot);
  }
}

// Raw: one decrypt of a 32-byte key + tag with an AD of the same length (12 + 16 + 1 + 6 + 8),
// into a reused stack buffer.
void unwrap_raw(benchmark::State& state) {
  const auto key = sc::SecretBytes<32>::random();
  std::array<std::uint8_t, 43> ad{};
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  std::array<std::uint8_t, 32> dk{};
  std::array<std::uint8_t, 48> ct{};
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct.data(), &clen, dk.data(), dk.size(), ad.data(),
                                             ad.size(), nullptr, nonce.data(), key.reveal().data());
  for (auto _ : state) {
    unsigned long long mlen = 0;
    const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(dk.data(), &mlen, nullptr, ct.data(),
                                                              ct.size(), ad.data(), ad.size(),
                                                              nonce.data(), key.reveal().data());
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(dk.data());
  }
}

// Raw + the guarded allocation the API's return type implies: isolates sluis's own overhead.
void unwrap_raw_guarded(benchmark::State& state) {
  const auto key = sc::SecretBytes<32>::random();
  std::array<std::uint8_t, 43> ad{};
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  std::array<std::uint8_t, 48> ct{};
  {
    std::array<std::uint8_t, 32> dk{};
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct.data(), &clen, dk.data(), dk.size(), ad.data(),
                                               ad.size(), nullptr, nonce.data(),
                                               key.reveal().data());
  }
  for (auto _ : state) {
    sc::SecretBytes<32> dk;
    unsigned long long mlen = 0;
    const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        dk.reveal_mut().data(), &mlen, nullptr, ct.data(), ct.size(), ad.data(), ad.size(),
        nonce.data(), key.reveal().data());
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(dk);
  }
}

void derive_sluis(benchmark::State& state) {
  const auto root = sc::RootKey::random();
  for (auto _ : state) {
    auto sub = sc::derive_subkey(root, sc::KeyPurpose::partner_pseudonym);
    benchmark::DoNotOptimize(sub);
  }
}

void derive_raw(benchmark::State& state) {
  const auto root = sc::RootKey::random();
  std::array<std::uint8_t, 32> out{};
  for (auto _ : state) {
    const int rc =
        crypto_kdf_derive_from_key(out.data(), out.size(), 4, "sluis-v1", root.reveal().data());
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(out.data());
  }
}

const bool kRegistered = [] {
  benchmark::RegisterBenchmark("BM_unwrap_data_key/raw", unwrap_raw);
  benchmark::RegisterBenchmark("BM_unwrap_data_key/raw_guarded", unwrap_raw_guarded);
  benchmark::RegisterBenchmark("BM_unwrap_data_key/sluis", unwrap_sluis);
  benchmark::RegisterBenchmark("BM_unwrap_data_key/sluis_into", unwrap_sluis_into);
  benchmark::RegisterBenchmark("BM_derive_subkey/raw", derive_raw);
  benchmark::RegisterBenchmark("BM_derive_subkey/sluis", derive_sluis);
  return true;
}();

}  // namespace
