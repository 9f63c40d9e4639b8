// Merkle tree math of RFC 9162 §2.1: hashing, roots, inclusion and consistency proofs.
//
// Vocabulary used throughout (docs/crypto/audit-crypto.md has the full design):
// - a *perfect subtree* (level k, index i) covers the leaves [i·2^k, (i+1)·2^k); its hash is
//   MTH of those leaves. Perfect-subtree hashes never change once the last leaf is appended, so
//   a store can keep them in a table keyed by (level, index).
// - every root and every proof element of RFC 9162 is MTH of a range of leaves that splits into
//   at most 64 perfect subtrees; this header computes which ones (the *plan*) and folds them.
// - a *node source* is a callback that returns a perfect-subtree hash by (level, index).
// - the *frontier* is the list of perfect subtrees covering [0, size): enough to append and to
//   compute the current root in O(log n) without any store.
#pragma once

#include "sluis/crypto/error.hpp"

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

namespace sluis::crypto {

inline constexpr std::size_t kHashSize = 32;
/// A SHA-256 output: a leaf hash, a node hash or a tree root.
using Hash = std::array<std::uint8_t, kHashSize>;
/// No valid proof for a tree of at most 2^64 - 1 leaves has more hashes than this.
inline constexpr std::size_t kMaxProofHashes = 64;

/// RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data). Thread-safe.
[[nodiscard]] Hash leaf_hash(std::span<const std::uint8_t> data) noexcept;
/// Same, over the bytes of a text.
[[nodiscard]] Hash leaf_hash(std::string_view data) noexcept;
/// RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 || left || right). Thread-safe.
[[nodiscard]] Hash node_hash(const Hash& left, const Hash& right) noexcept;
/// MTH({}) = SHA-256() (the root of the empty tree).
[[nodiscard]] Hash empty_root() noexcept;

/// Names one perfect subtree: `level` k and `index` i cover leaves [i·2^k, (i+1)·2^k).
/// Level 0 nodes are the leaf hashes themselves.
struct NodeId {
  std::uint8_t level = 0;
  std::uint64_t index = 0;

  [[nodiscard]] std::uint64_t first_leaf() const noexcept { return index << level; }
  friend auto operator<=>(const NodeId&, const NodeId&) = default;
};

/// A completed perfect subtree and its hash (what a store persists).
struct StoredNode {
  NodeId id;
  Hash hash{};
};

/// Returns the hash of a perfect subtree. The store behind it may fail (I/O, missing row): return
/// any error_code, and every function taking a NodeSource passes that error through unchanged.
/// It is only ever asked for nodes that are complete in the tree size being queried.
using NodeSource = std::function<Result<Hash>(NodeId)>;

/// The perfect subtrees covering [0, size), left to right (largest first): the frontier of a
/// tree of `size` leaves. popcount(size) entries; empty for size 0.
[[nodiscard]] std::vector<NodeId> frontier_nodes(std::uint64_t size);

/// Every perfect subtree that inclusion_proof(index, size, …) will ask its source for, without
/// duplicates, so a store can fetch them in one query before building the proof.
/// Errc::invalid_argument when index >= size.
[[nodiscard]] Result<std::vector<NodeId>> inclusion_proof_nodes(std::uint64_t index,
                                                                std::uint64_t size);
/// Same for consistency_proof(old_size, new_size, …).
/// Errc::invalid_argument when old_size > new_size.
[[nodiscard]] Result<std::vector<NodeId>> consistency_proof_nodes(std::uint64_t old_size,
                                                                  std::uint64_t new_size);

/// MTH of the first `size` leaves (RFC 9162 §2.1.1) from at most 64 node-source lookups.
/// empty_root() for size 0. Errors: whatever the source returns.
[[nodiscard]] Result<Hash> root_at(std::uint64_t size, const NodeSource& source);
/// The audit path PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf-side first. O(log n) lookups.
/// Errors: invalid_argument when index >= size; whatever the source returns.
[[nodiscard]] Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size,
                                                        const NodeSource& source);
/// The consistency proof PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1. O(log n) lookups.
/// Empty when old_size == new_size or old_size == 0 (nothing to prove; see verify_consistency).
/// Errors: invalid_argument when old_size > new_size; whatever the source returns.
[[nodiscard]] Result<std::vector<Hash>>
consistency_proof(std::uint64_t old_size, std::uint64_t new_size, const NodeSource& source);

/// Verifies an inclusion proof exactly as RFC 9162 §2.1.3.2.
/// Errors: invalid_argument when index >= size; bad_proof when the proof does not lead from
/// `leaf` to `root`. Note (inherent in RFC 9162): `size` is bound only through `root`, so always
/// take (size, root) together from one verified checkpoint.
[[nodiscard]] Result<void> verify_inclusion(const Hash& leaf, std::uint64_t index,
                                            std::uint64_t size, std::span<const Hash> proof,
                                            const Hash& root) noexcept;
/// Verifies a consistency proof exactly as RFC 9162 §2.1.4.2 for 0 < old_size < new_size. The
/// trivial cases: old_size == new_size needs an empty proof and equal roots; old_size == 0 needs
/// an empty proof and old_root == empty_root() (the empty tree is a prefix of every tree).
/// Errors: invalid_argument when old_size > new_size; bad_proof otherwise.
[[nodiscard]] Result<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                              const Hash& old_root, const Hash& new_root,
                                              std::span<const Hash> proof) noexcept;

/// The right edge of an append-only tree: the perfect-subtree hashes covering [0, size()).
/// O(log n) memory; append and root() are O(log n) hashes at most (append is amortised O(1)).
/// Thread rules: none (a plain value); guard it like any container.
class Frontier {
 public:
  Frontier() = default;
  /// Rebuilds a frontier from a store: `nodes` are the hashes of frontier_nodes(size), in that
  /// order. Errc::invalid_argument when the count does not match popcount(size).
  [[nodiscard]] static Result<Frontier> restore(std::uint64_t size, std::span<const Hash> nodes);

  /// Appends one leaf hash. Precondition: size() < 2^64 - 1 (aborts otherwise).
  void append(const Hash& leaf);
  /// Appends one leaf hash and adds to `completed` every perfect subtree this leaf completes,
  /// smallest first: always (0, size) itself, then one node per level it carries into. These are
  /// exactly the rows a store must insert to serve proofs later.
  void append(const Hash& leaf, std::vector<StoredNode>& completed);

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  /// MTH of all leaves appended so far (empty_root() when none).
  [[nodiscard]] Hash root() const noexcept;
  /// The frontier hashes, matching frontier_nodes(size()).
  [[nodiscard]] std::span<const Hash> nodes() const noexcept { return nodes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> nodes_;
};

/// An in-memory append-only tree that keeps every perfect-subtree hash by level (about 2n
/// hashes), so roots at any past size and both proof kinds cost O(log n) lookups. For tests,
/// tools (`sluisctl audit verify`) and caches; the audit store keeps the same nodes in SQLite.
/// Thread rules: const members may run concurrently; append() needs exclusive access.
class MerkleTree {
 public:
  /// Appends one leaf hash (not the leaf data: hash it with leaf_hash()).
  void append(const Hash& leaf);
  [[nodiscard]] std::uint64_t size() const noexcept;
  /// MTH of the whole tree.
  [[nodiscard]] Hash root() const;
  /// MTH of the first `size` leaves. Errc::invalid_argument when size > size().
  [[nodiscard]] Result<Hash> root_at(std::uint64_t size) const;
  /// A perfect subtree's hash. Errc::invalid_argument when it is not complete yet.
  [[nodiscard]] Result<Hash> node(NodeId id) const;
  /// A node source over this tree (which must outlive it).
  [[nodiscard]] NodeSource source() const;
  /// Errc::invalid_argument when index >= size or size > size().
  [[nodiscard]] Result<std::vector<Hash>> inclusion_proof(std::uint64_t index,
                                                          std::uint64_t size) const;
  /// Errc::invalid_argument when old_size > new_size or new_size > size().
  [[nodiscard]] Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size,
                                                            std::uint64_t new_size) const;

 private:
  std::vector<std::vector<Hash>> levels_;  ///< levels_[k][i] = perfect subtree (k, i)
};

}  // namespace sluis::crypto
