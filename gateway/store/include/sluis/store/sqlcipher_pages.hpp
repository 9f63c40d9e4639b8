// A page-by-page check of a SQLCipher 3 file: each page's HMAC as SQLCipher checks it on read,
// and the b-trees followed so that a damaged page can be named by what it held.
//
// Why our own walk: Debian's SQLCipher is 3.4.1, which has no PRAGMA cipher_integrity_check (it
// came with 4.0), no dbstat or sqlite_dbpage table, and answers a page that fails its HMAC with a
// bare SQLITE_CORRUPT ("database disk image is malformed"; page 1: SQLITE_NOTADB) for the
// statement that touched it, then refuses further page reads on that connection. That names
// neither the page nor what was on it.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/store/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace sluis::store::sql {

// The SQLCipher 3.x page format as sluis writes it (sqlite.cpp: raw 256-bit key,
// cipher_page_size 4096, the library's other defaults). A page is
//   [AES-256-CBC ciphertext][IV 16][HMAC-SHA1 20][unused 12]
// and the HMAC is over ciphertext || IV || LE32(page number), keyed with
// PBKDF2-HMAC-SHA1(key, salt XOR 0x3a, 2 iterations); page 1 starts after the 16-byte salt.
inline constexpr std::size_t kPageSize = 4096;
inline constexpr std::size_t kSaltSize = 16;
inline constexpr std::size_t kIvSize = 16;
inline constexpr std::size_t kHmacSize = 20;
inline constexpr std::size_t kReserveSize = 48;  ///< IV + HMAC rounded up to the AES block
inline constexpr std::size_t kUsableSize = kPageSize - kReserveSize;

/// A b-tree of the file, as sqlite_master lists it.
struct TreeRoot {
  std::string name;
  std::uint32_t root = 0;
  bool rowid_table = false;  ///< keys are rowids (otherwise an index or WITHOUT ROWID table)
};

enum class PageKind : std::uint8_t { unknown, interior, leaf, overflow, free, not_checked };

/// What the walk learnt about one page.
struct PageRole {
  bool authentic = false;  ///< its HMAC verifies with the key
  PageKind kind = PageKind::unknown;
  std::int32_t tree = -1;  ///< index into PageWalk::trees; -1 when no b-tree reaches it
  /// Rowid tables: the rowids the page covers (its subtree; an overflow page: its row), inclusive.
  std::int64_t first_rowid = std::numeric_limits<std::int64_t>::min();
  std::int64_t last_rowid = std::numeric_limits<std::int64_t>::max();
};

struct PageWalk {
  std::vector<TreeRoot> trees;  ///< sqlite_master (root page 1) first, then the caller's
  std::vector<PageRole> pages;  ///< index = page number - 1
  std::uint32_t damaged = 0;    ///< pages whose HMAC does not verify
};

/// Reads every page of `path` (the main file; a WAL's frames are checked by SQLite when read),
/// checks its HMAC with `key`, then follows every b-tree in `trees` and the free list from the
/// authentic pages. A damaged page is never decrypted or parsed; what it held is what its
/// parent page says. Errors: not_found, storage_failure (the file cannot be read, or is not
/// whole pages).
[[nodiscard]] Result<PageWalk> walk_pages(const std::filesystem::path& path,
                                          const crypto::SubKey& key,
                                          std::span<const TreeRoot> trees);

/// True when one of the first pages after page 1 verifies with `key` (at most 8 reads): a file
/// that SQLite calls "not a database" is then damaged at page 1, not opened with a wrong key.
[[nodiscard]] bool later_pages_verify(const std::filesystem::path& path,
                                      const crypto::SubKey& key);

}  // namespace sluis::store::sql
