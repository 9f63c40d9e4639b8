// Test fixtures for the store and the domain: temporary directories, a root key, the storage
// engines the domain's test cases run against, raw SQLCipher access.
#pragma once

#include "sluis/crypto/keys.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/dossiers.hpp"
#include "sluis/domain/registry.hpp"
#include "sluis/store/store.hpp"

#define SQLITE_HAS_CODEC 1
#include <sqlcipher/sqlite3.h>

#include <catch2/catch.hpp>

#include "result_printer.hpp"
#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::store {}
namespace sluis::audit {}
namespace sluis::domain {}

namespace sluis::gateway::testing {

using namespace sluis::store;
using namespace sluis::audit;
using namespace sluis::domain;

namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sluis-store-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline crypto::PlainBytes bytes_of(std::string_view s) {
  return crypto::PlainBytes(s.begin(), s.end());
}

inline std::string text_of(const crypto::PlainBytes& b) {
  return std::string(b.begin(), b.end());
}

inline std::vector<FieldInput>
fields_of(std::initializer_list<std::pair<std::string_view, std::string_view>> list) {
  std::vector<FieldInput> out;
  for (const auto& [name, value] : list)
    out.push_back({std::string(name), bytes_of(value)});
  return out;
}

inline std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline bool contains(const std::vector<std::uint8_t>& hay, std::string_view needle) {
  if (needle.empty()) return true;
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

inline bool contains(const std::vector<std::uint8_t>& hay, std::span<const std::uint8_t> needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

/// The SQLCipher engine for the domain's test cases (engines.hpp): a Store on two files in a
/// temporary directory, with a root key the test keeps. `options` is the engine's own; the
/// members every engine's options share — clock, inject_failure, on_field_opened — are what
/// engine-independent test cases may set before reopen().
struct SqlCipherEngine {
  TempDir dir;
  crypto::RootKey root = crypto::RootKey::random();
  StoreOptions options;
  std::unique_ptr<Store> store;

  SqlCipherEngine() {
    options.data_path = dir / "data.db";
    options.key_store_path = dir / "keys.db";
    reopen();
  }
  /// Closes the engine (if open) and opens it again on the same files with `options`.
  void reopen() {
    store.reset();
    auto s = Store::open(options, root);
    REQUIRE(s);
    store = std::move(*s);
  }
  /// Closes the engine (reopen() opens it again).
  void close() { store.reset(); }
  /// The engine as the domain sees it.
  [[nodiscard]] Storage& storage() { return *store; }
};

/// An engine and the domain's services on it: what the domain's test cases are written
/// against. `Engine` is one of SLUIS_STORAGE_ENGINES (engines.hpp).
template <class Engine> struct DomainFixture : Engine {
  [[nodiscard]] Registry registry() { return Registry(this->storage()); }
  [[nodiscard]] Dossiers dossiers() { return Dossiers(this->storage()); }
  [[nodiscard]] ConsentBook book() { return ConsentBook(this->storage()); }

  /// The usual sector: an OCMW, a CAW, two low-threshold services, each with a worker.
  void add_sector() {
    auto r = registry();
    REQUIRE(r.add_partner("ocmw-brussel", "ocmw", "OCMW Brussel"));
    REQUIRE(r.add_partner("caw-brussel", "caw", "CAW Brussel"));
    REQUIRE(r.add_partner("shelter-north", "low-threshold", "Nachtopvang Noord"));
    REQUIRE(r.add_partner("daycentre-south", "low-threshold", "Dagcentrum Zuid"));
    for (const char* p : {"ocmw-brussel", "caw-brussel", "shelter-north", "daycentre-south"}) {
      REQUIRE(r.add_worker(p, "w1", "social-worker"));
    }
  }
};

/// The SQLCipher store with the domain's services: for test cases about the engine itself (its
/// files, backups, keys, migrations), which run on SQLCipher only.
using StoreFixture = DomainFixture<SqlCipherEngine>;

/// A raw SQLCipher connection with a sub-key, for inspecting files as an outsider would.
class RawDb {
 public:
  RawDb(const fs::path& path, const crypto::SubKey* key) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    if (key != nullptr) {
      std::string literal = "x'";
      static constexpr char kHex[] = "0123456789abcdef";
      for (auto b : key->reveal()) {
        literal += kHex[b >> 4];
        literal += kHex[b & 0x0f];
      }
      literal += "'";
      REQUIRE(sqlite3_key(db_, literal.data(), static_cast<int>(literal.size())) == SQLITE_OK);
      REQUIRE(sqlite3_exec(db_, "PRAGMA cipher_page_size = 4096", nullptr, nullptr, nullptr) ==
              SQLITE_OK);
    }
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  /// The connection, for tests that rewrite a file's layout.
  [[nodiscard]] sqlite3* handle() const { return db_; }
  /// Runs `sql` (one or more statements without parameters); REQUIREs success.
  void exec(const char* sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    INFO((message != nullptr ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }
  /// rc of running `sql` and stepping it once.
  int try_query(const char* sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
  }
  /// Every value of the first column of `sql` (blob or text) as bytes; `bind` is bound to ?1.
  std::vector<std::vector<std::uint8_t>> column(const char* sql,
                                                std::span<const std::uint8_t> bind = {}) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK);
    if (!bind.empty()) {
      sqlite3_bind_blob(s, 1, bind.data(), static_cast<int>(bind.size()), SQLITE_TRANSIENT);
    }
    std::vector<std::vector<std::uint8_t>> out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, 0));
      const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, 0));
      out.emplace_back(p, p + n);
    }
    sqlite3_finalize(s);
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

/// SQLCipher 3.x page layout (4096-byte pages): AES-256-CBC over the page minus a 48-byte
/// reserve (16-byte IV followed by a 20-byte HMAC-SHA1, rounded to the AES block); page 1 starts
/// with the 16-byte plaintext salt. Decrypts every page of a database file (or every frame of a
/// WAL) with the raw key, so a test can scan the plaintext pages for what must not be there.
inline std::vector<std::uint8_t> decrypt_pages(const std::vector<std::uint8_t>& file,
                                               const crypto::SubKey& key, bool wal) {
  constexpr std::size_t kPage = 4096;
  constexpr std::size_t kReserve = 48;
  std::vector<std::uint8_t> out;
  const std::size_t header = wal ? 32 : 0;
  const std::size_t stride = wal ? 24 + kPage : kPage;
  for (std::size_t off = header; off + stride <= file.size(); off += stride) {
    const std::size_t page_off = wal ? off + 24 : off;
    std::uint32_t pgno = 0;
    if (wal) {
      pgno = (std::uint32_t{file[off]} << 24) | (std::uint32_t{file[off + 1]} << 16) |
             (std::uint32_t{file[off + 2]} << 8) | std::uint32_t{file[off + 3]};
    } else {
      pgno = static_cast<std::uint32_t>(off / kPage + 1);
    }
    const std::size_t skip = pgno == 1 ? 16 : 0;
    const std::uint8_t* page = file.data() + page_off;
    const std::uint8_t* iv = page + kPage - kReserve;
    std::vector<std::uint8_t> plain(kPage);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    REQUIRE(EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key.reveal().data(), iv) == 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    int n = 0;
    REQUIRE(EVP_DecryptUpdate(ctx, plain.data(), &n, page + skip,
                              static_cast<int>(kPage - kReserve - skip)) == 1);
    EVP_CIPHER_CTX_free(ctx);
    out.insert(out.end(), plain.begin(), plain.begin() + n);
  }
  return out;
}

}  // namespace sluis::gateway::testing
