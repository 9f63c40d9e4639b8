// RFC 9162 §2.1 Merkle hashing, proofs and their verification, over perfect-subtree hashes.
#include "sluis/crypto/merkle.hpp"

#include "sluis/crypto/secret.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>

namespace sluis::crypto {
namespace {

using Bytes = std::span<const std::uint8_t>;

// ---- SHA-256 -------------------------------------------------------------------------------
// OpenSSL's SHA-256 uses the CPU's SHA extensions where present (about 3x libsodium's portable
// code on 65-byte node inputs), but its EVP calls can fail (allocation). The digest is fetched
// once and each thread reuses one context; if anything in OpenSSL fails we drain its error queue
// and compute the same function with libsodium, so hashing itself never fails.

const EVP_MD* sha256_md() noexcept {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (m == nullptr) ERR_clear_error();
    return m;
  }();
  return md;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

bool sha256_openssl(std::initializer_list<Bytes> parts, Hash& out) noexcept {
  const EVP_MD* md = sha256_md();
  if (md == nullptr) return false;
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx;
  if (!ctx) ctx.reset(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) return false;
  for (Bytes part : parts) {
    if (!part.empty() && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) return false;
  }
  unsigned int len = 0;
  return EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 && len == out.size();
}

Hash sha256(std::initializer_list<Bytes> parts) noexcept {
  Hash out{};
  if (sha256_openssl(parts, out)) return out;
  ERR_clear_error();
  ensure_sodium();
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (Bytes part : parts)
    crypto_hash_sha256_update(&st, part.data(), part.size());
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

// RFC 9162 §2.1.1 domain separation prefixes.
constexpr std::uint8_t kLeafPrefix[1] = {0x00};
constexpr std::uint8_t kNodePrefix[1] = {0x01};

// ---- plans ---------------------------------------------------------------------------------

[[noreturn]] void fatal(const char* what) noexcept {
  std::fprintf(stderr, "sluis: %s (programming error)\n", what);
  std::abort();
}

/// A half-open range of leaves [begin, end) whose MTH is one proof element.
struct Range {
  std::uint64_t begin;
  std::uint64_t end;
};

/// The largest power of two strictly below n (RFC 9162's "k"), for n >= 2.
std::uint64_t split_point(std::uint64_t n) noexcept {
  return std::bit_floor(n - 1);
}

/// Splits [begin, end) into aligned perfect subtrees, left to right, largest first. For the ranges
/// the RFC 9162 recursion produces (begin is a multiple of a power of two >= end - begin), the
/// right fold of their hashes is MTH(D[begin:end]): at each step the greedy split takes the
/// largest power of two below the length, exactly as §2.1.1's "k" does.
struct Decomposition {
  std::array<NodeId, 64> ids{};
  std::size_t count = 0;
};

Decomposition decompose(Range r) noexcept {
  Decomposition d;
  std::uint64_t a = r.begin;
  while (a < r.end) {
    auto level = static_cast<unsigned>(std::bit_width(r.end - a) - 1);
    if (a != 0) level = std::min(level, static_cast<unsigned>(std::countr_zero(a)));
    if (d.count == d.ids.size()) fatal("merkle range decomposition overflow");
    d.ids[d.count++] = NodeId{static_cast<std::uint8_t>(level), a >> level};
    a += std::uint64_t{1} << level;
  }
  return d;
}

/// PATH(index, D[0:size]) of RFC 9162 §2.1.3.1 as leaf ranges, leaf side first. The recursion
/// is unrolled top-down (each step keeps the half holding `index` and records the other half),
/// then reversed, because the RFC lists the deepest sibling first.
std::vector<Range> inclusion_ranges(std::uint64_t index, std::uint64_t size) {
  std::vector<Range> out;
  std::uint64_t a = 0;
  std::uint64_t b = size;
  while (b - a > 1) {
    const std::uint64_t k = split_point(b - a);
    if (index < a + k) {
      out.push_back({a + k, b});
      b = a + k;
    } else {
      out.push_back({a, a + k});
      a += k;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

/// PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) of RFC 9162 §2.1.4.1 as leaf ranges, for
/// 0 < m < n, unrolled top-down and reversed like inclusion_ranges.
std::vector<Range> consistency_ranges(std::uint64_t m, std::uint64_t n) {
  std::vector<Range> out;
  std::uint64_t a = 0;
  std::uint64_t b = n;
  bool whole_old_tree = true;  // the RFC's flag b: D[a:m] is the entire old tree so far
  for (;;) {
    if (m - a == b - a) {
      if (!whole_old_tree) out.push_back({a, b});
      break;
    }
    const std::uint64_t k = split_point(b - a);
    if (m - a <= k) {
      out.push_back({a + k, b});
      b = a + k;
    } else {
      out.push_back({a, a + k});
      a += k;
      whole_old_tree = false;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

/// MTH of a range from its perfect subtrees: right fold, as the recursive definition nests.
template <class Get> Result<Hash> fold_range(Range r, Get& get) {
  const Decomposition d = decompose(r);
  if (d.count == 0) return empty_root();
  Result<Hash> right = get(d.ids[d.count - 1]);
  if (!right) return right.error();
  Hash acc = *right;
  for (std::size_t i = d.count - 1; i-- > 0;) {
    Result<Hash> left = get(d.ids[i]);
    if (!left) return left.error();
    acc = node_hash(*left, acc);
  }
  return acc;
}

template <class Get>
Result<std::vector<Hash>> fold_ranges(const std::vector<Range>& ranges, Get& get) {
  std::vector<Hash> out;
  out.reserve(ranges.size());
  for (const Range& r : ranges) {
    Result<Hash> h = fold_range(r, get);
    if (!h) return h.error();
    out.push_back(*h);
  }
  return out;
}

std::vector<NodeId> distinct_nodes(const std::vector<Range>& ranges) {
  std::vector<NodeId> ids;
  for (const Range& r : ranges) {
    const Decomposition d = decompose(r);
    ids.insert(ids.end(), d.ids.begin(), d.ids.begin() + static_cast<std::ptrdiff_t>(d.count));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

template <class Get>
Result<std::vector<Hash>> inclusion_impl(std::uint64_t index, std::uint64_t size, Get& get) {
  if (index >= size) return Errc::invalid_argument;
  return fold_ranges(inclusion_ranges(index, size), get);
}

template <class Get>
Result<std::vector<Hash>> consistency_impl(std::uint64_t old_size, std::uint64_t new_size,
                                           Get& get) {
  if (old_size > new_size) return Errc::invalid_argument;
  if (old_size == 0 || old_size == new_size) return std::vector<Hash>{};
  return fold_ranges(consistency_ranges(old_size, new_size), get);
}

constexpr bool lsb(std::uint64_t v) noexcept {
  return (v & 1U) != 0;
}

}  // namespace

// ---- hashing -------------------------------------------------------------------------------

Hash leaf_hash(std::span<const std::uint8_t> data) noexcept {
  return sha256({Bytes(kLeafPrefix), data});
}

Hash leaf_hash(std::string_view data) noexcept {
  return leaf_hash(Bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

Hash node_hash(const Hash& left, const Hash& right) noexcept {
  return sha256({Bytes(kNodePrefix), Bytes(left), Bytes(right)});
}

Hash empty_root() noexcept {
  static const Hash root = sha256({});
  return root;
}

// ---- plans and proofs over a node source ---------------------------------------------------

std::vector<NodeId> frontier_nodes(std::uint64_t size) {
  const Decomposition d = decompose({0, size});
  return {d.ids.begin(), d.ids.begin() + static_cast<std::ptrdiff_t>(d.count)};
}

Result<std::vector<NodeId>> inclusion_proof_nodes(std::uint64_t index, std::uint64_t size) {
  if (index >= size) return Errc::invalid_argument;
  return distinct_nodes(inclusion_ranges(index, size));
}

Result<std::vector<NodeId>> consistency_proof_nodes(std::uint64_t old_size,
                                                    std::uint64_t new_size) {
  if (old_size > new_size) return Errc::invalid_argument;
  if (old_size == 0 || old_size == new_size) return std::vector<NodeId>{};
  return distinct_nodes(consistency_ranges(old_size, new_size));
}

Result<Hash> root_at(std::uint64_t size, const NodeSource& source) {
  return fold_range({0, size}, source);
}

Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size,
                                          const NodeSource& source) {
  return inclusion_impl(index, size, source);
}

Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size,
                                            const NodeSource& source) {
  return consistency_impl(old_size, new_size, source);
}

// ---- verification --------------------------------------------------------------------------

// RFC 9162 §2.1.3.2, step by step; the step numbers refer to that section.
Result<void> verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t size,
                              std::span<const Hash> proof, const Hash& root) noexcept {
  // 1. leaf_index >= tree_size fails.
  if (index >= size) return Errc::invalid_argument;
  // No tree of < 2^64 leaves has a longer path; the loop below would reject it anyway (sn
  // reaches 0), this only bounds the work an attacker can make us do.
  if (proof.size() > kMaxProofHashes) return Errc::bad_proof;
  // 2.-3.
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf;
  // 4.
  for (const Hash& p : proof) {
    if (sn == 0) return Errc::bad_proof;  // 4.a
    if (lsb(fn) || fn == sn) {            // 4.b
      r = node_hash(p, r);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;  // 4.c
    sn >>= 1;
  }
  // 5.
  if (sn != 0 || r != root) return Errc::bad_proof;
  return {};
}

// RFC 9162 §2.1.4.2, step by step; the step numbers refer to that section. The section assumes
// 0 < first < second; the two trivial cases are decided before step 1.
Result<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                const Hash& old_root, const Hash& new_root,
                                std::span<const Hash> proof) noexcept {
  if (old_size > new_size) return Errc::invalid_argument;
  if (old_size == 0) {
    if (!proof.empty() || old_root != empty_root()) return Errc::bad_proof;
    return {};
  }
  if (old_size == new_size) {
    if (!proof.empty() || old_root != new_root) return Errc::bad_proof;
    return {};
  }
  // 1.
  if (proof.empty() || proof.size() > kMaxProofHashes) return Errc::bad_proof;
  // 2. When first is a power of two the old root is itself a node of the new tree and the proof
  // omits it; iterate over [old_root] + proof instead of copying.
  const bool prepend = std::has_single_bit(old_size);
  const std::size_t total = proof.size() + (prepend ? 1 : 0);
  auto element = [&](std::size_t i) -> const Hash& {
    return prepend ? (i == 0 ? old_root : proof[i - 1]) : proof[i];
  };
  // 3.
  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  // 4.
  while (lsb(fn)) {
    fn >>= 1;
    sn >>= 1;
  }
  // 5.
  Hash fr = element(0);
  Hash sr = element(0);
  // 6.
  for (std::size_t i = 1; i < total; ++i) {
    const Hash& c = element(i);
    if (sn == 0) return Errc::bad_proof;  // 6.a
    if (lsb(fn) || fn == sn) {            // 6.b
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if (!lsb(fn)) {
        while (!lsb(fn) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;  // 6.c
    sn >>= 1;
  }
  // 7.
  if (fr != old_root || sr != new_root || sn != 0) return Errc::bad_proof;
  return {};
}

// ---- Frontier ------------------------------------------------------------------------------

Result<Frontier> Frontier::restore(std::uint64_t size, std::span<const Hash> nodes) {
  if (nodes.size() != static_cast<std::size_t>(std::popcount(size))) {
    return Errc::invalid_argument;
  }
  Frontier f;
  f.size_ = size;
  f.nodes_.assign(nodes.begin(), nodes.end());
  return f;
}

void Frontier::append(const Hash& leaf) {
  if (size_ == UINT64_MAX) fatal("Merkle tree size overflow");
  nodes_.push_back(leaf);
  // Each set low bit of the old size is a complete subtree of that level waiting on the right
  // edge; the new leaf merges with them like a carry in binary addition.
  for (std::uint64_t n = size_; lsb(n); n >>= 1) {
    Hash right = nodes_.back();
    nodes_.pop_back();
    nodes_.back() = node_hash(nodes_.back(), right);
  }
  ++size_;
}

void Frontier::append(const Hash& leaf, std::vector<StoredNode>& completed) {
  if (size_ == UINT64_MAX) fatal("Merkle tree size overflow");
  const std::uint64_t index = size_;
  completed.push_back({NodeId{0, index}, leaf});
  nodes_.push_back(leaf);
  std::uint8_t level = 0;
  for (std::uint64_t n = size_; lsb(n); n >>= 1) {
    Hash right = nodes_.back();
    nodes_.pop_back();
    nodes_.back() = node_hash(nodes_.back(), right);
    ++level;
    completed.push_back({NodeId{level, index >> level}, nodes_.back()});
  }
  ++size_;
}

Hash Frontier::root() const noexcept {
  if (nodes_.empty()) return empty_root();
  Hash acc = nodes_.back();
  for (std::size_t i = nodes_.size() - 1; i-- > 0;)
    acc = node_hash(nodes_[i], acc);
  return acc;
}

// ---- MerkleTree ----------------------------------------------------------------------------

void MerkleTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  std::size_t level = 0;
  std::uint64_t index = levels_[0].size() - 1;
  while (lsb(index)) {
    const Hash parent = node_hash(levels_[level][index - 1], levels_[level][index]);
    ++level;
    if (levels_.size() == level) levels_.emplace_back();
    levels_[level].push_back(parent);
    index >>= 1;
  }
}

std::uint64_t MerkleTree::size() const noexcept {
  return levels_.empty() ? 0 : levels_[0].size();
}

Result<Hash> MerkleTree::node(NodeId id) const {
  if (id.level >= levels_.size() || id.index >= levels_[id.level].size()) {
    return Errc::invalid_argument;
  }
  return levels_[id.level][id.index];
}

NodeSource MerkleTree::source() const {
  return [this](NodeId id) { return node(id); };
}

Hash MerkleTree::root() const {
  auto get = [this](NodeId id) { return node(id); };
  Result<Hash> r = fold_range({0, size()}, get);
  if (!r) fatal("MerkleTree lost a frontier node");
  return *r;
}

Result<Hash> MerkleTree::root_at(std::uint64_t size) const {
  if (size > this->size()) return Errc::invalid_argument;
  auto get = [this](NodeId id) { return node(id); };
  return fold_range({0, size}, get);
}

Result<std::vector<Hash>> MerkleTree::inclusion_proof(std::uint64_t index,
                                                      std::uint64_t size) const {
  if (size > this->size()) return Errc::invalid_argument;
  auto get = [this](NodeId id) { return node(id); };
  return inclusion_impl(index, size, get);
}

Result<std::vector<Hash>> MerkleTree::consistency_proof(std::uint64_t old_size,
                                                        std::uint64_t new_size) const {
  if (new_size > size()) return Errc::invalid_argument;
  auto get = [this](NodeId id) { return node(id); };
  return consistency_impl(old_size, new_size, get);
}

}  // namespace sluis::crypto
