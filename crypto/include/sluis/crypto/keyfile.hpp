// The root key file: sealed under an operator passphrase with Argon2id, or raw for automation.
#pragma once

#include "sluis/crypto/error.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/secret.hpp"

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace sluis::crypto {

/// Argon2id cost. Defaults follow libsodium's MODERATE limits (3 passes, 256 MiB); tests use
/// the INTERACTIVE minimum. Stored in the file, so a file opens with the limits it was made with.
struct Argon2Limits {
  std::uint64_t ops = 3;
  std::uint64_t mem_bytes = std::uint64_t{256} << 20;
};

/// Writes `root` sealed under `passphrase` (Argon2id → XChaCha20-Poly1305) to `path`, atomically
/// (temp file in the same directory + fsync + rename + directory fsync), mode 0600. Replaces an
/// existing file at `path` (that is how a passphrase is changed); callers that must not lose a
/// root key check first. Format: docs/crypto/key-hierarchy.md, "Root key files".
/// Errors: io_error, kdf_failed, invalid_argument (empty passphrase, limits below libsodium's
/// minimum or above 64 passes / 4 GiB).
[[nodiscard]] Result<void> write_sealed_root_key(const std::filesystem::path& path,
                                                 const RootKey& root,
                                                 std::span<const std::uint8_t> passphrase,
                                                 Argon2Limits limits = {});

/// Writes `root` unsealed, as lowercase hex (for automation; protect with file permissions) to
/// `path`, atomically and with mode 0600 like write_sealed_root_key. Errors: io_error.
[[nodiscard]] Result<void> write_raw_root_key(const std::filesystem::path& path,
                                              const RootKey& root);

/// Reads a root key file of either kind. A sealed file needs `passphrase`; a raw file ignores
/// it. Refuses anything but a regular file, and files with any group or other permission bit.
/// Errors: io_error (missing, unreadable), bad_key_file (malformed, truncated, unsafe
/// permissions, not a sluis key file), unsupported_format (a sluis key file of an unknown
/// version or kind), wrong_passphrase (also: an empty passphrase for a sealed file, or a
/// tampered sealed file — the two cannot be told apart), kdf_failed (not enough memory for the
/// file's Argon2id limits). A raw file carries no integrity check beyond its syntax.
[[nodiscard]] Result<RootKey> read_root_key(const std::filesystem::path& path,
                                            std::span<const std::uint8_t> passphrase);

/// True when the file at `path` is a passphrase-sealed key file (so the caller knows to prompt).
/// Applies read_root_key's file checks; errors: io_error, bad_key_file, unsupported_format.
[[nodiscard]] Result<bool> root_key_file_is_sealed(const std::filesystem::path& path);

}  // namespace sluis::crypto
