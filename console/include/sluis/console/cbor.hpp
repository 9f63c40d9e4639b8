// A strict decoder for the subset of CBOR (RFC 8949) that WebAuthn uses: nothing more.
//
// Accepted: unsigned and negative integers that fit in int64, byte strings, UTF-8 text strings,
// arrays and maps of definite length, false, true and null. Map keys must be integers or text
// strings and must be unique. Refused, each with its own WebauthnErrc: indefinite lengths and the
// "break" byte, tags, floats and other simple values, integers outside int64, invalid UTF-8,
// nesting or sizes over the limits, and bytes after the item (unless the caller asks for a
// prefix, as authenticatorData's embedded COSE key needs).
#pragma once

#include "sluis/console/webauthn_error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::console {

/// Bounds applied while decoding; every value is checked before anything is allocated.
struct CborLimits {
  std::size_t max_depth = 8;            ///< containers inside containers (the top item is 1)
  std::size_t max_string_bytes = 4096;  ///< longest byte or text string
  std::size_t max_items = 64;           ///< most elements of an array or entries of a map
};

/// One decoded CBOR item. A plain value type: maps keep their entries in input order.
struct CborValue {
  enum class Kind { integer, bytes, text, array, map, boolean, null };

  Kind kind = Kind::null;
  std::int64_t integer = 0;                              ///< Kind::integer
  bool boolean = false;                                  ///< Kind::boolean
  std::vector<std::uint8_t> bytes;                       ///< Kind::bytes
  std::string text;                                      ///< Kind::text (valid UTF-8)
  std::vector<CborValue> items;                          ///< Kind::array
  std::vector<std::pair<CborValue, CborValue>> entries;  ///< Kind::map (keys integer or text)

  /// The value of the map entry whose key is the integer `key`, or nullptr (also when this is not
  /// a map).
  [[nodiscard]] const CborValue* find(std::int64_t key) const noexcept;
  /// The value of the map entry whose key is the text `key`, or nullptr.
  [[nodiscard]] const CborValue* find(std::string_view key) const noexcept;

  friend bool operator==(const CborValue&, const CborValue&) = default;
};

/// Decodes exactly one item that spans all of `input`.
[[nodiscard]] WebauthnResult<CborValue> cbor_decode(std::span<const std::uint8_t> input,
                                                    const CborLimits& limits = {});

/// Decodes one item from the front of `input`; `consumed` receives its length in bytes. Bytes
/// after the item are the caller's (authenticatorData continues after the credential key).
[[nodiscard]] WebauthnResult<CborValue> cbor_decode_prefix(std::span<const std::uint8_t> input,
                                                           std::size_t& consumed,
                                                           const CborLimits& limits = {});

}  // namespace sluis::console
