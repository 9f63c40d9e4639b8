// The strict CBOR decoder of cbor.hpp (RFC 8949 §3: the initial byte, its major type and its
// argument; §3.2 indefinite lengths, which WebAuthn never needs and we refuse; §5.6 duplicate
// keys, which make a map ambiguous and which we refuse).
#include "sluis/console/cbor.hpp"

#include "sluis/console/utf8.hpp"

#include <limits>

namespace sluis::console {

const CborValue* CborValue::find(std::int64_t key) const noexcept {
  if (kind != Kind::map) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k.kind == Kind::integer && k.integer == key) return &v;
  }
  return nullptr;
}

const CborValue* CborValue::find(std::string_view key) const noexcept {
  if (kind != Kind::map) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k.kind == Kind::text && k.text == key) return &v;
  }
  return nullptr;
}

namespace {

class Decoder {
 public:
  Decoder(std::span<const std::uint8_t> in, const CborLimits& limits) : in_(in), limits_(limits) {}

  [[nodiscard]] std::size_t position() const noexcept { return pos_; }

  WebauthnResult<CborValue> item(std::size_t depth) {
    if (pos_ >= in_.size()) return WebauthnErrc::cbor_truncated;
    const std::uint8_t initial = in_[pos_++];
    const unsigned major = initial >> 5U;
    const unsigned info = initial & 0x1fU;
    if (major == 7) return simple(info);
    if (info == 31) return WebauthnErrc::cbor_indefinite_length;  // §3.2.1, §3.2.2
    if (info >= 28) return WebauthnErrc::cbor_unsupported;        // reserved (§3)
    auto arg = argument(info);
    if (!arg) return arg.error();
    switch (major) {
    case 0: return integer(*arg, false);
    case 1: return integer(*arg, true);
    case 2: return string(*arg, CborValue::Kind::bytes);
    case 3: return string(*arg, CborValue::Kind::text);
    case 4: return array(*arg, depth);
    case 5: return map(*arg, depth);
    default: return WebauthnErrc::cbor_unsupported;  // 6: tags
    }
  }

 private:
  // The argument that follows the initial byte (§3): in `info` itself or in 1, 2, 4 or 8 bytes.
  WebauthnResult<std::uint64_t> argument(unsigned info) {
    if (info < 24) return std::uint64_t{info};
    const std::size_t n = std::size_t{1} << (info - 24);  // 24..27 -> 1, 2, 4, 8 bytes
    if (in_.size() - pos_ < n) return WebauthnErrc::cbor_truncated;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = (v << 8U) | in_[pos_++];
    return v;
  }

  static WebauthnResult<CborValue> integer(std::uint64_t arg, bool negative) {
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (arg > kMax) return WebauthnErrc::cbor_unsupported;
    CborValue v;
    v.kind = CborValue::Kind::integer;
    // Major type 1 encodes -1 - arg (§3.1); arg <= INT64_MAX keeps that in range.
    v.integer = negative ? -1 - static_cast<std::int64_t>(arg) : static_cast<std::int64_t>(arg);
    return v;
  }

  WebauthnResult<CborValue> string(std::uint64_t len, CborValue::Kind kind) {
    if (len > limits_.max_string_bytes) return WebauthnErrc::cbor_too_large;
    if (len > in_.size() - pos_) return WebauthnErrc::cbor_truncated;
    const auto n = static_cast<std::size_t>(len);
    const auto* first = in_.data() + pos_;
    pos_ += n;
    CborValue v;
    v.kind = kind;
    if (kind == CborValue::Kind::bytes) {
      v.bytes.assign(first, first + n);
    } else {
      v.text.assign(reinterpret_cast<const char*>(first), n);
      if (!is_valid_utf8(v.text)) return WebauthnErrc::cbor_invalid_utf8;
    }
    return v;
  }

  WebauthnResult<CborValue> array(std::uint64_t count, std::size_t depth) {
    if (depth >= limits_.max_depth) return WebauthnErrc::cbor_too_deep;
    if (count > limits_.max_items) return WebauthnErrc::cbor_too_large;
    if (count > in_.size() - pos_) return WebauthnErrc::cbor_truncated;  // >= 1 byte per item
    CborValue v;
    v.kind = CborValue::Kind::array;
    v.items.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
      auto element = item(depth + 1);
      if (!element) return element.error();
      v.items.push_back(std::move(*element));
    }
    return v;
  }

  WebauthnResult<CborValue> map(std::uint64_t count, std::size_t depth) {
    if (depth >= limits_.max_depth) return WebauthnErrc::cbor_too_deep;
    if (count > limits_.max_items) return WebauthnErrc::cbor_too_large;
    if (count > (in_.size() - pos_) / 2) return WebauthnErrc::cbor_truncated;  // >= 2 per entry
    CborValue v;
    v.kind = CborValue::Kind::map;
    v.entries.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
      auto key = item(depth + 1);
      if (!key) return key.error();
      if (key->kind != CborValue::Kind::integer && key->kind != CborValue::Kind::text)
        return WebauthnErrc::cbor_bad_key;
      for (const auto& entry : v.entries) {
        if (entry.first == *key) return WebauthnErrc::cbor_duplicate_key;
      }
      auto value = item(depth + 1);
      if (!value) return value.error();
      v.entries.emplace_back(std::move(*key), std::move(*value));
    }
    return v;
  }

  // Major type 7 (§3.3): only false (20), true (21) and null (22). The break byte (0xff) only
  // ends an indefinite-length item, which we refuse, so it is reported as such.
  static WebauthnResult<CborValue> simple(unsigned info) {
    CborValue v;
    switch (info) {
    case 20:
    case 21:
      v.kind = CborValue::Kind::boolean;
      v.boolean = info == 21;
      return v;
    case 22: v.kind = CborValue::Kind::null; return v;
    case 31: return WebauthnErrc::cbor_indefinite_length;
    default: return WebauthnErrc::cbor_unsupported;
    }
  }

  std::span<const std::uint8_t> in_;
  const CborLimits& limits_;
  std::size_t pos_ = 0;
};

}  // namespace

WebauthnResult<CborValue> cbor_decode_prefix(std::span<const std::uint8_t> input,
                                             std::size_t& consumed, const CborLimits& limits) {
  consumed = 0;
  Decoder d(input, limits);
  auto v = d.item(0);
  if (!v) return v.error();
  consumed = d.position();
  return v;
}

WebauthnResult<CborValue> cbor_decode(std::span<const std::uint8_t> input,
                                      const CborLimits& limits) {
  std::size_t consumed = 0;
  auto v = cbor_decode_prefix(input, consumed, limits);
  if (!v) return v.error();
  if (consumed != input.size()) return WebauthnErrc::cbor_trailing_bytes;
  return v;
}

}  // namespace sluis::console
