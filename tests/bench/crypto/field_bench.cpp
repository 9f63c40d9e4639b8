// Field seal/open next to the raw libsodium AEAD call they wrap (same sizes, same AD length).
#include "sluis/crypto/detail/known_answer.hpp"
#include "sluis/crypto/field.hpp"

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <array>
#include <string>
#include <vector>

namespace sc = sluis::crypto;

namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

// A typical context: 5-byte field name, 7-byte category.
struct Fixture {
  sc::DataKey key = sc::DataKey::random();
  sc::FieldContext ctx{sc::FragmentId::random(), "phone", "contact", sc::ClientId::random(),
                       sc::DataKeyVersion{1}};
  // The raw baseline gets AD of exactly the length sluis builds for ctx.
  std::vector<std::uint8_t> ad;
  Fixture() {
    std::array<std::uint8_t, sc::detail::kMaxFieldAdSize> buf{};
    const std::size_t n = sc::detail::encode_field_ad(ctx, buf).value();
    ad.assign(buf.begin(), buf.begin() + static_cast<long>(n));
  }
};

void seal_sluis(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  for (auto _ : state) {
    auto sealed = sc::seal_field(f.key, f.ctx, plain);
    benchmark::DoNotOptimize(sealed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void seal_sluis_into(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  std::vector<std::uint8_t> out(plain.size() + sc::kFieldOverhead);
  for (auto _ : state) {
    auto ok = sc::seal_field_into(f.key, f.ctx, plain, out);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// Raw: fresh random nonce + one encrypt call into a preallocated buffer.
void seal_raw(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  std::vector<std::uint8_t> out(plain.size() + kTag);
  std::array<std::uint8_t, kNonce> nonce{};
  for (auto _ : state) {
    randombytes_buf(nonce.data(), nonce.size());
    unsigned long long clen = 0;
    const int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
        out.data(), &clen, plain.data(), plain.size(), f.ad.data(), f.ad.size(), nullptr,
        nonce.data(), f.key.reveal().data());
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void open_sluis(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  const auto sealed = sc::seal_field(f.key, f.ctx, plain).value();
  for (auto _ : state) {
    auto opened = sc::open_field(f.key, f.ctx, sealed);
    benchmark::DoNotOptimize(opened);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void open_sluis_into(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  const auto sealed = sc::seal_field(f.key, f.ctx, plain).value();
  std::vector<std::uint8_t> out(plain.size());
  for (auto _ : state) {
    auto n = sc::open_field_into(f.key, f.ctx, sealed, out);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void open_raw(benchmark::State& state, std::size_t size) {
  Fixture f;
  const std::vector<std::uint8_t> plain(size, 0x42);
  std::vector<std::uint8_t> ct(plain.size() + kTag);
  std::array<std::uint8_t, kNonce> nonce{};
  randombytes_buf(nonce.data(), nonce.size());
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct.data(), &clen, plain.data(), plain.size(),
                                             f.ad.data(), f.ad.size(), nullptr, nonce.data(),
                                             f.key.reveal().data());
  std::vector<std::uint8_t> out(plain.size());
  for (auto _ : state) {
    unsigned long long mlen = 0;
    const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr, ct.data(),
                                                              ct.size(), f.ad.data(), f.ad.size(),
                                                              nonce.data(), f.key.reveal().data());
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// Names sort in pairs: BM_seal_64/raw next to BM_seal_64/sluis.
const bool kRegistered = [] {
  for (const auto& [label, size] :
       {std::pair{"64", std::size_t{64}}, std::pair{"1k", std::size_t{1024}}}) {
    const std::string s(label);
    benchmark::RegisterBenchmark(("BM_seal_" + s + "/raw").c_str(), seal_raw, size);
    benchmark::RegisterBenchmark(("BM_seal_" + s + "/sluis").c_str(), seal_sluis, size);
    benchmark::RegisterBenchmark(("BM_seal_" + s + "/sluis_into").c_str(), seal_sluis_into, size);
    benchmark::RegisterBenchmark(("BM_open_" + s + "/raw").c_str(), open_raw, size);
    benchmark::RegisterBenchmark(("BM_open_" + s + "/sluis").c_str(), open_sluis, size);
    benchmark::RegisterBenchmark(("BM_open_" + s + "/sluis_into").c_str(), open_sluis_into, size);
  }
  return true;
}();

}  // namespace
