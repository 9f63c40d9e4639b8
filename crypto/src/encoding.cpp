// Hex and base64 on libsodium's constant-time codecs.
#include "sluis/crypto/encoding.hpp"

#include "sluis/crypto/secret.hpp"
#include "sluis/crypto/types.hpp"

#include <sodium.h>

namespace sluis::crypto {

namespace detail {
void fill_random_id(std::uint8_t* p, std::size_t n) noexcept {
  fill_random(p, n);
}
}  // namespace detail

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

Result<std::vector<std::uint8_t>> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return Errc::malformed;
  if (text.empty()) return std::vector<std::uint8_t>{};  // libsodium wants non-null buffers
  std::vector<std::uint8_t> out(text.size() / 2);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != text.data() + text.size()) {
    return Errc::malformed;
  }
  return out;
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.pop_back();
  return out;
}

Result<std::vector<std::uint8_t>> from_base64(std::string_view text) {
  if (text.empty()) return std::vector<std::uint8_t>{};
  std::vector<std::uint8_t> out(text.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return Errc::malformed;
  }
  out.resize(len);
  return out;
}

}  // namespace sluis::crypto
