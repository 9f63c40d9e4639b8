// Strong identifier and version types shared by the crypto core and everything above it.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <span>

namespace sluis::crypto {

/// A 128-bit random identifier. `Tag` makes ClientId and FragmentId distinct types so one cannot
/// be passed where the other is expected. Not secret, but never printed to logs (no operator<<).
template <class Tag> struct Id128 {
  std::array<std::uint8_t, 16> bytes{};

  /// A fresh random id (CSPRNG).
  [[nodiscard]] static Id128 random();
  [[nodiscard]] static Id128 from(std::span<const std::uint8_t, 16> b) {
    Id128 id;
    std::copy(b.begin(), b.end(), id.bytes.begin());
    return id;
  }
  [[nodiscard]] std::span<const std::uint8_t, 16> view() const noexcept { return bytes; }
  friend auto operator<=>(const Id128&, const Id128&) = default;
};

struct ClientIdTag;
struct FragmentIdTag;
/// The gateway-internal client id: random, never leaves the gateway.
using ClientId = Id128<ClientIdTag>;
/// The id of one fragment version.
using FragmentId = Id128<FragmentIdTag>;

/// Version of a client × category data key (bound into every field ciphertext).
struct DataKeyVersion {
  std::uint32_t value = 0;
  friend auto operator<=>(const DataKeyVersion&, const DataKeyVersion&) = default;
};

/// Version of a key-encryption key (bound into every wrapped data key).
struct KekVersion {
  std::uint32_t value = 0;
  friend auto operator<=>(const KekVersion&, const KekVersion&) = default;
};

namespace detail {
void fill_random_id(std::uint8_t* p, std::size_t n) noexcept;
}

template <class Tag> Id128<Tag> Id128<Tag>::random() {
  Id128 id;
  detail::fill_random_id(id.bytes.data(), id.bytes.size());
  return id;
}

}  // namespace sluis::crypto
