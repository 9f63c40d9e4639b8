// Keyed BLAKE2b over a sequence of length-prefixed fields: the construction behind the
// pseudonyms (pseudonym.cpp), the KEK fingerprints and the erasure ledger's digests
// (key_ring.cpp). Internal to the crypto module.
#pragma once

#include "sluis/crypto/secret.hpp"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sluis::crypto::detail {

/// Every field is written as an 8-byte big-endian length followed by its bytes, so no two
/// different field sequences produce the same byte string (the encoding is prefix-free). Callers
/// make the first field a domain label, so the same key used for two purposes by mistake would
/// still give unrelated outputs. The output length is a BLAKE2b parameter (RFC 7693 §2.5), not a
/// truncation; key and output lengths must be inside libsodium's limits (the callers assert it).
class KeyedHash {
 public:
  KeyedHash(std::span<const std::uint8_t> key, std::size_t out_len) : out_len_(out_len) {
    ensure_sodium();
    // Cannot fail for key and output lengths inside libsodium's limits.
    (void)crypto_generichash_init(&state_, key.data(), key.size(), out_len_);
  }
  KeyedHash(const KeyedHash&) = delete;
  KeyedHash& operator=(const KeyedHash&) = delete;
  ~KeyedHash() { zeroise(&state_, sizeof state_); }

  void field(std::span<const std::uint8_t> bytes) {
    std::array<std::uint8_t, 8> len{};
    std::uint64_t n = bytes.size();
    for (std::size_t i = len.size(); i-- > 0;) {
      len[i] = static_cast<std::uint8_t>(n & 0xffU);
      n >>= 8U;
    }
    (void)crypto_generichash_update(&state_, len.data(), len.size());
    if (!bytes.empty()) (void)crypto_generichash_update(&state_, bytes.data(), bytes.size());
  }
  void field(std::string_view text) {
    field(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }

  /// Writes the out_len bytes of the hash into `out` (at least out_len long).
  void finish(std::span<std::uint8_t> out) {
    (void)crypto_generichash_final(&state_, out.data(), out_len_);
  }

 private:
  crypto_generichash_state state_{};
  std::size_t out_len_;
};

}  // namespace sluis::crypto::detail
