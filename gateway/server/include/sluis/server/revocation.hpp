// The set of revoked partner-certificate serials: a text file the operator edits through sluisctl.
#pragma once

#include "sluis/server/server_error.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace sluis::server {

/// Revoked certificate serial numbers in canonical form (upper-case hex, no leading zeros, as
/// `Certificate::serial_hex()` prints them).
///
/// File format (UTF-8 text): one serial per line; blank lines and lines starting with `#` are
/// ignored; anything after the serial following whitespace or `#` is a comment (sluisctl writes
/// the partner id and time there for humans). A malformed line makes the whole file invalid:
/// a half-read revocation list must never be used.
/// Value type; not synchronised (the server shares immutable snapshots, see RevocationStore).
class RevocationList {
 public:
  /// Adds a serial (hex digits, optional leading zeros, any case; at most 40 digits = 20 octets,
  /// RFC 5280 §4.1.2.2). Fails with invalid_argument on anything else. Adding twice is a no-op.
  [[nodiscard]] ServerResult<void> add(std::string_view serial_hex);

  /// True when `serial_hex` (any case, leading zeros allowed) is revoked. Malformed → false.
  [[nodiscard]] bool contains(std::string_view serial_hex) const;

  [[nodiscard]] const std::set<std::string>& serials() const noexcept { return serials_; }
  [[nodiscard]] std::size_t size() const noexcept { return serials_.size(); }

  /// Parses the file format above. Fails with bad_revocation_list on a malformed line.
  [[nodiscard]] static ServerResult<RevocationList> parse(std::string_view text);

  /// Reads and parses a file. A missing or unreadable file is io_failure (an operator who points
  /// the gateway at a wrong path must find out, not run without revocations).
  [[nodiscard]] static ServerResult<RevocationList> load_file(const std::filesystem::path& path);

  /// Writes the list atomically (temporary file in the same directory, fsync, rename), mode 0644.
  [[nodiscard]] ServerResult<void> save_file(const std::filesystem::path& path) const;

  /// The file text for this list (one serial per line, sorted, with a header comment).
  [[nodiscard]] std::string to_text() const;

  /// Canonical form of a serial, or empty when malformed.
  [[nodiscard]] static std::string canonical_serial(std::string_view serial_hex);

 private:
  std::set<std::string> serials_;
};

}  // namespace sluis::server
