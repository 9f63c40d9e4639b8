// Anonymous-client cards: the 128-bit card secret, its human-copyable code, service pseudonyms.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/secret.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluis::crypto {

/// The secret a low-threshold service prints on a client's card: 128 random bits. Whoever holds
/// it can derive the client's pseudonym at any service, so it lives only in guarded memory.
using CardSecret = SecretBytes<16, struct CardSecretTag>;

/// The card-code alphabet: Crockford's base32 alphabet without Z (31 symbols, so the check
/// arithmetic is over the prime field GF(31)). I, L, O and U were already absent; Z goes because
/// handwritten it is read as 2, and it is spelt differently in Dutch, French and English.
/// The value of a symbol is its index here.
inline constexpr std::string_view kCardAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXY";
inline constexpr unsigned kCardRadix = 31;
/// Symbols carrying the secret: the smallest n with 31^n >= 2^128.
inline constexpr std::size_t kCardDataSymbols = 26;
/// Data symbols plus the check symbol.
inline constexpr std::size_t kCardSymbols = kCardDataSymbols + 1;
/// The printed code is 9 groups of 3 symbols joined by '-' (35 characters).
inline constexpr std::size_t kCardGroupSize = 3;
inline constexpr std::size_t kCardCodeLength = kCardSymbols + kCardSymbols / kCardGroupSize - 1;
/// parse_card_code rejects longer inputs outright (bounded work on hostile input).
inline constexpr std::size_t kMaxCardCodeInput = 128;

/// Longest short code: 31^12 < 2^64, and its 13 weights stay below 31 (see format_short_code).
inline constexpr std::size_t kMaxShortCodeSymbols = 12;

/// A short human-copyable code for a value that is *not* secret (a consent's short reference):
/// `value` written as `data_symbols` base-31 symbols over kCardAlphabet, most significant first
/// (leading zeros kept), then one check symbol by the card code's rule — sum over all n symbols of
/// (i + 1) * value(symbol_i) = 0 (mod 31) — so every single wrong symbol and every swap of two
/// adjacent symbols is caught; grouped by 3 with '-' like the card code ("4KD-0QW-7MX").
/// Empty when data_symbols is 0 or over kMaxShortCodeSymbols, or value >= 31^data_symbols.
[[nodiscard]] std::string format_short_code(std::uint64_t value, std::size_t data_symbols);

/// Parses a short code as a person typed it (lower case accepted, spaces and '-' ignored).
/// Errors: bad_card_code (another character, a wrong number of symbols, input over
/// kMaxCardCodeInput bytes, data_symbols out of range); bad_check_character (a typo).
[[nodiscard]] Result<std::uint64_t> parse_short_code(std::string_view code,
                                                     std::size_t data_symbols);

/// Prefix and domain label of the public service-pseudonym derivation (version 1).
inline constexpr std::string_view kServicePseudonymPrefix = "sp1-";
inline constexpr std::string_view kServicePseudonymLabel = "sluis-service-pseudonym-v1";
/// "sp1-" followed by 64 lowercase hex characters.
inline constexpr std::size_t kServicePseudonymLength = 4 + 64;

/// A fresh card secret from the CSPRNG. Thread-safe.
[[nodiscard]] CardSecret new_card_secret();

/// The card code for `secret`, for printing on the card (docs/partner-guide/card-pseudonyms.md):
/// the secret read as a 128-bit big-endian integer written in base 31 over kCardAlphabet
/// (26 symbols, most significant first, leading zeros kept), then one check symbol c chosen so
/// that sum over i = 0..26 of (i + 1) * value(symbol_i) = 0 (mod 31); grouped 3-3-3-3-3-3-3-3-3
/// with '-', e.g. "0K4-7QW-...-R2M".
///
/// Ownership: the returned string holds the secret in the clear, in ordinary memory. The caller
/// prints it (card, QR code, terminal) and then wipes it (sodium_memzero / detail::zeroise over
/// its data() and size()) before letting it go; it must never be logged or stored.
[[nodiscard]] std::string format_card_code(const CardSecret& secret);

/// Parses a card code as a person typed or read it. Forgiving: lower case is accepted, spaces and
/// '-' anywhere are ignored. Strict about everything else.
/// Errors:
///   - bad_card_code: any other character (including I, L, O, U, Z, other punctuation, tabs and
///     any non-ASCII byte), more or fewer than 27 symbols, input over kMaxCardCodeInput bytes, or
///     a code whose check symbol is right but whose value is 2^128 or more (not a card we issued);
///   - bad_check_character: 27 valid symbols whose check does not hold, i.e. a typo. Every single
///     wrong symbol and every swap of two adjacent different symbols is reported this way.
/// Thread-safe; intermediate copies of the secret are wiped.
[[nodiscard]] Result<CardSecret> parse_card_code(std::string_view code);

/// The pseudonym of a card's holder at one service: the public derivation every low-threshold
/// service's own system implements (docs/partner-guide/card-pseudonyms.md):
///
///   "sp1-" || lowercase hex( HMAC-SHA-256( key = the 16 secret bytes,
///                                          msg = "sluis-service-pseudonym-v1" || 0x00 ||
///                                                service_id as UTF-8 bytes ) )
///
/// 68 characters. `service_id` is the service's partner id as the gateway lists it, byte for
/// byte (no trimming or case folding). The same card gives unrelated pseudonyms at different
/// services; without the card the pseudonym reveals nothing about it. Thread-safe.
[[nodiscard]] std::string service_pseudonym(const CardSecret& secret, std::string_view service_id);

/// Format check for the API edge: exactly "sp1-" followed by 64 lowercase hex characters.
/// Says nothing about whether any card produced it.
[[nodiscard]] bool looks_like_service_pseudonym(std::string_view text) noexcept;

}  // namespace sluis::crypto
