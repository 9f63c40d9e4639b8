// Field sealing with XChaCha20-Poly1305-IETF, format v1 (docs/crypto/field-format.md).
#include "sluis/crypto/field.hpp"

#include "sluis/crypto/detail/known_answer.hpp"

#include <sodium.h>

#include <array>
#include <cstring>

namespace sluis::crypto {
namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == detail::kNonceSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kFieldTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == DataKey::kSize);
static_assert(kFieldHeaderSize == 1 + 4 + detail::kNonceSize);
static_assert(kMaxNamePart <= 255, "name parts are length-prefixed with one byte");

// Domain label at the start of every field AD. It names the construction and its version, so a
// field AD can never equal the AD of any other sluis AEAD use (KEK and data-key wrapping use
// their own labels).
constexpr std::string_view kFieldAdLabel = "sluis/field/v1";

constexpr std::size_t kVersionOffset = 1;
constexpr std::size_t kNonceOffset = 5;

void store_u32_be(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t load_u32_be(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool names_fit(const FieldContext& ctx) noexcept {
  return ctx.field_name.size() <= kMaxNamePart && ctx.category.size() <= kMaxNamePart;
}

// Appends a one-byte length and the bytes. Callers have checked size <= 255.
std::uint8_t* put_prefixed(std::uint8_t* p, std::string_view s) noexcept {
  *p++ = static_cast<std::uint8_t>(s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

std::uint8_t* put_bytes(std::uint8_t* p, std::span<const std::uint8_t> b) noexcept {
  std::memcpy(p, b.data(), b.size());
  return p + b.size();
}

// The AD encoding (docs/crypto/field-format.md, "Associated data"). Every variable-length part is
// prefixed with its length and every other part has a fixed width, so two different contexts
// can never encode to the same bytes ("ab"+"c" differs from "a"+"bc"). Precondition: names_fit.
std::size_t write_field_ad(const FieldContext& ctx, std::uint8_t* out) noexcept {
  std::uint8_t* p = out;
  p = put_prefixed(p, kFieldAdLabel);
  *p++ = kFieldFormatV1;
  p = put_bytes(p, ctx.fragment.view());
  p = put_prefixed(p, ctx.field_name);
  p = put_prefixed(p, ctx.category);
  p = put_bytes(p, ctx.client.view());
  store_u32_be(p, ctx.key_version.value);
  p += 4;
  return static_cast<std::size_t>(p - out);
}

// Shared by seal_field_into and the known-answer hook: writes the header with `nonce` (already in
// place at out[kNonceOffset..] when nonce_in_place) and encrypts. Arguments are validated here.
Result<void> seal_with_nonce_at(const DataKey& key, const FieldContext& ctx,
                                const std::uint8_t* nonce, std::span<const std::uint8_t> plaintext,
                                std::span<std::uint8_t> out) {
  std::array<std::uint8_t, detail::kMaxFieldAdSize> ad;  // on the stack: no allocation per field
  const std::size_t ad_len = write_field_ad(ctx, ad.data());

  out[0] = kFieldFormatV1;
  store_u32_be(out.data() + kVersionOffset, ctx.key_version.value);
  if (nonce != out.data() + kNonceOffset) {
    std::memcpy(out.data() + kNonceOffset, nonce, detail::kNonceSize);
  }
  unsigned long long clen = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + kFieldHeaderSize, &clen, plaintext.data(), plaintext.size(), ad.data(), ad_len,
      nullptr, out.data() + kNonceOffset, key.reveal().data());
  if (rc != 0 || clen != plaintext.size() + kFieldTagSize) {
    // Cannot happen for sizes within kMaxFieldPlaintext; never hand out a half-written field.
    sodium_memzero(out.data(), out.size());
    return Errc::invalid_argument;
  }
  return {};
}

Result<void> check_seal_args(const FieldContext& ctx, std::span<const std::uint8_t> plaintext,
                             std::span<std::uint8_t> out) noexcept {
  if (!names_fit(ctx) || plaintext.size() > kMaxFieldPlaintext ||
      out.size() != plaintext.size() + kFieldOverhead) {
    return Errc::invalid_argument;
  }
  return {};
}

}  // namespace

namespace detail {

Result<std::size_t> encode_field_ad(const FieldContext& ctx,
                                    std::span<std::uint8_t, kMaxFieldAdSize> out) {
  if (!names_fit(ctx)) return Errc::invalid_argument;
  return write_field_ad(ctx, out.data());
}

Result<void> seal_field_with_nonce(const DataKey& key, const FieldContext& ctx, Nonce nonce,
                                   std::span<const std::uint8_t> plaintext,
                                   std::span<std::uint8_t> out) {
  if (auto ok = check_seal_args(ctx, plaintext, out); !ok) return ok;
  return seal_with_nonce_at(key, ctx, nonce.data(), plaintext, out);
}

}  // namespace detail

Result<void> seal_field_into(const DataKey& key, const FieldContext& ctx,
                             std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out) {
  if (auto ok = check_seal_args(ctx, plaintext, out); !ok) return ok;
  // 192-bit random nonces: the collision probability stays negligible for any realistic number
  // of fields under one data key, so no counter state is needed (draft-irtf-cfrg-xchacha §3.1).
  detail::fill_random(out.data() + kNonceOffset, detail::kNonceSize);
  return seal_with_nonce_at(key, ctx, out.data() + kNonceOffset, plaintext, out);
}

Result<std::vector<std::uint8_t>> seal_field(const DataKey& key, const FieldContext& ctx,
                                             std::span<const std::uint8_t> plaintext) {
  if (!names_fit(ctx) || plaintext.size() > kMaxFieldPlaintext) return Errc::invalid_argument;
  std::vector<std::uint8_t> out(plaintext.size() + kFieldOverhead);
  if (auto ok = seal_field_into(key, ctx, plaintext, out); !ok) return ok.error();
  return out;
}

Result<DataKeyVersion> sealed_field_key_version(std::span<const std::uint8_t> sealed) {
  if (sealed.size() < kFieldOverhead) return Errc::truncated;
  if (sealed[0] != kFieldFormatV1) return Errc::unsupported_format;
  return DataKeyVersion{load_u32_be(sealed.data() + kVersionOffset)};
}

Result<std::size_t> open_field_into(const DataKey& key, const FieldContext& ctx,
                                    std::span<const std::uint8_t> sealed,
                                    std::span<std::uint8_t> out) {
  // Every early exit wipes `out` too, so a caller that ignores the error still sees no stale data.
  auto fail = [&out](Errc e) -> Result<std::size_t> {
    if (!out.empty()) sodium_memzero(out.data(), out.size());
    return e;
  };
  auto version = sealed_field_key_version(sealed);
  if (!version) return fail(static_cast<Errc>(version.error().value()));
  // A version mismatch is the caller fetching the wrong key; say so without running the AEAD.
  if (*version != ctx.key_version) return fail(Errc::wrong_key_version);
  if (!names_fit(ctx)) return fail(Errc::invalid_argument);
  const std::size_t plain_len = sealed.size() - kFieldOverhead;
  if (out.size() < plain_len) return fail(Errc::invalid_argument);

  std::array<std::uint8_t, detail::kMaxFieldAdSize> ad;
  const std::size_t ad_len = write_field_ad(ctx, ad.data());
  unsigned long long mlen = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      out.data(), &mlen, nullptr, sealed.data() + kFieldHeaderSize,
      sealed.size() - kFieldHeaderSize, ad.data(), ad_len, sealed.data() + kNonceOffset,
      key.reveal().data());
  if (rc != 0 || mlen != plain_len) return fail(Errc::authentication_failed);
  return plain_len;
}

Result<PlainBytes> open_field(const DataKey& key, const FieldContext& ctx,
                              std::span<const std::uint8_t> sealed) {
  if (sealed.size() < kFieldOverhead) return Errc::truncated;
  PlainBytes out(sealed.size() - kFieldOverhead);
  auto n = open_field_into(key, ctx, sealed, out);
  if (!n) return n.error();  // `out` is wiped by open_field_into and again by its allocator
  return out;
}

}  // namespace sluis::crypto
