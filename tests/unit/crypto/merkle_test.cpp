// RFC 9162 Merkle math: roots, proofs and verification against a naive recursive reference.
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/merkle.hpp"

#include "vectors.hpp"

#include <catch2/catch.hpp>

#include "result_printer.hpp"
#include <sodium.h>

#include <algorithm>
#include <bit>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sluis::crypto;

namespace {

constexpr std::uint64_t kMaxSize = 130;

// ---- the independent reference: RFC 9162 §2.1's recursive definitions, hashed with libsodium
// (the library under test hashes with OpenSSL), written for clarity, not speed.

Hash ref_sha256(std::initializer_list<std::span<const std::uint8_t>> parts) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  for (auto p : parts)
    crypto_hash_sha256_update(&st, p.data(), p.size());
  Hash out{};
  crypto_hash_sha256_final(&st, out.data());
  return out;
}

Hash ref_leaf(std::span<const std::uint8_t> data) {
  const std::uint8_t prefix[1] = {0x00};
  return ref_sha256({prefix, data});
}

Hash ref_node(const Hash& l, const Hash& r) {
  const std::uint8_t prefix[1] = {0x01};
  return ref_sha256({prefix, l, r});
}

std::uint64_t ref_k(std::uint64_t n) {
  std::uint64_t k = 1;
  while (k * 2 < n)
    k *= 2;
  return k;
}

// MTH(D[n]) over leaf hashes.
Hash ref_mth(std::span<const Hash> d) {
  if (d.empty()) return ref_sha256({});
  if (d.size() == 1) return d[0];
  const auto k = ref_k(d.size());
  return ref_node(ref_mth(d.first(k)), ref_mth(d.subspan(k)));
}

// PATH(m, D[n]).
std::vector<Hash> ref_path(std::uint64_t m, std::span<const Hash> d) {
  if (d.size() == 1) return {};
  const auto k = ref_k(d.size());
  std::vector<Hash> out;
  if (m < k) {
    out = ref_path(m, d.first(k));
    out.push_back(ref_mth(d.subspan(k)));
  } else {
    out = ref_path(m - k, d.subspan(k));
    out.push_back(ref_mth(d.first(k)));
  }
  return out;
}

// SUBPROOF(m, D[n], b).
std::vector<Hash> ref_subproof(std::uint64_t m, std::span<const Hash> d, bool b) {
  if (m == d.size()) return b ? std::vector<Hash>{} : std::vector<Hash>{ref_mth(d)};
  const auto k = ref_k(d.size());
  std::vector<Hash> out;
  if (m <= k) {
    out = ref_subproof(m, d.first(k), b);
    out.push_back(ref_mth(d.subspan(k)));
  } else {
    out = ref_subproof(m - k, d.subspan(k), false);
    out.push_back(ref_mth(d.first(k)));
  }
  return out;
}

std::vector<Hash> make_leaves(std::uint64_t n) {
  std::vector<Hash> out;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::string data = "sluis test leaf " + std::to_string(i);
    out.push_back(ref_leaf({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}));
  }
  return out;
}

Hash flip(Hash h, std::size_t bit) {
  h[(bit / 8) % h.size()] = static_cast<std::uint8_t>(h[(bit / 8) % h.size()] ^ (1U << (bit % 8)));
  return h;
}

std::vector<std::uint8_t> hex(const std::string& s) {
  if (s.empty()) return {};  // encoding.cpp's from_hex("") trips UBSan (reported); avoid it
  auto r = from_hex(s);
  REQUIRE(r);
  return *r;
}

Hash hash_hex(const std::string& s) {
  const auto b = hex(s);
  REQUIRE(b.size() == kHashSize);
  Hash h{};
  std::copy(b.begin(), b.end(), h.begin());
  return h;
}

std::vector<Hash> hash_list(const std::string& s) {
  std::vector<Hash> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    out.push_back(hash_hex(item));
  return out;
}

Errc errc_named(const std::string& name) {
  if (name == "bad_proof") return Errc::bad_proof;
  if (name == "invalid_argument") return Errc::invalid_argument;
  FAIL("unknown expected error '" << name << "'");
  return Errc::malformed;
}

struct Fixture {
  std::vector<Hash> leaves = make_leaves(kMaxSize);
  MerkleTree tree;
  Fixture() {
    for (const Hash& h : leaves)
      tree.append(h);
  }
  [[nodiscard]] std::span<const Hash> prefix(std::uint64_t n) const {
    return std::span<const Hash>(leaves).first(n);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

}  // namespace

TEST_CASE("leaf and node hashing follow RFC 9162 §2.1.1", "[merkle]") {
  CHECK(to_hex(empty_root()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(leaf_hash(std::string_view{})) ==
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  // Large leaves take the same path as small ones.
  std::vector<std::uint8_t> big(100000, 0xab);
  CHECK(leaf_hash(big) == ref_leaf(big));
  const Hash a = leaf_hash(std::string_view("a"));
  const Hash b = leaf_hash(std::string_view("b"));
  CHECK(node_hash(a, b) == ref_node(a, b));
  CHECK(node_hash(a, b) != node_hash(b, a));
}

TEST_CASE("tree, frontier, node source and the naive MTH agree on every root 0..130", "[merkle]") {
  const auto& f = fixture();
  MerkleTree tree;
  Frontier frontier;
  std::vector<StoredNode> completed;
  for (std::uint64_t n = 0; n <= kMaxSize; ++n) {
    INFO("size " << n);
    const Hash expected = ref_mth(f.prefix(n));
    CHECK(tree.size() == n);
    CHECK(tree.root() == expected);
    CHECK(frontier.size() == n);
    CHECK(frontier.root() == expected);
    CHECK(f.tree.root_at(n).value() == expected);
    CHECK(root_at(n, f.tree.source()).value() == expected);

    // The frontier is exactly the perfect subtrees named by frontier_nodes().
    const auto ids = frontier_nodes(n);
    REQUIRE(ids.size() == frontier.nodes().size());
    for (std::size_t j = 0; j < ids.size(); ++j) {
      CHECK(f.tree.node(ids[j]).value() == frontier.nodes()[j]);
    }
    auto restored = Frontier::restore(n, frontier.nodes());
    REQUIRE(restored);
    CHECK(restored->root() == expected);

    if (n == kMaxSize) break;
    tree.append(f.leaves[n]);
    completed.clear();
    frontier.append(f.leaves[n], completed);
    // Every node the frontier reports as completed is the tree's node of that id.
    REQUIRE_FALSE(completed.empty());
    CHECK(completed.front().id == NodeId{0, n});
    for (const auto& node : completed)
      CHECK(f.tree.node(node.id).value() == node.hash);
    CHECK(completed.size() == 1 + static_cast<std::size_t>(std::countr_one(n)));
  }
  CHECK(Frontier::restore(5, std::vector<Hash>(1)).error() ==
        make_error_code(Errc::invalid_argument));
  CHECK(f.tree.root_at(kMaxSize + 1).error() == make_error_code(Errc::invalid_argument));
}

TEST_CASE("inclusion proofs for every size 1..130 and index verify; tampering fails", "[merkle]") {
  const auto& f = fixture();
  const auto source = f.tree.source();
  std::vector<Hash> roots;
  for (std::uint64_t n = 0; n <= kMaxSize; ++n)
    roots.push_back(f.tree.root_at(n).value());
  std::uint64_t checked = 0;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    const Hash& root = roots[n];
    for (std::uint64_t i = 0; i < n; ++i) {
      INFO("index " << i << " size " << n);
      const Hash& leaf = f.leaves[i];
      const auto proof = f.tree.inclusion_proof(i, n);
      REQUIRE(proof);
      REQUIRE(*proof == ref_path(i, f.prefix(n)));
      REQUIRE(inclusion_proof(i, n, source).value() == *proof);
      REQUIRE(verify_inclusion(leaf, i, n, *proof, root));
      ++checked;

      // Tampered inputs must all fail. Counted rather than asserted one by one: Catch's
      // per-assertion cost would dominate the ~10^6 verifications.
      std::uint64_t accepted = 0;
      auto must_fail = [&](const Result<void>& r, Errc e) {
        if (r || r.error() != make_error_code(e)) ++accepted;
      };
      // One flipped bit in each proof element (all 256 bits for small trees), in the leaf and in
      // the root.
      const std::size_t bits = n <= 16 ? 256 : 1;
      auto bad = *proof;  // flipped in place and restored: no allocation per case
      for (std::size_t e = 0; e < bad.size(); ++e) {
        for (std::size_t b = 0; b < bits; ++b) {
          bad[e] = flip((*proof)[e], bits == 1 ? (i * 31 + e * 7 + n) % 256 : b);
          must_fail(verify_inclusion(leaf, i, n, bad, root), Errc::bad_proof);
        }
        bad[e] = (*proof)[e];
      }
      for (std::size_t b = 0; b < bits; ++b) {
        const std::size_t bit = bits == 1 ? (i * 13 + n) % 256 : b;
        must_fail(verify_inclusion(flip(leaf, bit), i, n, *proof, root), Errc::bad_proof);
        must_fail(verify_inclusion(leaf, i, n, *proof, flip(root, bit)), Errc::bad_proof);
      }
      // Every single-bit change of the index fails (an index >= size is invalid_argument).
      for (unsigned b = 0; b < 64; ++b) {
        const std::uint64_t j = i ^ (std::uint64_t{1} << b);
        must_fail(verify_inclusion(leaf, j, n, *proof, root),
                  j >= n ? Errc::invalid_argument : Errc::bad_proof);
      }
      // Every single-bit change of the size fails against the root of that size. (Against the
      // root of the *true* size RFC 9162 binds the size only through the root; see the test
      // "an inclusion proof binds the size only through the root" below.)
      for (unsigned b = 0; b < 64; ++b) {
        const std::uint64_t m = n ^ (std::uint64_t{1} << b);
        if (m > kMaxSize) continue;
        must_fail(verify_inclusion(leaf, i, m, *proof, roots[m]),
                  i >= m ? Errc::invalid_argument : Errc::bad_proof);
      }
      // Structural tampering: truncated, reversed, extended, another leaf.
      if (!proof->empty()) {
        auto shorter = *proof;
        shorter.pop_back();
        must_fail(verify_inclusion(leaf, i, n, shorter, root), Errc::bad_proof);
        auto swapped = *proof;
        std::reverse(swapped.begin(), swapped.end());
        if (swapped != *proof) {
          must_fail(verify_inclusion(leaf, i, n, swapped, root), Errc::bad_proof);
        }
        must_fail(verify_inclusion(f.leaves[(i + 1) % n], i, n, *proof, root), Errc::bad_proof);
      }
      auto longer = *proof;
      longer.push_back(root);
      must_fail(verify_inclusion(leaf, i, n, longer, root), Errc::bad_proof);
      CHECK(accepted == 0);
    }
  }
  CHECK(checked == kMaxSize * (kMaxSize + 1) / 2);
}

TEST_CASE("an inclusion proof binds the size only through the root (RFC 9162 behaviour)",
          "[merkle]") {
  // The §2.1.3.2 algorithm consults tree_size only for the shape of the path. For index 0 the
  // paths in trees of 6 and 7 leaves have the same shape, so the size-6 proof also "verifies"
  // with size 7 against the size-6 root. That claim is harmless because no tree of 7 leaves has
  // that root; it is why callers must take (size, root) together from one signed checkpoint.
  const auto& f = fixture();
  const auto proof = f.tree.inclusion_proof(0, 6).value();
  const Hash root6 = f.tree.root_at(6).value();
  CHECK(verify_inclusion(f.leaves[0], 0, 6, proof, root6));
  CHECK(verify_inclusion(f.leaves[0], 0, 7, proof, root6));
  CHECK_FALSE(verify_inclusion(f.leaves[0], 0, 7, proof, f.tree.root_at(7).value()));
}

TEST_CASE("consistency proofs for every 1 <= m <= n <= 130 verify; tampering fails", "[merkle]") {
  const auto& f = fixture();
  const auto source = f.tree.source();
  std::vector<Hash> roots;
  for (std::uint64_t n = 0; n <= kMaxSize; ++n)
    roots.push_back(f.tree.root_at(n).value());
  // forks[m]: the same log, except that leaf m-1 (inside the old tree of size m) was rewritten.
  std::vector<MerkleTree> forks(kMaxSize + 1);
  for (std::uint64_t m = 1; m <= kMaxSize; ++m) {
    for (std::uint64_t i = 0; i < kMaxSize; ++i) {
      forks[m].append(i == m - 1 ? flip(f.leaves[i], 0) : f.leaves[i]);
    }
  }
  std::uint64_t checked = 0;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    for (std::uint64_t m = 1; m <= n; ++m) {
      INFO("old " << m << " new " << n);
      const auto proof = f.tree.consistency_proof(m, n);
      REQUIRE(proof);
      REQUIRE(*proof == ref_subproof(m, f.prefix(n), true));
      REQUIRE(consistency_proof(m, n, source).value() == *proof);
      REQUIRE(verify_consistency(m, n, roots[m], roots[n], *proof));
      ++checked;

      std::uint64_t accepted = 0;
      auto must_fail = [&](const Result<void>& r) {
        if (r) ++accepted;
      };
      for (std::size_t e = 0; e < proof->size(); ++e) {
        auto bad = *proof;
        bad[e] = flip(bad[e], (m * 17 + n + e * 5) % 256);
        must_fail(verify_consistency(m, n, roots[m], roots[n], bad));
      }
      const std::size_t bit = (m * 7 + n * 3) % 256;
      must_fail(verify_consistency(m, n, flip(roots[m], bit), roots[n], *proof));
      must_fail(verify_consistency(m, n, roots[m], flip(roots[n], bit), *proof));
      // Single-bit changes of either size, paired with the true root of the changed size.
      for (unsigned b = 0; b < 8; ++b) {
        const std::uint64_t m2 = m ^ (std::uint64_t{1} << b);
        const std::uint64_t n2 = n ^ (std::uint64_t{1} << b);
        if (m2 <= kMaxSize && m2 != 0) {
          must_fail(verify_consistency(m2, n, roots[m2], roots[n], *proof));
        }
        if (n2 <= kMaxSize) must_fail(verify_consistency(m, n2, roots[m], roots[n2], *proof));
      }
      if (!proof->empty()) {
        auto shorter = *proof;
        shorter.pop_back();
        must_fail(verify_consistency(m, n, roots[m], roots[n], shorter));
      }
      auto longer = *proof;
      longer.push_back(roots[m]);
      must_fail(verify_consistency(m, n, roots[m], roots[n], longer));
      // A log that rewrote history: the new tree differs in leaf m-1, inside the old tree.
      if (m < n) {
        const MerkleTree& forked = forks[m];
        const auto fork_proof = forked.consistency_proof(m, n).value();
        must_fail(verify_consistency(m, n, roots[m], forked.root_at(n).value(), fork_proof));
      }
      CHECK(accepted == 0);
    }
  }
  CHECK(checked == kMaxSize * (kMaxSize + 1) / 2);
}

TEST_CASE("trivial and invalid consistency cases", "[merkle]") {
  const auto& f = fixture();
  const Hash r5 = f.tree.root_at(5).value();
  CHECK(f.tree.consistency_proof(0, 5).value().empty());
  CHECK(verify_consistency(0, 5, empty_root(), r5, {}));
  CHECK_FALSE(verify_consistency(0, 5, r5, r5, {}));
  CHECK(verify_consistency(5, 5, r5, r5, {}));
  CHECK_FALSE(verify_consistency(5, 5, r5, empty_root(), {}));
  const std::vector<Hash> one{r5};
  CHECK_FALSE(verify_consistency(5, 5, r5, r5, one));
  CHECK(verify_consistency(6, 5, r5, r5, {}).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.tree.consistency_proof(6, 5).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.tree.consistency_proof(5, kMaxSize + 1).error() ==
        make_error_code(Errc::invalid_argument));
  CHECK(consistency_proof_nodes(6, 5).error() == make_error_code(Errc::invalid_argument));
}

TEST_CASE("invalid inclusion arguments and hostile proof lengths", "[merkle]") {
  const auto& f = fixture();
  CHECK(f.tree.inclusion_proof(5, 5).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.tree.inclusion_proof(0, kMaxSize + 1).error() == make_error_code(Errc::invalid_argument));
  CHECK(inclusion_proof_nodes(3, 3).error() == make_error_code(Errc::invalid_argument));
  CHECK(verify_inclusion(f.leaves[0], 0, 0, {}, empty_root()).error() ==
        make_error_code(Errc::invalid_argument));
  // Near the top of the u64 range nothing overflows, and over-long proofs are refused.
  const std::uint64_t huge = ~std::uint64_t{0};
  std::vector<Hash> proof(64, f.leaves[1]);
  CHECK(verify_inclusion(f.leaves[0], huge - 1, huge, proof, f.leaves[2]).error() ==
        make_error_code(Errc::bad_proof));
  proof.resize(65);
  CHECK(verify_inclusion(f.leaves[0], 0, huge, proof, f.leaves[2]).error() ==
        make_error_code(Errc::bad_proof));
  CHECK(verify_consistency(huge - 1, huge, f.leaves[0], f.leaves[1], proof).error() ==
        make_error_code(Errc::bad_proof));
  const auto ids = inclusion_proof_nodes(huge - 1, huge).value();
  CHECK(ids.size() == 63);
  CHECK(frontier_nodes(huge).size() == 64);
  CHECK(consistency_proof_nodes(huge / 2, huge).value().size() <= 2 * 64);
}

TEST_CASE("a node source is asked only for the announced nodes; its errors pass through",
          "[merkle]") {
  const auto& f = fixture();
  for (std::uint64_t n = 1; n <= 70; ++n) {
    for (std::uint64_t i = 0; i < n; ++i) {
      std::set<NodeId> asked;
      const NodeSource recording = [&](NodeId id) {
        asked.insert(id);
        return f.tree.node(id);
      };
      REQUIRE(inclusion_proof(i, n, recording));
      const auto announced = inclusion_proof_nodes(i, n).value();
      CHECK(std::set<NodeId>(announced.begin(), announced.end()) == asked);
      for (const NodeId& id : asked)
        CHECK(id.first_leaf() < n);

      asked.clear();
      const std::uint64_t m = i + 1;
      REQUIRE(consistency_proof(m, n, recording));
      const auto announced_c = consistency_proof_nodes(m, n).value();
      CHECK(std::set<NodeId>(announced_c.begin(), announced_c.end()) == asked);
    }
  }
  const auto io_error = make_error_code(Errc::io_error);
  const NodeSource failing = [&](NodeId id) -> Result<Hash> {
    if (id.level == 1) return io_error;
    return f.tree.node(id);
  };
  CHECK(inclusion_proof(0, 8, failing).error() == io_error);
  CHECK(consistency_proof(3, 8, failing).error() == io_error);
  CHECK(root_at(6, failing).error() == io_error);
  CHECK(f.tree.node(NodeId{0, kMaxSize}).error() == make_error_code(Errc::invalid_argument));
  CHECK(f.tree.node(NodeId{8, 0}).error() == make_error_code(Errc::invalid_argument));
}

TEST_CASE("RFC 9162 known answers (tests/vectors/merkle_rfc9162.vec)", "[merkle]") {
  const auto records = sluis::test::load_vectors("merkle_rfc9162.vec");
  MerkleTree tree;
  std::map<std::string, int> seen;
  for (const auto& rec : records) {
    INFO("record " << rec.at("name") << " at line " << rec.line);
    const std::string& kind = rec.at("kind");
    const std::string& expect = rec.at("expect");
    ++seen[kind + ":" + (expect == "ok" ? "ok" : "neg")];
    if (kind == "leaf") {
      REQUIRE(std::stoull(rec.at("index")) == tree.size());  // leaves come first, in order
      const Hash h = leaf_hash(hex(rec.at("data")));
      CHECK(h == hash_hex(rec.at("leaf_hash")));
      tree.append(h);
    } else if (kind == "root") {
      CHECK(tree.root_at(std::stoull(rec.at("size"))).value() == hash_hex(rec.at("root")));
    } else if (kind == "inclusion") {
      const auto index = std::stoull(rec.at("index"));
      const auto size = std::stoull(rec.at("size"));
      const auto proof = hash_list(rec.at("proof"));
      const auto r = verify_inclusion(hash_hex(rec.at("leaf_hash")), index, size, proof,
                                      hash_hex(rec.at("root")));
      if (expect == "ok") {
        CHECK(r);
        CHECK(tree.inclusion_proof(index, size).value() == proof);
      } else {
        REQUIRE_FALSE(r);
        CHECK(r.error() == make_error_code(errc_named(expect)));
      }
    } else if (kind == "consistency") {
      const auto m = std::stoull(rec.at("old_size"));
      const auto n = std::stoull(rec.at("new_size"));
      const auto proof = hash_list(rec.at("proof"));
      const auto r = verify_consistency(m, n, hash_hex(rec.at("old_root")),
                                        hash_hex(rec.at("new_root")), proof);
      if (expect == "ok") {
        CHECK(r);
        CHECK(tree.consistency_proof(m, n).value() == proof);
      } else {
        REQUIRE_FALSE(r);
        CHECK(r.error() == make_error_code(errc_named(expect)));
      }
    } else {
      FAIL("unknown kind " << kind);
    }
  }
  CHECK(seen["leaf:ok"] == 100);
  CHECK(seen["root:ok"] >= 9);
  CHECK(seen["inclusion:ok"] >= 36);
  CHECK(seen["inclusion:neg"] >= 10);
  CHECK(seen["consistency:ok"] >= 36);
  CHECK(seen["consistency:neg"] >= 10);
}
