// The two files the PostgreSQL engine keeps beside the root key, outside the database: the KEK
// ring (every KEK version, wrapped under the kek_wrapping sub-key) and the erasure ledger (one
// line per erased client's tombstone). docs/store.md "The KEK ring and the erasure ledger".
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluis::pgstore {

using store::Result;

/// One KEK version as the ring file holds it.
struct RingEntry {
  crypto::WrappedKek wrapped;
  std::int64_t created_at_ms = 0;
};

/// An exclusive lock on `<file>.lock` (flock), held while the object lives: the nodes and
/// sluisctl on one machine change a ring file or append to a ledger one at a time.
class FileLock {
 public:
  /// Errors: storage_failure (the lock file cannot be created; `why` says so).
  [[nodiscard]] static Result<FileLock> take(const std::filesystem::path& file, std::string* why);
  FileLock(FileLock&& o) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// The ring file's entries, oldest first; none when the file does not exist (`exists` false).
/// Errors: file_damaged (a line that is not a ring entry, a version twice; `why` names the file
/// and line), storage_failure (unreadable).
struct RingFile {
  std::vector<RingEntry> entries;
  bool exists = false;
};
[[nodiscard]] Result<RingFile> read_ring_file(const std::filesystem::path& path, std::string* why);
/// Replaces the ring file with `entries` atomically (a temporary file, fsync, rename, fsync of the
/// directory; mode 0600). The bytes of the file it replaces are overwritten with zeros and synced
/// before that copy is unlinked (a destroyed version does not stay in the old file's blocks as far
/// as the file system lets an overwrite reach them). Errors: storage_failure (`why` says which
/// step).
[[nodiscard]] Result<void> write_ring_file(const std::filesystem::path& path,
                                           const std::vector<RingEntry>& entries, std::string* why);
/// What identifies the ring file's present contents (inode, size, modification time): a node
/// re-reads the ring when it changes. Empty when the file does not exist.
[[nodiscard]] std::string ring_file_stamp(const std::filesystem::path& path);

/// One tombstone as the ledger holds it: the client's keyed tag (never an identifier), when, why.
struct LedgerRecord {
  std::string tag;
  std::int64_t erased_at_ms = 0;
  int reason = 1;
};

/// Every record of the ledger in file order (none when it does not exist yet). A last line without
/// its newline is an append cut off by a crash (its erasure was not answered: the database's
/// tombstone brings it back at the next open) and is left out. Errors: file_damaged (any other
/// line that is not a record closed by its keyed digest; `why` names the file and line number),
/// storage_failure.
[[nodiscard]] Result<std::vector<LedgerRecord>>
read_ledger(const std::filesystem::path& path, const crypto::SubKey& ledger_key, std::string* why);
/// Appends `records` (each line closed by its keyed digest) and fsyncs before returning; creates
/// the file (mode 0600, its header line, the directory synced) when absent, and cuts off a torn
/// last line first. Call with the ledger's FileLock held. Errors: storage_failure.
[[nodiscard]] Result<void> append_ledger(const std::filesystem::path& path,
                                         const crypto::SubKey& ledger_key,
                                         const std::vector<LedgerRecord>& records,
                                         std::string* why);

}  // namespace sluis::pgstore
