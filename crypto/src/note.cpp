// C2SP signed-note (Ed25519) and tlog-checkpoint formatting, signing and strict parsing.
#include "sluis/crypto/note.hpp"

#include "sluis/crypto/encoding.hpp"

#include <sodium.h>

#include <array>
#include <charconv>
#include <optional>

namespace sluis::crypto {
namespace {

// U+2014 EM DASH followed by a space: the start of every signature line (C2SP signed-note).
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";
constexpr std::size_t kKeyIdSize = 4;

/// Walks UTF-8 strictly (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) and
/// calls `accept(code_point)` for each; false when the bytes are not UTF-8 or accept() refuses.
template <class Accept> bool for_each_code_point(std::string_view s, Accept&& accept) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1FU;
      len = 2;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0FU;
      len = 3;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07U;
      len = 4;
      min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (!accept(cp)) return false;
    i += len;
  }
  return true;
}

/// C2SP signed-note: valid UTF-8, no ASCII control characters other than newline.
bool is_clean_text(std::string_view s, bool allow_newline) {
  return for_each_code_point(
      s, [allow_newline](std::uint32_t cp) { return cp >= 0x20 || (allow_newline && cp == '\n'); });
}

/// Unicode White_Space (what Go's unicode.IsSpace, used by the reference implementation, calls a
/// space); control characters are rejected separately.
bool is_unicode_space(std::uint32_t cp) noexcept {
  return cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string base64_of(std::span<const std::uint8_t> bytes) {
  return to_base64(bytes);
}

/// Standard base64 that is also canonical: decoding and re-encoding gives the same text, so one
/// value has exactly one accepted spelling. Decodes with libsodium directly (the same codec as
/// encoding.hpp) into `out`.
bool strict_base64(std::string_view text, std::vector<std::uint8_t>& out) {
  out.resize(text.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return false;
  }
  out.resize(len);
  return to_base64(out) == text;
}

/// strict_base64 for a value of exactly out.size() bytes, decoded in place.
bool strict_base64_exact(std::string_view text, std::span<std::uint8_t> out) {
  std::size_t len = 0;
  const char* end = nullptr;
  return sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                           sodium_base64_VARIANT_ORIGINAL) == 0 &&
         end == text.data() + text.size() && len == out.size() && to_base64(out) == text;
}

std::uint32_t read_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::optional<std::uint64_t> parse_decimal_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;  // canonical: no leading zeros
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;  // no sign, no spaces
  }
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;  // overflow
  return v;
}

bool is_valid_line(std::string_view line) {
  return !line.empty() && is_clean_text(line, false);
}

}  // namespace

bool is_valid_key_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxNoteSize) return false;
  return for_each_code_point(
      name, [](std::uint32_t cp) { return cp >= 0x20 && cp != '+' && !is_unicode_space(cp); });
}

std::uint32_t note_key_id(std::string_view key_name, const VerifyingKey& key) {
  ensure_sodium();
  const std::uint8_t sep[2] = {0x0A, kNoteEd25519};
  std::array<std::uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(key_name.data()),
                            key_name.size());
  crypto_hash_sha256_update(&st, sep, sizeof sep);
  crypto_hash_sha256_update(&st, key.bytes().data(), key.bytes().size());
  crypto_hash_sha256_final(&st, digest.data());
  return read_be32(digest.data());
}

Result<NoteVerifierKey> make_verifier_key(std::string_view key_name, const VerifyingKey& key) {
  if (!is_valid_key_name(key_name)) return Errc::invalid_argument;
  return NoteVerifierKey{std::string(key_name), note_key_id(key_name, key), key};
}

std::string format_verifier_key(const NoteVerifierKey& verifier) {
  const std::array<std::uint8_t, 4> id = {
      static_cast<std::uint8_t>(verifier.id >> 24), static_cast<std::uint8_t>(verifier.id >> 16),
      static_cast<std::uint8_t>(verifier.id >> 8), static_cast<std::uint8_t>(verifier.id)};
  std::array<std::uint8_t, 1 + VerifyingKey::kSize> typed{};
  typed[0] = kNoteEd25519;
  std::copy(verifier.key.bytes().begin(), verifier.key.bytes().end(), typed.begin() + 1);
  return verifier.name + "+" + to_hex(id) + "+" + base64_of(typed);
}

Result<NoteVerifierKey> parse_verifier_key(std::string_view text) {
  // Key names contain no '+', so the first two '+' are the separators; base64 may contain more.
  const auto p1 = text.find('+');
  if (p1 == std::string_view::npos) return Errc::malformed;
  const std::string_view name = text.substr(0, p1);
  const std::string_view rest = text.substr(p1 + 1);
  const auto p2 = rest.find('+');
  if (p2 == std::string_view::npos) return Errc::malformed;
  const std::string_view id_hex = rest.substr(0, p2);
  const std::string_view key_b64 = rest.substr(p2 + 1);
  if (!is_valid_key_name(name) || id_hex.size() != 8) return Errc::malformed;
  for (char c : id_hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return Errc::malformed;
  }
  std::uint32_t id = 0;
  for (char c : id_hex)
    id = (id << 4) | static_cast<std::uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  std::array<std::uint8_t, 1 + VerifyingKey::kSize> typed{};
  if (!strict_base64_exact(key_b64, typed) || typed[0] != kNoteEd25519) return Errc::malformed;
  auto key = VerifyingKey::from_bytes(std::span<const std::uint8_t>(typed).subspan(1));
  if (!key) return Errc::malformed;
  // value(), not operator*: GCC 12 -O3 flags boost::result's operator* (variant get_if) as a
  // potential null dereference; value() is checked and cannot throw here.
  const VerifyingKey& k = key.value();
  if (id != note_key_id(name, k)) return Errc::malformed;
  return NoteVerifierKey{std::string(name), id, k};
}

// C2SP signed-note, "Format" and "Signatures".
Result<std::string> sign_note(std::string_view text, const SigningKey& key,
                              std::string_view key_name) {
  if (text.empty() || text.size() > kMaxNoteSize || text.back() != '\n' ||
      !is_clean_text(text, true) || !is_valid_key_name(key_name)) {
    return Errc::invalid_argument;
  }
  const std::uint32_t id = note_key_id(key_name, key.verifying_key());
  const Signature sig = key.sign(text);
  std::array<std::uint8_t, kKeyIdSize + kEd25519SignatureSize> blob{};
  blob[0] = static_cast<std::uint8_t>(id >> 24);
  blob[1] = static_cast<std::uint8_t>(id >> 16);
  blob[2] = static_cast<std::uint8_t>(id >> 8);
  blob[3] = static_cast<std::uint8_t>(id);
  std::copy(sig.begin(), sig.end(), blob.begin() + kKeyIdSize);

  std::string note;
  note.reserve(text.size() + key_name.size() + 100);
  note.append(text).append("\n").append(kSignaturePrefix).append(key_name).append(" ");
  note.append(base64_of(blob)).append("\n");
  return note;
}

Result<std::string> open_note(std::string_view note, const NoteVerifierKey& verifier) {
  if (note.size() > kMaxNoteSize || note.empty() || note.back() != '\n' ||
      !is_clean_text(note, true)) {
    return Errc::malformed;
  }
  // The text (with its final newline) ends where the last empty line begins.
  const auto blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return Errc::malformed;
  const std::string_view text = note.substr(0, blank + 1);
  std::string_view lines = note.substr(blank + 2);
  if (lines.empty()) return Errc::malformed;

  std::size_t count = 0;
  bool verified = false;
  std::vector<std::uint8_t> blob;
  while (!lines.empty()) {
    const auto eol = lines.find('\n');  // present: the note ends in '\n'
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 1);
    if (++count > kMaxNoteSignatures) return Errc::malformed;
    if (!line.starts_with(kSignaturePrefix)) return Errc::malformed;
    line.remove_prefix(kSignaturePrefix.size());
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return Errc::malformed;
    const std::string_view name = line.substr(0, space);
    if (!is_valid_key_name(name) || !strict_base64(line.substr(space + 1), blob) ||
        blob.size() < kKeyIdSize) {
      return Errc::malformed;
    }
    // Only a signature whose name AND key ID both match is ours; any other is another signer's
    // (a witness, a rotated key) and is ignored, as the spec requires.
    if (name != verifier.name || read_be32(blob.data()) != verifier.id) continue;
    if (verified) return Errc::bad_signature;  // the same key twice: refuse to guess
    if (!verifier.key.verify(text, std::span(blob).subspan(kKeyIdSize))) {
      return Errc::bad_signature;
    }
    verified = true;
  }
  if (!verified) return Errc::bad_signature;
  return std::string(text);
}

// C2SP tlog-checkpoint, "Note text".
Result<std::string> format_checkpoint_body(const Checkpoint& checkpoint) {
  if (!is_valid_line(checkpoint.origin)) return Errc::invalid_argument;
  for (const std::string& ext : checkpoint.extensions) {
    if (!is_valid_line(ext)) return Errc::invalid_argument;
  }
  std::string body;
  body.append(checkpoint.origin).append("\n");
  body.append(std::to_string(checkpoint.size)).append("\n");
  body.append(base64_of(checkpoint.root)).append("\n");
  for (const std::string& ext : checkpoint.extensions)
    body.append(ext).append("\n");
  return body;
}

Result<Checkpoint> parse_checkpoint_body(std::string_view text) {
  if (text.empty() || text.size() > kMaxNoteSize || text.back() != '\n') return Errc::malformed;
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    const auto eol = rest.find('\n');
    lines.push_back(rest.substr(0, eol));
    rest.remove_prefix(eol + 1);
  }
  if (lines.size() < 3) return Errc::malformed;
  for (std::string_view line : lines) {
    if (!is_valid_line(line)) return Errc::malformed;
  }
  Checkpoint cp;
  cp.origin = std::string(lines[0]);
  const auto size = parse_decimal_u64(lines[1]);
  if (!size || !strict_base64_exact(lines[2], cp.root)) return Errc::malformed;
  cp.size = *size;
  for (std::size_t i = 3; i < lines.size(); ++i)
    cp.extensions.emplace_back(lines[i]);
  return cp;
}

Result<std::string> sign_checkpoint(std::string_view origin, std::uint64_t size, const Hash& root,
                                    const SigningKey& key, std::string_view key_name,
                                    std::span<const std::string> extensions) {
  Checkpoint cp;
  cp.origin = std::string(origin);
  cp.size = size;
  cp.root = root;
  cp.extensions.assign(extensions.begin(), extensions.end());
  auto body = format_checkpoint_body(cp);
  if (!body) return body.error();
  return sign_note(*body, key, key_name);
}

Result<Checkpoint> verify_checkpoint(std::string_view note, const VerifyingKey& key,
                                     std::string_view key_name, std::string_view expected_origin) {
  auto verifier = make_verifier_key(key_name, key);
  if (!verifier) return verifier.error();
  // Verify first: the text of a note means nothing until a trusted signature covers it.
  auto text = open_note(note, *verifier);
  if (!text) return text.error();
  auto cp = parse_checkpoint_body(*text);
  if (!cp) return cp.error();
  if (cp->origin != expected_origin) return Errc::authentication_failed;
  return cp;
}

}  // namespace sluis::crypto
