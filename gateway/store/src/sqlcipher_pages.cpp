// SQLCipher 3 page walk: HMAC per page, then the b-trees and free list (sqlcipher_pages.hpp).
//
// Formats followed: SQLCipher 3.4 crypto_impl.c (sqlcipher_page_cipher, sqlcipher_page_hmac,
// the raw-key branch of sqlcipher_cipher_ctx_key_derive) and the SQLite file format
// (https://sqlite.org/fileformat2.html §1.3 header, §1.5 free list, §1.6 b-tree pages, §1.6
// "cell payload overflow").
#include "sluis/store/sqlcipher_pages.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

namespace sluis::store::sql {
namespace {

using Page = std::array<std::uint8_t, kPageSize>;

// SQLite never reads or writes the page holding the lock byte at 1 GiB (fileformat2 §1.3).
constexpr std::uint64_t kLockBytePage = 0x40000000 / kPageSize + 1;
constexpr std::uint8_t kHmacSaltMask = 0x3a;
constexpr int kFastKdfIterations = 2;
constexpr std::size_t kBtreeHeaderOffsetPage1 = 100;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

/// A read-only file descriptor, closed on destruction.
class File {
 public:
  explicit File(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] bool ok() const noexcept { return fd_ >= 0; }
  [[nodiscard]] std::optional<std::uint64_t> size() const {
    struct stat st{};
    if (::fstat(fd_, &st) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(st.st_size);
  }
  [[nodiscard]] bool read_page(std::uint64_t pgno, Page& out) const {
    std::size_t done = 0;
    const auto base = static_cast<off_t>((pgno - 1) * kPageSize);
    while (done < kPageSize) {
      const auto n = ::pread(fd_, out.data() + done, kPageSize - done,
                             base + static_cast<off_t>(done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_;
};

/// The page's encrypted area: page 1 starts after the salt.
std::span<const std::uint8_t> body_of(std::uint64_t pgno, const Page& page) {
  const std::size_t offset = pgno == 1 ? kSaltSize : 0;
  return std::span<const std::uint8_t>(page).subspan(offset);
}

bool derive_hmac_key(const crypto::SubKey& key, std::span<const std::uint8_t> salt,
                     crypto::SubKey& out) {
  std::array<std::uint8_t, kSaltSize> masked{};
  for (std::size_t i = 0; i < kSaltSize; ++i)
    masked[i] = static_cast<std::uint8_t>(salt[i] ^ kHmacSaltMask);
  const auto k = key.reveal();
  return PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(k.data()), static_cast<int>(k.size()),
                           masked.data(), static_cast<int>(masked.size()), kFastKdfIterations,
                           EVP_sha1(), static_cast<int>(out.reveal().size()),
                           out.reveal_mut().data()) == 1;
}

/// SQLCipher's check on read: HMAC-SHA1(ciphertext || IV || LE32(pgno)).
bool page_authentic(const crypto::SubKey& hmac_key, std::uint64_t pgno, const Page& page) {
  const auto body = body_of(pgno, page);
  const std::size_t data = body.size() - kReserveSize + kIvSize;
  std::array<std::uint8_t, kPageSize + 4> input{};
  std::memcpy(input.data(), body.data(), data);
  const auto n = static_cast<std::uint32_t>(pgno);
  input[data] = static_cast<std::uint8_t>(n);
  input[data + 1] = static_cast<std::uint8_t>(n >> 8);
  input[data + 2] = static_cast<std::uint8_t>(n >> 16);
  input[data + 3] = static_cast<std::uint8_t>(n >> 24);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  const auto k = hmac_key.reveal();
  if (HMAC(EVP_sha1(), k.data(), static_cast<int>(k.size()), input.data(), data + 4, mac.data(),
           &mac_len) == nullptr ||
      mac_len != kHmacSize) {
    return false;
  }
  return CRYPTO_memcmp(mac.data(), body.data() + data, kHmacSize) == 0;
}

/// Decrypts an authentic page into the image SQLite sees (page 1 gets its "SQLite format 3"
/// header back in place of the salt).
bool decrypt_page(const crypto::SubKey& key, std::uint64_t pgno, const Page& page, Page& image) {
  const auto body = body_of(pgno, page);
  const std::size_t size = body.size() - kReserveSize;
  const std::size_t offset = pgno == 1 ? kSaltSize : 0;
  image.fill(0);
  if (pgno == 1) std::memcpy(image.data(), "SQLite format 3", 16);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      &EVP_CIPHER_CTX_free);
  if (!ctx) return false;
  int out1 = 0;
  int out2 = 0;
  const bool ok =
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.reveal().data(),
                         body.data() + size) == 1 &&
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
      EVP_DecryptUpdate(ctx.get(), image.data() + offset, &out1, body.data(),
                        static_cast<int>(size)) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), image.data() + offset + out1, &out2) == 1;
  return ok && static_cast<std::size_t>(out1 + out2) == size;
}

/// A SQLite varint at `p` (at most 9 bytes, not past `end`); nullopt when it runs past.
std::optional<std::uint64_t> varint(const std::uint8_t*& p, const std::uint8_t* end) {
  std::uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (p >= end) return std::nullopt;
    const std::uint8_t b = *p++;
    if (i == 8) return (v << 8) | b;
    v = (v << 7) | (b & 0x7f);
    if ((b & 0x80) == 0) return v;
  }
  return v;
}

/// Bytes of a payload of `total` bytes kept on the b-tree page (fileformat2 §1.6).
std::uint64_t local_payload(std::uint64_t total, bool table_leaf) {
  constexpr std::uint64_t u = kUsableSize;
  const std::uint64_t max_local = table_leaf ? u - 35 : ((u - 12) * 64 / 255) - 23;
  const std::uint64_t min_local = ((u - 12) * 32 / 255) - 23;
  if (total <= max_local) return total;
  const std::uint64_t k = min_local + ((total - min_local) % (u - 4));
  return k <= max_local ? k : min_local;
}

class Walker {
 public:
  Walker(const File& file, const crypto::SubKey& key, PageWalk& walk)
      : file_(file), key_(key), walk_(walk), visited_(walk.pages.size(), false) {}

  void tree(std::int32_t index) {
    struct Todo {
      std::uint64_t pgno;
      std::int64_t lo, hi;
    };
    const bool rowids = walk_.trees[static_cast<std::size_t>(index)].rowid_table;
    std::vector<Todo> todo{{walk_.trees[static_cast<std::size_t>(index)].root,
                            std::numeric_limits<std::int64_t>::min(),
                            std::numeric_limits<std::int64_t>::max()}};
    while (!todo.empty()) {
      const Todo t = todo.back();
      todo.pop_back();
      PageRole* role = claim(t.pgno, index);
      if (role == nullptr) continue;
      role->first_rowid = t.lo;
      role->last_rowid = t.hi;
      if (!role->authentic || !load(t.pgno)) continue;
      const std::size_t h = t.pgno == 1 ? kBtreeHeaderOffsetPage1 : 0;
      const std::uint8_t type = image_[h];
      const bool interior = type == 0x05 || type == 0x02;
      const bool leaf = type == 0x0d || type == 0x0a;
      if (!interior && !leaf) continue;  // not a b-tree page: left as unknown
      role->kind = interior ? PageKind::interior : PageKind::leaf;
      const std::uint16_t cells = be16(&image_[h + 3]);
      const std::size_t pointers = h + (interior ? 12 : 8);
      if (pointers + 2 * std::size_t{cells} > kUsableSize) continue;
      std::int64_t previous = t.lo;
      std::int64_t first_row = std::numeric_limits<std::int64_t>::max();
      std::int64_t last_row = std::numeric_limits<std::int64_t>::min();
      std::vector<std::pair<std::uint64_t, std::int64_t>> chains;  // overflow start, row
      for (std::size_t c = 0; c < cells; ++c) {
        const std::size_t at = be16(&image_[pointers + 2 * c]);
        if (at < pointers || at >= kUsableSize) break;
        const std::uint8_t* p = &image_[at];
        const std::uint8_t* end = image_.data() + kUsableSize;
        if (type == 0x05) {  // table interior: child, rowid key (the child's largest)
          if (end - p < 4) break;
          const std::uint32_t child = be32(p);
          p += 4;
          auto key = varint(p, end);
          if (!key) break;
          const auto k = static_cast<std::int64_t>(*key);
          todo.push_back({child, previous, k});
          previous = k == std::numeric_limits<std::int64_t>::max() ? k : k + 1;
          continue;
        }
        std::uint32_t child = 0;
        if (type == 0x02) {
          if (end - p < 4) break;
          child = be32(p);
          p += 4;
        }
        auto total = varint(p, end);
        if (!total) break;
        std::int64_t row = 0;
        if (type == 0x0d) {
          auto r = varint(p, end);
          if (!r) break;
          row = static_cast<std::int64_t>(*r);
          first_row = std::min(first_row, row);
          last_row = std::max(last_row, row);
        }
        const std::uint64_t local = local_payload(*total, type == 0x0d);
        if (local < *total) {
          if (static_cast<std::uint64_t>(end - p) < local + 4) break;
          chains.emplace_back(be32(p + local), row);
        }
        if (type == 0x02) todo.push_back({child, t.lo, t.hi});
      }
      if (type == 0x05) todo.push_back({be32(&image_[h + 8]), previous, t.hi});
      if (type == 0x02) todo.push_back({be32(&image_[h + 8]), t.lo, t.hi});
      if (type == 0x0d && rowids && first_row <= last_row) {
        role->first_rowid = first_row;
        role->last_rowid = last_row;
      }
      for (const auto& [start, row] : chains)
        overflow(start, index, rowids ? std::optional<std::int64_t>(row) : std::nullopt, t);
    }
  }

  /// The free list: trunk pages (next trunk, count, leaf page numbers) and their leaves.
  void free_list(std::uint64_t first_trunk) {
    std::uint64_t trunk = first_trunk;
    while (trunk != 0) {
      PageRole* role = claim(trunk, -1);
      if (role == nullptr) return;
      role->kind = PageKind::free;
      if (!role->authentic || !load(trunk)) return;
      const std::uint32_t next = be32(&image_[0]);
      const std::uint32_t count = be32(&image_[4]);
      if (count > (kUsableSize - 8) / 4) return;
      for (std::uint32_t n = 0; n < count; ++n) {
        if (PageRole* leaf = claim(be32(&image_[8 + 4 * n]), -1)) leaf->kind = PageKind::free;
      }
      trunk = next;
    }
  }

 private:
  template <class T> void overflow(std::uint64_t start, std::int32_t index,
                                   std::optional<std::int64_t> row, const T& parent) {
    std::uint64_t next = start;
    while (next != 0) {
      PageRole* role = claim(next, index);
      if (role == nullptr) return;
      role->kind = PageKind::overflow;
      role->first_rowid = row.value_or(parent.lo);
      role->last_rowid = row.value_or(parent.hi);
      if (!role->authentic || !load(next)) return;
      next = be32(&image_[0]);
    }
  }

  /// The page's role, claimed for `tree`; nullptr when out of range or already reached (a
  /// second reference would be a cycle or a damaged structure: the first one stands).
  PageRole* claim(std::uint64_t pgno, std::int32_t tree) {
    if (pgno == 0 || pgno > walk_.pages.size() || visited_[pgno - 1]) return nullptr;
    visited_[pgno - 1] = true;
    PageRole& role = walk_.pages[pgno - 1];
    role.tree = tree;
    return &role;
  }

  bool load(std::uint64_t pgno) {
    Page raw{};
    return file_.read_page(pgno, raw) && decrypt_page(key_, pgno, raw, image_);
  }

  const File& file_;
  const crypto::SubKey& key_;
  PageWalk& walk_;
  std::vector<bool> visited_;
  Page image_{};
};

}  // namespace

Result<PageWalk> walk_pages(const std::filesystem::path& path, const crypto::SubKey& key,
                            std::span<const TreeRoot> trees) {
  const File file(path);
  if (!file.ok()) {
    return make_error_code(errno == ENOENT ? Errc::not_found : Errc::storage_failure);
  }
  const auto size = file.size();
  if (!size || *size == 0 || *size % kPageSize != 0) return make_error_code(Errc::storage_failure);
  PageWalk walk;
  walk.trees.push_back({"sqlite_master", 1, true});
  walk.trees.insert(walk.trees.end(), trees.begin(), trees.end());
  walk.pages.resize(static_cast<std::size_t>(*size / kPageSize));

  Page page{};
  if (!file.read_page(1, page)) return make_error_code(Errc::storage_failure);
  // The raw key encrypts; a PBKDF2 derivation of it, salted with the file's salt, authenticates.
  crypto::SubKey hmac;
  if (!derive_hmac_key(key, std::span<const std::uint8_t>(page).first(kSaltSize), hmac)) {
    return make_error_code(Errc::storage_failure);
  }
  for (std::uint64_t pgno = 1; pgno <= walk.pages.size(); ++pgno) {
    PageRole& role = walk.pages[pgno - 1];
    if (pgno == kLockBytePage) {
      role.authentic = true;
      role.kind = PageKind::not_checked;
      continue;
    }
    if (!file.read_page(pgno, page)) return make_error_code(Errc::storage_failure);
    role.authentic = page_authentic(hmac, pgno, page);
    if (!role.authentic) ++walk.damaged;
  }

  Walker walker(file, key, walk);
  std::uint64_t first_trunk = 0;
  if (walk.pages[0].authentic && file.read_page(1, page)) {
    Page image{};
    if (decrypt_page(key, 1, page, image)) first_trunk = be32(&image[32]);
  }
  for (std::size_t t = 0; t < walk.trees.size(); ++t)
    walker.tree(static_cast<std::int32_t>(t));
  walker.free_list(first_trunk);
  return walk;
}

bool later_pages_verify(const std::filesystem::path& path, const crypto::SubKey& key) {
  const File file(path);
  if (!file.ok()) return false;
  const auto size = file.size();
  if (!size || *size < 2 * kPageSize) return false;
  Page page{};
  if (!file.read_page(1, page)) return false;
  crypto::SubKey hmac;
  if (!derive_hmac_key(key, std::span<const std::uint8_t>(page).first(kSaltSize), hmac)) {
    return false;
  }
  const std::uint64_t last = std::min<std::uint64_t>(*size / kPageSize, 9);
  for (std::uint64_t pgno = 2; pgno <= last; ++pgno) {
    if (file.read_page(pgno, page) && page_authentic(hmac, pgno, page)) return true;
  }
  return false;
}

}  // namespace sluis::store::sql
