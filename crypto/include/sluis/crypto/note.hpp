// C2SP signed notes (Ed25519) and tlog-checkpoint bodies: the audit log's signed tree heads.
//
// Formats (byte-exact, with an example, in docs/crypto/audit-crypto.md):
//   note       = text "\n" 1*signature-line        ; text ends in "\n"
//   signature  = "— " key-name " " base64(key-id[4] || ed25519-signature[64]) "\n"
//   key-id     = SHA-256(key-name || 0x0A || 0x01 || public-key[32])[:4], big-endian
//   checkpoint = origin "\n" decimal-size "\n" base64(root[32]) "\n" *(extension "\n")
//   verifier   = key-name "+" hex8(key-id) "+" base64(0x01 || public-key[32])
// Parsers take bytes and never throw on bad input, so fuzzers can drive them directly.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/sign.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::crypto {

/// Signed-note signature type byte for Ed25519 (C2SP signed-note, "Signature types").
inline constexpr std::uint8_t kNoteEd25519 = 0x01;
/// Notes longer than this are rejected unread (C2SP: verifiers SHOULD bound the size).
inline constexpr std::size_t kMaxNoteSize = 64 * 1024;
/// At most this many signature lines (C2SP: MUST accept at least 16).
inline constexpr std::size_t kMaxNoteSignatures = 64;

/// Whether `name` may name a note key: non-empty, valid UTF-8, no control characters, no
/// Unicode spaces, no '+'.
[[nodiscard]] bool is_valid_key_name(std::string_view name) noexcept;

/// The 32-bit key ID of an Ed25519 note key: SHA-256(name || 0x0A || 0x01 || key)[:4], read
/// big-endian. Total function (does not validate the name).
[[nodiscard]] std::uint32_t note_key_id(std::string_view key_name, const VerifyingKey& key);

/// A verifier key: what a witness configures to trust a log (name, key ID, public key).
struct NoteVerifierKey {
  std::string name;
  std::uint32_t id = 0;
  VerifyingKey key;
};

/// Builds the verifier key of `key` under `key_name`. Errc::invalid_argument for a bad name.
[[nodiscard]] Result<NoteVerifierKey> make_verifier_key(std::string_view key_name,
                                                        const VerifyingKey& key);
/// "<name>+<8 lowercase hex digits of the key ID>+<base64(0x01 || public key)>".
[[nodiscard]] std::string format_verifier_key(const NoteVerifierKey& verifier);
/// Parses the text form strictly: valid name, exactly 8 lowercase hex digits, canonical base64
/// of 33 bytes starting with 0x01, a valid public key, and a key ID that matches the name and
/// key. Errc::malformed otherwise.
[[nodiscard]] Result<NoteVerifierKey> parse_verifier_key(std::string_view text);

/// Signs `text` as a one-signature note: text || "\n" || signature line. `text` must be valid
/// UTF-8 of at most kMaxNoteSize bytes without control characters other than '\n', and end in
/// '\n' (it MAY contain empty lines: verifiers split at the last one).
/// Errors: invalid_argument for a bad text or key name. Thread-safe.
[[nodiscard]] Result<std::string> sign_note(std::string_view text, const SigningKey& key,
                                            std::string_view key_name);

/// Verifies a signed note and returns its text (including the final newline).
///
/// Strict: at most kMaxNoteSize bytes; valid UTF-8; no control characters except '\n' (so no
/// CR); the text ends in '\n' and is separated from the signatures by the last empty line; every
/// signature line is exactly "— name base64\n" with canonical base64 of at least 4 bytes; at
/// most kMaxNoteSignatures lines; nothing after the last line. Signatures from other keys
/// (different name or key ID) are ignored; a signature from `verifier` must be present and valid,
/// and appear once.
/// Errors: malformed (syntax), bad_signature (missing, invalid or duplicated signature by
/// `verifier`). Thread-safe.
[[nodiscard]] Result<std::string> open_note(std::string_view note, const NoteVerifierKey& verifier);

/// A transparency-log checkpoint (C2SP tlog-checkpoint): the signed head of the audit log.
struct Checkpoint {
  std::string origin;                   ///< the log's identity, e.g. "sluis.example.org/audit"
  std::uint64_t size = 0;               ///< number of leaves
  Hash root{};                          ///< MTH of those leaves (empty_root() when size is 0)
  std::vector<std::string> extensions;  ///< opaque extra lines (normally none)
};

/// The checkpoint note text: origin, size, base64 root, extension lines, each ending in '\n'.
/// Errors: invalid_argument when the origin or an extension line is empty, contains a control
/// character or is not valid UTF-8.
[[nodiscard]] Result<std::string> format_checkpoint_body(const Checkpoint& checkpoint);
/// Parses a checkpoint note text strictly: at least three non-empty lines, origin non-empty,
/// size in canonical decimal (no sign, no leading zeros except "0", fits in 64 bits), root in
/// canonical base64 of exactly 32 bytes, extension lines non-empty. Errc::malformed otherwise.
[[nodiscard]] Result<Checkpoint> parse_checkpoint_body(std::string_view text);

/// Formats and signs a checkpoint. The key name SHOULD equal the origin (C2SP).
/// Errors: invalid_argument (bad origin, key name or extension line). Thread-safe.
[[nodiscard]] Result<std::string> sign_checkpoint(std::string_view origin, std::uint64_t size,
                                                  const Hash& root, const SigningKey& key,
                                                  std::string_view key_name,
                                                  std::span<const std::string> extensions = {});

/// Verifies a checkpoint note signed by (`key_name`, `key`) and returns its contents.
/// Errors: malformed (note or body syntax), bad_signature (no valid signature by that key),
/// authentication_failed (validly signed, but the origin is not `expected_origin`: a checkpoint
/// of another log), invalid_argument (bad key name). Thread-safe.
[[nodiscard]] Result<Checkpoint> verify_checkpoint(std::string_view note, const VerifyingKey& key,
                                                   std::string_view key_name,
                                                   std::string_view expected_origin);

}  // namespace sluis::crypto
