// KEK fingerprints and the erasure ledger's keyed digests (key_ring.hpp).
#include "sluis/crypto/key_ring.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <span>

namespace sluis::crypto {
namespace {

constexpr std::string_view kKekFingerprintDomain = "sluis/kek-fingerprint/v1";
constexpr std::string_view kErasureLedgerDomain = "sluis/erasure-ledger/v1";

/// BLAKE2b-256 (RFC 7693; keyed, so a PRF) over fields each written as an 8-byte big-endian
/// length and its bytes: prefix-free, so no two field sequences hash the same input.
class LengthPrefixedHash {
 public:
  explicit LengthPrefixedHash(std::span<const std::uint8_t, 32> key) {
    if (sodium_init() < 0 || crypto_generichash_init(&state_, key.data(), key.size(), kOut) != 0) {
      (void)std::fputs("sluis: crypto_generichash_init failed (broken libsodium)\n", stderr);
      std::abort();
    }
  }
  LengthPrefixedHash(const LengthPrefixedHash&) = delete;
  LengthPrefixedHash& operator=(const LengthPrefixedHash&) = delete;
  ~LengthPrefixedHash() { sodium_memzero(&state_, sizeof state_); }

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
  std::array<std::uint8_t, 32> finish() {
    std::array<std::uint8_t, 32> out{};
    (void)crypto_generichash_final(&state_, out.data(), out.size());
    return out;
  }

 private:
  static constexpr std::size_t kOut = 32;
  crypto_generichash_state state_{};
};

}  // namespace

KekFingerprint kek_fingerprint(const KeyEncryptionKey& kek) {
  LengthPrefixedHash h(kek.key.reveal());
  h.field(kKekFingerprintDomain);
  const std::uint32_t v = kek.version.value;
  const std::array<std::uint8_t, 4> be{
      static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
      static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  h.field(be);
  return h.finish();
}

LedgerDigest erasure_record_digest(const SubKey& erasure_ledger_key, std::string_view record) {
  LengthPrefixedHash h(erasure_ledger_key.reveal());
  h.field(kErasureLedgerDomain);
  h.field(record);
  return h.finish();
}

}  // namespace sluis::crypto
