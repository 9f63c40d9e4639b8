// Sub-key derivation, key-encryption keys, data-key wrapping and the KEK ring
// (docs/crypto/key-hierarchy.md).
#include "sluis/crypto/keys.hpp"

#include "sluis/crypto/detail/known_answer.hpp"

#include <sodium.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace sluis::crypto {
namespace {

// crypto_kdf context: exactly crypto_kdf_CONTEXTBYTES (8) characters.
// A C array because libsodium takes `const char ctx[8]`.
constexpr char kKdfContext[] = "sluis-v1";  // NOLINT(modernize-avoid-c-arrays)
static_assert(sizeof(kKdfContext) - 1 == crypto_kdf_CONTEXTBYTES);
static_assert(crypto_kdf_KEYBYTES == RootKey::kSize);
static_assert(SubKey::kSize >= crypto_kdf_BYTES_MIN && SubKey::kSize <= crypto_kdf_BYTES_MAX);

// Wrapped-key blob, shared by KEKs and data keys: format || nonce || ciphertext(32) || tag.
constexpr std::uint8_t kWrapFormatV1 = 0x01;
constexpr std::size_t kWrappedKeySize = 1 + detail::kNonceSize + 32 + kFieldTagSize;
constexpr std::size_t kWrapNonceOffset = 1;
constexpr std::size_t kWrapCipherOffset = 1 + detail::kNonceSize;

// AD labels: one per construction, so a wrapped KEK can never be taken for a wrapped data key
// (or a field), whatever the other AD bytes are.
constexpr std::string_view kKekAdLabel = "sluis/kek/v1";
constexpr std::string_view kDekAdLabel = "sluis/dek/v1";
// label || u32 KEK version
constexpr std::size_t kKekAdSize = kKekAdLabel.size() + 4;
// label || client (16) || category length (1) || category || u32 data-key version ||
// u32 KEK version
constexpr std::size_t kMaxDekAdSize = kDekAdLabel.size() + 16 + 1 + kMaxNamePart + 4 + 4;

std::uint8_t* put_u32_be(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
  return p + 4;
}

std::uint8_t* put_text(std::uint8_t* p, std::string_view s) noexcept {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

std::size_t write_kek_ad(KekVersion version, std::uint8_t* out) noexcept {
  std::uint8_t* p = put_text(out, kKekAdLabel);
  p = put_u32_be(p, version.value);
  return static_cast<std::size_t>(p - out);
}

// Precondition: ref.category.size() <= kMaxNamePart.
std::size_t write_dek_ad(const DataKeyRef& ref, KekVersion kek_version,
                         std::uint8_t* out) noexcept {
  std::uint8_t* p = put_text(out, kDekAdLabel);
  std::memcpy(p, ref.client.bytes.data(), ref.client.bytes.size());
  p += ref.client.bytes.size();
  *p++ = static_cast<std::uint8_t>(ref.category.size());
  p = put_text(p, ref.category);
  p = put_u32_be(p, ref.version.value);
  p = put_u32_be(p, kek_version.value);
  return static_cast<std::size_t>(p - out);
}

// Seals a 32-byte key into a fresh blob under `wrapping_key`.
Result<std::vector<std::uint8_t>> wrap_key_bytes(std::span<const std::uint8_t, 32> wrapping_key,
                                                 std::span<const std::uint8_t, 32> key,
                                                 std::span<const std::uint8_t> ad,
                                                 const std::uint8_t* nonce) {
  std::vector<std::uint8_t> blob(kWrappedKeySize);
  blob[0] = kWrapFormatV1;
  if (nonce != nullptr) {
    std::memcpy(blob.data() + kWrapNonceOffset, nonce, detail::kNonceSize);
  } else {
    detail::fill_random(blob.data() + kWrapNonceOffset, detail::kNonceSize);
  }
  unsigned long long clen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          blob.data() + kWrapCipherOffset, &clen, key.data(), key.size(), ad.data(), ad.size(),
          nullptr, blob.data() + kWrapNonceOffset, wrapping_key.data()) != 0 ||
      clen != key.size() + kFieldTagSize) {
    return Errc::invalid_argument;
  }
  return blob;
}

// Opens a blob straight into guarded memory; `out` is zeroised by libsodium on failure.
Result<void> unwrap_key_bytes(std::span<const std::uint8_t, 32> wrapping_key,
                              std::span<const std::uint8_t> blob, std::span<const std::uint8_t> ad,
                              std::span<std::uint8_t, 32> out) {
  if (blob.size() < kWrappedKeySize) return Errc::truncated;
  if (blob[0] != kWrapFormatV1) return Errc::unsupported_format;
  if (blob.size() != kWrappedKeySize) return Errc::malformed;
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &mlen, nullptr, blob.data() + kWrapCipherOffset,
          blob.size() - kWrapCipherOffset, ad.data(), ad.size(), blob.data() + kWrapNonceOffset,
          wrapping_key.data()) != 0 ||
      mlen != out.size()) {
    sodium_memzero(out.data(), out.size());
    return Errc::authentication_failed;
  }
  return {};
}

Result<WrappedKek> wrap_kek_impl(const SubKey& kek_wrapping, const KeyEncryptionKey& kek,
                                 const std::uint8_t* nonce) {
  std::array<std::uint8_t, kKekAdSize> ad;
  const std::size_t ad_len = write_kek_ad(kek.version, ad.data());
  auto blob = wrap_key_bytes(kek_wrapping.reveal(), kek.key.reveal(), {ad.data(), ad_len}, nonce);
  if (!blob) return blob.error();
  return WrappedKek{.version = kek.version, .blob = std::move(*blob)};
}

Result<WrappedDataKey> wrap_data_key_impl(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                          const DataKey& key, const std::uint8_t* nonce) {
  if (ref.category.size() > kMaxNamePart) return Errc::invalid_argument;
  std::array<std::uint8_t, kMaxDekAdSize> ad;
  const std::size_t ad_len = write_dek_ad(ref, kek.version, ad.data());
  auto blob = wrap_key_bytes(kek.key.reveal(), key.reveal(), {ad.data(), ad_len}, nonce);
  if (!blob) return blob.error();
  return WrappedDataKey{.kek_version = kek.version, .blob = std::move(*blob)};
}

}  // namespace

SubKey derive_subkey(const RootKey& root, KeyPurpose purpose) {
  SubKey out;
  // crypto_kdf_derive_from_key = BLAKE2b(key = root, salt = LE64(subkey id) || 0^8,
  // personal = context || 0^8). It only fails for out-of-range lengths, which the static_asserts
  // above exclude; a failure here is a broken libsodium and nothing may continue.
  if (crypto_kdf_derive_from_key(out.reveal_mut().data(), out.size(),
                                 static_cast<std::uint64_t>(purpose), kKdfContext,
                                 root.reveal().data()) != 0) {
    (void)std::fputs("sluis: crypto_kdf_derive_from_key failed (broken libsodium)\n", stderr);
    std::abort();
  }
  return out;
}

KeyEncryptionKey KeyEncryptionKey::generate(KekVersion version) {
  return KeyEncryptionKey{.version = version, .key = KekSecret::random()};
}

Result<WrappedKek> wrap_kek(const SubKey& kek_wrapping, const KeyEncryptionKey& kek) {
  return wrap_kek_impl(kek_wrapping, kek, nullptr);
}

Result<KeyEncryptionKey> unwrap_kek(const SubKey& kek_wrapping, const WrappedKek& wrapped) {
  std::array<std::uint8_t, kKekAdSize> ad;
  const std::size_t ad_len = write_kek_ad(wrapped.version, ad.data());
  KeyEncryptionKey kek{.version = wrapped.version, .key = KekSecret{}};
  if (auto ok = unwrap_key_bytes(kek_wrapping.reveal(), wrapped.blob, {ad.data(), ad_len},
                                 kek.key.reveal_mut());
      !ok) {
    return ok.error();
  }
  return kek;
}

DataKey generate_data_key() {
  return DataKey::random();
}

Result<WrappedDataKey> wrap_data_key(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                     const DataKey& key) {
  return wrap_data_key_impl(kek, ref, key, nullptr);
}

Result<void> unwrap_data_key_into(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                  const WrappedDataKey& wrapped, DataKey& out) {
  auto fail = [&out](Errc e) -> Result<void> {
    sodium_memzero(out.reveal_mut().data(), out.size());
    return e;
  };
  if (kek.version != wrapped.kek_version) return fail(Errc::wrong_key_version);
  if (ref.category.size() > kMaxNamePart) return fail(Errc::invalid_argument);
  std::array<std::uint8_t, kMaxDekAdSize> ad;
  const std::size_t ad_len = write_dek_ad(ref, wrapped.kek_version, ad.data());
  if (auto ok =
          unwrap_key_bytes(kek.key.reveal(), wrapped.blob, {ad.data(), ad_len}, out.reveal_mut());
      !ok) {
    return fail(static_cast<Errc>(ok.error().value()));
  }
  return {};
}

Result<DataKey> unwrap_data_key(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                const WrappedDataKey& wrapped) {
  // Refuse before allocating guarded memory: a wrong version is the common caller mistake.
  if (kek.version != wrapped.kek_version) return Errc::wrong_key_version;
  DataKey key;
  if (auto ok = unwrap_data_key_into(kek, ref, wrapped, key); !ok) return ok.error();
  return key;
}

Result<WrappedDataKey> rewrap_data_key(const KeyEncryptionKey& from, const KeyEncryptionKey& to,
                                       const DataKeyRef& ref, const WrappedDataKey& wrapped) {
  auto key = unwrap_data_key(from, ref, wrapped);
  if (!key) return key.error();
  return wrap_data_key(to, ref, *key);
}

namespace detail {

Result<WrappedKek> wrap_kek_with_nonce(const SubKey& kek_wrapping, const KeyEncryptionKey& kek,
                                       Nonce nonce) {
  return wrap_kek_impl(kek_wrapping, kek, nonce.data());
}

Result<WrappedDataKey> wrap_data_key_with_nonce(const KeyEncryptionKey& kek, const DataKeyRef& ref,
                                                const DataKey& key, Nonce nonce) {
  return wrap_data_key_impl(kek, ref, key, nonce.data());
}

}  // namespace detail

void KeyRing::add(KeyEncryptionKey kek) {
  const std::uint32_t v = kek.version.value;
  keks_.insert_or_assign(v, std::move(kek));
}

void KeyRing::retire(KekVersion version) {
  keks_.erase(version.value);
}

Result<const KeyEncryptionKey*> KeyRing::current() const {
  if (keks_.empty()) return Errc::key_not_found;
  return &keks_.rbegin()->second;
}

Result<const KeyEncryptionKey*> KeyRing::find(KekVersion version) const {
  auto it = keks_.find(version.value);
  if (it == keks_.end()) return Errc::key_not_found;
  return &it->second;
}

std::vector<KekVersion> KeyRing::versions() const {
  std::vector<KekVersion> out;
  out.reserve(keks_.size());
  for (const auto& entry : keks_)
    out.push_back(entry.second.version);
  return out;
}

}  // namespace sluis::crypto
