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
/// (temp file + fsync + rename), mode 0600. Errors: io_error, kdf_failed, invalid_argument
/// (empty passphrase, limits below libsodium's minimum).
[[nodiscard]] Result<void> write_sealed_root_key(const std::filesystem::path& path,
                                                 const RootKey& root,
                                                 std::span<const std::uint8_t> passphrase,
                                                 Argon2Limits limits = {});

/// Writes `root` unsealed (for automation; protect with file permissions) to `path`, mode 0600.
[[nodiscard]] Result<void> write_raw_root_key(const std::filesystem::path& path,
                                              const RootKey& root);

/// Reads a root key file of either kind. A sealed file needs `passphrase`; a raw file ignores
/// it. Refuses files readable by group or others. Errors: io_error, bad_key_file (malformed,
/// unsafe permissions), unsupported_format, wrong_passphrase, kdf_failed.
[[nodiscard]] Result<RootKey> read_root_key(const std::filesystem::path& path,
                                            std::span<const std::uint8_t> passphrase);

/// True when the file at `path` is a passphrase-sealed key file (so the caller knows to prompt).
[[nodiscard]] Result<bool> root_key_file_is_sealed(const std::filesystem::path& path);

}  // namespace sluis::crypto
