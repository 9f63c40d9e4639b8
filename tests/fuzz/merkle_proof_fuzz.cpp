// Fuzz target: RFC 9162 proof verification (verify_inclusion, verify_consistency) and the proof
// planning functions, with fuzzed tree sizes, indices and proof paths.
//
// Input layout (fuzz_support.hpp's ByteReader; missing bytes read as zero): one mode byte, then
//   mode even — raw: index u64, size u64, old u64, new u64, count u8, then 32-byte hashes
//               (leaf, root, old root, new root, then the proof). Both verifiers must refuse
//               anything malformed without crashing, whatever the sizes (up to 2^64 - 1).
//   mode odd  — real: a, b, c u64 (reduced into a 300-leaf tree), a mutation selector u8, a
//               position u8, a bit u8. Honest proofs from a real tree must verify; the same proof
//               with one bit flipped (in the leaf, a proof hash or a root), one hash dropped or
//               one added must not.
#include "sluis/crypto/merkle.hpp"

#include "fuzz_support.hpp"

#include <bit>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace crypto = sluis::crypto;
using sluis::fuzz::ByteReader;

constexpr std::uint64_t kTreeSize = 300;
// A generous bound on the perfect subtrees one proof needs: O(log n), at most 64 per level of a
// 2^64-leaf tree on each side of the path.
constexpr std::size_t kMaxPlannedNodes = 4 * crypto::kMaxProofHashes;

const crypto::MerkleTree& tree() {
  static const crypto::MerkleTree t = [] {
    crypto::MerkleTree built;
    for (std::uint64_t i = 0; i < kTreeSize; ++i)
      built.append(crypto::leaf_hash("leaf " + std::to_string(i)));
    return built;
  }();
  return t;
}

crypto::Hash read_hash(ByteReader& in) {
  crypto::Hash h{};
  in.fill(h.data(), h.size());
  return h;
}

void raw_mode(ByteReader& in) {
  const std::uint64_t index = in.u64();
  const std::uint64_t size = in.u64();
  const std::uint64_t old_size = in.u64();
  const std::uint64_t new_size = in.u64();
  const std::size_t count = in.u8() % (crypto::kMaxProofHashes + 4);
  const crypto::Hash leaf = read_hash(in);
  const crypto::Hash root = read_hash(in);
  const crypto::Hash old_root = read_hash(in);
  const crypto::Hash new_root = read_hash(in);
  std::vector<crypto::Hash> proof(count);
  for (auto& h : proof)
    h = read_hash(in);

  auto inclusion = crypto::verify_inclusion(leaf, index, size, proof, root);
  if (index >= size) {
    SLUIS_FUZZ_CHECK(inclusion.error() == crypto::Errc::invalid_argument);
  }
  if (inclusion) SLUIS_FUZZ_CHECK(proof.size() <= crypto::kMaxProofHashes);
  auto consistency = crypto::verify_consistency(old_size, new_size, old_root, new_root, proof);
  if (old_size > new_size) {
    SLUIS_FUZZ_CHECK(consistency.error() == crypto::Errc::invalid_argument);
  }
  if (consistency) SLUIS_FUZZ_CHECK(proof.size() <= crypto::kMaxProofHashes);

  // Planning is O(log n) for any size: the node lists stay short.
  if (auto nodes = crypto::inclusion_proof_nodes(index, size)) {
    SLUIS_FUZZ_CHECK(index < size && nodes->size() <= kMaxPlannedNodes);
  }
  if (auto nodes = crypto::consistency_proof_nodes(old_size, new_size)) {
    SLUIS_FUZZ_CHECK(old_size <= new_size && nodes->size() <= kMaxPlannedNodes);
  }
  SLUIS_FUZZ_CHECK(crypto::frontier_nodes(size).size() ==
                   static_cast<std::size_t>(std::popcount(size)));
  (void)crypto::Frontier::restore(size, std::span<const crypto::Hash>(proof));
}

// Applies mutation `kind` to a verifying (leaf, proof, root) triple; false when the mutation does
// not apply (e.g. nothing to drop).
bool mutate(std::uint8_t kind, std::uint8_t pos, std::uint8_t bit, crypto::Hash& first,
            std::vector<crypto::Hash>& proof, crypto::Hash& root) {
  const auto flip = [&](crypto::Hash& h) {
    h[pos % h.size()] = static_cast<std::uint8_t>(h[pos % h.size()] ^ (1U << (bit % 8)));
  };
  switch (kind % 5) {
  case 0: flip(first); return true;
  case 1:
    if (proof.empty()) return false;
    flip(proof[pos % proof.size()]);
    return true;
  case 2: flip(root); return true;
  case 3:
    if (proof.empty()) return false;
    proof.erase(proof.begin() + static_cast<std::ptrdiff_t>(pos % proof.size()));
    return true;
  default:
    proof.insert(proof.begin() + static_cast<std::ptrdiff_t>(pos % (proof.size() + 1)), first);
    return true;
  }
}

void real_mode(ByteReader& in) {
  const crypto::MerkleTree& t = tree();
  std::uint64_t a = in.u64() % kTreeSize + 1;  // 1..kTreeSize
  std::uint64_t b = in.u64() % kTreeSize + 1;
  const std::uint64_t c = in.u64();
  const std::uint8_t kind = in.u8();
  const std::uint8_t pos = in.u8();
  const std::uint8_t bit = in.u8();
  if (a > b) std::swap(a, b);

  // Inclusion of leaf c mod b in the tree of size b.
  {
    const std::uint64_t index = c % b;
    auto proof = t.inclusion_proof(index, b);
    SLUIS_FUZZ_CHECK(proof.has_value());
    auto leaf = t.node(crypto::NodeId{0, index});
    auto root = t.root_at(b);
    SLUIS_FUZZ_CHECK(leaf.has_value() && root.has_value());
    SLUIS_FUZZ_CHECK(crypto::verify_inclusion(*leaf, index, b, *proof, *root).has_value());
    crypto::Hash l = *leaf;
    crypto::Hash r = *root;
    std::vector<crypto::Hash> p = *proof;
    if (mutate(kind, pos, bit, l, p, r)) {
      SLUIS_FUZZ_CHECK(!crypto::verify_inclusion(l, index, b, p, r).has_value());
    }
  }
  // Consistency of the tree of size a with the tree of size b.
  {
    auto proof = t.consistency_proof(a, b);
    auto old_root = t.root_at(a);
    auto new_root = t.root_at(b);
    SLUIS_FUZZ_CHECK(proof.has_value() && old_root.has_value() && new_root.has_value());
    SLUIS_FUZZ_CHECK(crypto::verify_consistency(a, b, *old_root, *new_root, *proof).has_value());
    crypto::Hash o = *old_root;
    crypto::Hash n = *new_root;
    std::vector<crypto::Hash> p = *proof;
    if (mutate(kind, pos, bit, o, p, n)) {
      SLUIS_FUZZ_CHECK(!crypto::verify_consistency(a, b, o, n, p).has_value());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteReader in(data, size);
  if (in.u8() % 2 == 0) {
    raw_mode(in);
  } else {
    real_mode(in);
  }
  return 0;
}
