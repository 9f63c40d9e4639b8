// Merkle append, root and proof verification next to the raw SHA-256 calls they are made of.
#include "sluis/crypto/merkle.hpp"

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

using namespace sluis::crypto;

namespace {

Hash leaf_n(std::uint64_t i) {
  std::array<std::uint8_t, 8> b{};
  for (std::size_t k = 0; k < 8; ++k)
    b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return leaf_hash(b);
}

struct EvpSha256 {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~EvpSha256() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
  void hash(const std::uint8_t* p, std::size_t n, std::uint8_t* out) const {
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1 || EVP_DigestUpdate(ctx, p, n) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &len) != 1) {
      std::abort();
    }
  }
};

// The primitive under node_hash / leaf_hash: one SHA-256 of 65 (node) or 33 (leaf of a hash)
// bytes with OpenSSL's EVP (SHA-NI where the CPU has it), and libsodium's portable SHA-256.
void BM_raw_sha256_evp(benchmark::State& state) {
  EvpSha256 sha;
  std::vector<std::uint8_t> in(static_cast<std::size_t>(state.range(0)), 0x5a);
  Hash out{};
  for (auto _ : state) {
    sha.hash(in.data(), in.size(), out.data());
    in[1] = out[0];
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_raw_sha256_evp)->Arg(33)->Arg(65);

void BM_raw_sha256_sodium(benchmark::State& state) {
  std::vector<std::uint8_t> in(static_cast<std::size_t>(state.range(0)), 0x5a);
  Hash out{};
  for (auto _ : state) {
    crypto_hash_sha256(out.data(), in.data(), in.size());
    in[1] = out[0];
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_raw_sha256_sodium)->Arg(33)->Arg(65);

void BM_node_hash(benchmark::State& state) {
  Hash a = leaf_n(1);
  const Hash b = leaf_n(2);
  for (auto _ : state) {
    a = node_hash(a, b);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_node_hash);

void BM_leaf_hash_32B(benchmark::State& state) {
  Hash a = leaf_n(1);
  for (auto _ : state) {
    a = leaf_hash(a);
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_leaf_hash_32B);

// Appending a leaf hash costs 1 node hash amortised (2 when a store also gets the completed
// nodes); compare with BM_raw_sha256_evp/65.
void BM_frontier_append(benchmark::State& state) {
  Frontier f;
  const Hash leaf = leaf_n(7);
  for (auto _ : state) {
    f.append(leaf);
    benchmark::DoNotOptimize(f.size());
  }
}
BENCHMARK(BM_frontier_append);

void BM_frontier_append_with_completed(benchmark::State& state) {
  Frontier f;
  const Hash leaf = leaf_n(7);
  std::vector<StoredNode> completed;
  for (auto _ : state) {
    completed.clear();
    f.append(leaf, completed);
    benchmark::DoNotOptimize(completed.data());
  }
}
BENCHMARK(BM_frontier_append_with_completed);

void BM_tree_append(benchmark::State& state) {
  auto tree = std::make_unique<MerkleTree>();
  const Hash leaf = leaf_n(7);
  std::uint64_t n = 0;
  for (auto _ : state) {
    tree->append(leaf);
    if (++n == (1U << 22)) {  // bound memory: start over every 4 Mi leaves
      state.PauseTiming();
      tree = std::make_unique<MerkleTree>();
      n = 0;
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_tree_append);

void BM_frontier_root_2p20_minus_1(benchmark::State& state) {
  Frontier f;
  for (std::uint64_t i = 0; i < (1U << 20) - 1; ++i)
    f.append(leaf_n(i));
  for (auto _ : state)
    benchmark::DoNotOptimize(f.root());  // 19 node hashes
}
BENCHMARK(BM_frontier_root_2p20_minus_1);

struct BigTree {
  static constexpr std::uint64_t kSize = 1U << 20;
  MerkleTree tree;
  Hash root{};
  BigTree() {
    for (std::uint64_t i = 0; i < kSize; ++i)
      tree.append(leaf_n(i));
    root = tree.root();
  }
};
const BigTree& big_tree() {
  static const BigTree t;
  return t;
}

// Verifying an inclusion proof at n = 2^20 is 20 node hashes: compare with 20 x raw SHA-256.
void BM_verify_inclusion_2p20(benchmark::State& state) {
  const auto& t = big_tree();
  const std::uint64_t index = 123457;
  const auto proof = t.tree.inclusion_proof(index, BigTree::kSize).value();
  const Hash leaf = leaf_n(index);
  for (auto _ : state) {
    auto r = verify_inclusion(leaf, index, BigTree::kSize, proof, t.root);
    if (!r) state.SkipWithError("proof did not verify");
    benchmark::DoNotOptimize(r);
  }
  state.counters["hashes"] = static_cast<double>(proof.size());
}
BENCHMARK(BM_verify_inclusion_2p20);

void BM_raw_sha256_evp_x20(benchmark::State& state) {
  EvpSha256 sha;
  std::array<std::uint8_t, 65> in{};
  Hash out{};
  for (auto _ : state) {
    for (int i = 0; i < 20; ++i) {
      sha.hash(in.data(), in.size(), out.data());
      in[1] = out[0];
    }
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_raw_sha256_evp_x20);

void BM_inclusion_proof_2p20(benchmark::State& state) {
  const auto& t = big_tree();
  std::uint64_t index = 0;
  for (auto _ : state) {
    auto p = t.tree.inclusion_proof(index, BigTree::kSize - 3);
    benchmark::DoNotOptimize(p);
    index = (index + 7919) % (BigTree::kSize - 3);
  }
}
BENCHMARK(BM_inclusion_proof_2p20);

void BM_verify_consistency_2p20(benchmark::State& state) {
  const auto& t = big_tree();
  const std::uint64_t m = 700001;
  const auto proof = t.tree.consistency_proof(m, BigTree::kSize).value();
  const Hash old_root = t.tree.root_at(m).value();
  for (auto _ : state) {
    auto r = verify_consistency(m, BigTree::kSize, old_root, t.root, proof);
    if (!r) state.SkipWithError("proof did not verify");
    benchmark::DoNotOptimize(r);
  }
  state.counters["hashes"] = static_cast<double>(proof.size());
}
BENCHMARK(BM_verify_consistency_2p20);

}  // namespace
