// The key journal: data keys sealed to a snapshot's X25519 key, and that key's wrapped secret.
#include "sluis/crypto/key_journal.hpp"

#include <sodium.h>

#include <algorithm>
#include <string_view>

namespace sluis::crypto {
namespace {

constexpr std::uint8_t kEntryFormat = 1;
constexpr std::uint8_t kSecretFormat = 1;
constexpr std::size_t kPlainSize = 1 + 32 + 32;
constexpr std::size_t kWrappedSecretSize =
    1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32);
static_assert(kJournalEntrySize == kPlainSize + crypto_box_SEALBYTES);
static_assert(crypto_generichash_BYTES == 32);

/// BLAKE2b-256 of the domain, the recipient and the key's name (client, category, version).
void binding(const JournalPublicKey& recipient, const DataKeyRef& ref, std::uint8_t out[32]) {
  crypto_generichash_state st;
  static constexpr std::string_view kDomain = "sluis-key-journal-v1";
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain.data()),
                            kDomain.size());
  crypto_generichash_update(&st, recipient.data(), recipient.size());
  crypto_generichash_update(&st, ref.client.bytes.data(), ref.client.bytes.size());
  const auto len = static_cast<unsigned char>(ref.category.size());
  crypto_generichash_update(&st, &len, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(ref.category.data()),
                            ref.category.size());
  const unsigned char v[4] = {
      static_cast<unsigned char>(ref.version.value), static_cast<unsigned char>(ref.version.value >> 8),
      static_cast<unsigned char>(ref.version.value >> 16),
      static_cast<unsigned char>(ref.version.value >> 24)};
  crypto_generichash_update(&st, v, sizeof v);
  crypto_generichash_final(&st, out, 32);
}

}  // namespace

JournalKeyPair JournalKeyPair::generate() {
  JournalKeyPair pair;
  // crypto_box_keypair cannot fail with valid buffers.
  static_cast<void>(crypto_box_keypair(pair.public_key.data(), pair.secret_key.reveal_mut().data()));
  return pair;
}

Result<std::vector<std::uint8_t>>
seal_journal_entry(const JournalPublicKey& recipient, const DataKeyRef& ref, const DataKey& key) {
  if (ref.category.size() > kMaxNamePart) return make_error_code(Errc::invalid_argument);
  SecretBytes<kPlainSize> plain;
  auto p = plain.reveal_mut();
  p[0] = kEntryFormat;
  std::copy(key.reveal().begin(), key.reveal().end(), p.begin() + 1);
  binding(recipient, ref, p.data() + 33);
  std::vector<std::uint8_t> out(kJournalEntrySize);
  if (crypto_box_seal(out.data(), p.data(), p.size(), recipient.data()) != 0) {
    return make_error_code(Errc::invalid_argument);  // not a valid X25519 public key
  }
  return out;
}

Result<DataKey> open_journal_entry(const JournalPublicKey& recipient,
                                   const JournalSecretKey& secret, const DataKeyRef& ref,
                                   std::span<const std::uint8_t> sealed) {
  if (sealed.size() < kJournalEntrySize) return make_error_code(Errc::truncated);
  if (sealed.size() > kJournalEntrySize) return make_error_code(Errc::malformed);
  if (ref.category.size() > kMaxNamePart) return make_error_code(Errc::invalid_argument);
  SecretBytes<kPlainSize> plain;
  auto p = plain.reveal_mut();
  if (crypto_box_seal_open(p.data(), sealed.data(), sealed.size(), recipient.data(),
                           secret.reveal().data()) != 0) {
    return make_error_code(Errc::authentication_failed);
  }
  std::uint8_t expected[32];
  binding(recipient, ref, expected);
  if (p[0] != kEntryFormat || sodium_memcmp(expected, p.data() + 33, 32) != 0) {
    return make_error_code(Errc::authentication_failed);
  }
  return DataKey::copy_of(std::span<const std::uint8_t, 32>(p.data() + 1, 32));
}

Result<std::vector<std::uint8_t>> wrap_journal_secret(const SubKey& kek_wrapping,
                                                      const JournalKeyPair& pair) {
  std::vector<std::uint8_t> out(kWrappedSecretSize);
  out[0] = kSecretFormat;
  std::uint8_t* nonce = out.data() + 1;
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          out.data() + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &written,
          pair.secret_key.reveal().data(), 32, pair.public_key.data(), pair.public_key.size(),
          nullptr, nonce, kek_wrapping.reveal().data()) != 0) {
    return make_error_code(Errc::invalid_argument);
  }
  return out;
}

Result<JournalSecretKey> unwrap_journal_secret(const SubKey& kek_wrapping,
                                               const JournalPublicKey& public_key,
                                               std::span<const std::uint8_t> wrapped) {
  if (wrapped.size() < kWrappedSecretSize) return make_error_code(Errc::truncated);
  if (wrapped.size() > kWrappedSecretSize) return make_error_code(Errc::malformed);
  if (wrapped[0] != kSecretFormat) return make_error_code(Errc::unsupported_format);
  JournalSecretKey secret;
  unsigned long long opened = 0;
  const std::uint8_t* nonce = wrapped.data() + 1;
  const std::uint8_t* ct = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          secret.reveal_mut().data(), &opened, nullptr, ct,
          wrapped.size() - 1 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, public_key.data(),
          public_key.size(), nonce, kek_wrapping.reveal().data()) != 0 ||
      opened != 32) {
    return make_error_code(Errc::authentication_failed);
  }
  // The pair must belong together: the public key is derived from the secret.
  JournalPublicKey derived{};
  if (crypto_scalarmult_base(derived.data(), secret.reveal().data()) != 0 ||
      sodium_memcmp(derived.data(), public_key.data(), 32) != 0) {
    return make_error_code(Errc::authentication_failed);
  }
  return secret;
}

}  // namespace sluis::crypto
