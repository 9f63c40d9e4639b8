// KEK fingerprints and the erasure ledger's keyed digests (key_ring.hpp).
#include "sluis/crypto/key_ring.hpp"

#include "keyed_hash.hpp"

#include <array>
#include <initializer_list>
#include <span>

namespace sluis::crypto {
namespace {

constexpr std::string_view kKekFingerprintDomain = "sluis/kek-fingerprint/v1";
constexpr std::string_view kErasureLedgerDomain = "sluis/erasure-ledger/v1";

/// BLAKE2b-256 (RFC 7693; keyed, so a PRF) over length-prefixed fields (keyed_hash.hpp).
std::array<std::uint8_t, 32>
hash_fields(std::span<const std::uint8_t> key,
            std::initializer_list<std::span<const std::uint8_t>> fields) {
  detail::KeyedHash h(key, 32);
  for (const auto& f : fields)
    h.field(f);
  std::array<std::uint8_t, 32> out{};
  h.finish(out);
  return out;
}

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

KekFingerprint kek_fingerprint(const KeyEncryptionKey& kek) {
  const std::uint32_t v = kek.version.value;
  const std::array<std::uint8_t, 4> be{
      static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
      static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  return hash_fields(kek.key.reveal(), {bytes_of(kKekFingerprintDomain), be});
}

LedgerDigest erasure_record_digest(const SubKey& erasure_ledger_key, std::string_view record) {
  return hash_fields(erasure_ledger_key.reveal(),
                     {bytes_of(kErasureLedgerDomain), bytes_of(record)});
}

}  // namespace sluis::crypto
