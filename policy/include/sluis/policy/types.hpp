// Interned names (small integer ids), sets of them, and the time type used by the policy module.
#pragma once

#include <bit>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluis::policy {

/// Times are whole seconds, UTC. The caller supplies `now`; policy never reads a clock.
using Time = std::chrono::sys_seconds;

/// Most names of one kind a rule pack may define (ids fit a 64-bit set).
inline constexpr std::size_t kMaxNamesPerKind = 64;

/// A name interned by a RulePack: an index into the pack's definitions of that kind. Only
/// meaningful together with the pack that produced it (re-resolve names after a pack reload).
template <class Tag> struct NameId {
  std::uint8_t value = 0;
  friend constexpr auto operator<=>(const NameId&, const NameId&) = default;
};

struct PartnerTypeTag;
struct RoleTag;
struct CategoryTag;
struct PurposeTag;
using PartnerTypeId = NameId<PartnerTypeTag>;
using RoleId = NameId<RoleTag>;
using CategoryId = NameId<CategoryTag>;
using PurposeId = NameId<PurposeTag>;

/// A set of interned names of one kind, as a 64-bit mask (allocation-free, O(1) membership).
template <class Id> class NameSet {
 public:
  constexpr NameSet() noexcept = default;
  [[nodiscard]] static constexpr NameSet from_bits(std::uint64_t bits) noexcept {
    NameSet s;
    s.bits_ = bits;
    return s;
  }
  [[nodiscard]] constexpr bool contains(Id id) const noexcept {
    return ((bits_ >> id.value) & 1U) != 0;
  }
  constexpr void insert(Id id) noexcept { bits_ |= std::uint64_t{1} << id.value; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  [[nodiscard]] constexpr int size() const noexcept { return std::popcount(bits_); }
  [[nodiscard]] constexpr std::uint64_t bits() const noexcept { return bits_; }
  [[nodiscard]] constexpr NameSet operator|(NameSet o) const noexcept {
    return from_bits(bits_ | o.bits_);
  }
  [[nodiscard]] constexpr NameSet operator&(NameSet o) const noexcept {
    return from_bits(bits_ & o.bits_);
  }
  friend constexpr bool operator==(const NameSet&, const NameSet&) = default;

  /// Calls f(Id) for every member in ascending id order.
  template <class F> constexpr void for_each(F&& f) const {
    for (std::uint64_t b = bits_; b != 0; b &= b - 1) {
      f(Id{static_cast<std::uint8_t>(std::countr_zero(b))});
    }
  }

 private:
  std::uint64_t bits_ = 0;
};

using CategorySet = NameSet<CategoryId>;
using PurposeSet = NameSet<PurposeId>;
using RoleSet = NameSet<RoleId>;
using PartnerTypeSet = NameSet<PartnerTypeId>;

/// Longest partner, worker, consent or grant id accepted (bytes).
inline constexpr std::size_t kMaxIdLength = 128;

/// True when `id` is 1..kMaxIdLength bytes of [A-Za-z0-9._:@/-] (ids travel in JSON, audit
/// records and rule ids such as "consent.active:<id>", so they stay printable and unambiguous).
[[nodiscard]] bool is_valid_id(std::string_view id) noexcept;

/// Formats a time as RFC 3339 UTC, e.g. "2025-03-01T09:30:00Z".
[[nodiscard]] std::string format_time(Time t);

/// Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, no fraction, no offset); nullopt
/// otherwise, including impossible dates such as 2025-02-30.
[[nodiscard]] std::optional<Time> parse_time(std::string_view text) noexcept;

}  // namespace sluis::policy
