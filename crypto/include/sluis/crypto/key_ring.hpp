// What the PostgreSQL engine's files outside the database need of the key hierarchy: the
// sub-key that closes the erasure ledger's lines, and the fingerprint a KEK version is
// recognised by (docs/crypto/key-hierarchy.md §2).
#pragma once

#include "sluis/crypto/keys.hpp"

#include <array>
#include <cstdint>
#include <string_view>

namespace sluis::crypto {

/// The sub-key purpose of the erasure ledger's keyed digests: id 11, after
/// KeyPurpose::caseload_label_index. (Declared here rather than in KeyPurpose so that adding it
/// did not rebuild every user of keys.hpp; it belongs there, with the same value, when that
/// header is next touched. The value is part of the derivation and never changes.)
inline constexpr KeyPurpose kErasureLedgerPurpose{11};

/// What a KEK version is recognised by without revealing it: BLAKE2b-256 keyed with the KEK's
/// secret over LP("sluis/kek-fingerprint/v1") || u32 version (big-endian). Stored beside the
/// data keys so that a node whose ring file holds another KEK under the same version is refused.
using KekFingerprint = std::array<std::uint8_t, 32>;
[[nodiscard]] KekFingerprint kek_fingerprint(const KeyEncryptionKey& kek);

/// The keyed digest that closes one line of the erasure ledger: BLAKE2b-256 keyed with the
/// erasure-ledger sub-key over LP("sluis/erasure-ledger/v1") || LP(record), `record` being the
/// line's text before the digest. A line altered, or written without the root key, does not
/// match.
using LedgerDigest = std::array<std::uint8_t, 32>;
[[nodiscard]] LedgerDigest erasure_record_digest(const SubKey& erasure_ledger_key,
                                                 std::string_view record);

}  // namespace sluis::crypto
