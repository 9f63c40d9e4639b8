// Root key files: both kinds round trip; wrong passphrase, tampering, truncation, unsafe
// permissions and missing files all fail cleanly.
#include "sluis/crypto/keyfile.hpp"

#include "sluis/crypto/encoding.hpp"

#include <catch2/catch.hpp>
#include <sodium.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace sc = sluis::crypto;
namespace fs = std::filesystem;
using sc::Errc;

namespace {

// The cheapest limits libsodium accepts, so exhaustive tamper tests stay fast.
constexpr sc::Argon2Limits kFastLimits{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    const auto id = sc::ClientId::random();
    path_ = fs::temp_directory_path() / ("sluis-keyfile-test-" + sc::to_hex(id.view()));
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::span<const std::uint8_t> pass(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

template <class T> Errc errc_of(const sc::Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().category() == sc::crypto_category());
  return static_cast<Errc>(r.error().value());
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes `content` to `p` with mode 0600, bypassing the library.
void put(const fs::path& p, const std::string& content) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777U;
}

std::size_t entries_in(const fs::path& dir) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("raw key file: round trip, mode 0600, documented format", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  const auto root = sc::RootKey::random();
  REQUIRE(sc::write_raw_root_key(file, root).has_value());
  CHECK(mode_of(file) == 0600);
  CHECK(entries_in(dir.path()) == 1);  // no temporary left behind
  CHECK(slurp(file) == "sluis-root-key v1 raw\nkey " + sc::to_hex(root.reveal()) + "\n");

  auto back = sc::read_root_key(file, {});
  REQUIRE(back.has_value());
  CHECK(*back == root);
  auto ignored = sc::read_root_key(file, pass("a passphrase is ignored"));
  REQUIRE(ignored.has_value());
  CHECK(*ignored == root);
  auto sealed = sc::root_key_file_is_sealed(file);
  REQUIRE(sealed.has_value());
  CHECK_FALSE(*sealed);
}

TEST_CASE("sealed key file: round trip with fast and with interactive limits", "[keyfile]") {
  TempDir dir;
  const auto root = sc::RootKey::random();
  for (const sc::Argon2Limits limits :
       {kFastLimits,
        sc::Argon2Limits{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE}}) {
    const auto file = dir / ("root-" + std::to_string(limits.mem_bytes) + ".key");
    REQUIRE(sc::write_sealed_root_key(file, root, pass("correct horse battery staple"), limits)
                .has_value());
    CHECK(mode_of(file) == 0600);
    const std::string text = slurp(file);
    CHECK(text.starts_with("sluis-root-key v1 sealed\nkdf argon2id13\nops " +
                           std::to_string(limits.ops) + "\nmem " +
                           std::to_string(limits.mem_bytes) + "\nsalt "));
    CHECK(text.find(sc::to_hex(root.reveal())) == std::string::npos);
    auto sealed = sc::root_key_file_is_sealed(file);
    REQUIRE(sealed.has_value());
    CHECK(*sealed);
    auto back = sc::read_root_key(file, pass("correct horse battery staple"));
    REQUIRE(back.has_value());
    CHECK(*back == root);
  }
  CHECK(entries_in(dir.path()) == 2);
}

TEST_CASE("sealed key file: wrong or empty passphrase", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  REQUIRE(sc::write_sealed_root_key(file, sc::RootKey::random(), pass("right"), kFastLimits)
              .has_value());
  CHECK(errc_of(sc::read_root_key(file, pass("wrong"))) == Errc::wrong_passphrase);
  CHECK(errc_of(sc::read_root_key(file, pass("right "))) == Errc::wrong_passphrase);
  CHECK(errc_of(sc::read_root_key(file, pass("Right"))) == Errc::wrong_passphrase);
  CHECK(errc_of(sc::read_root_key(file, {})) == Errc::wrong_passphrase);
}

TEST_CASE("sealed key file: every single-byte change fails cleanly", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  const auto root = sc::RootKey::random();
  REQUIRE(sc::write_sealed_root_key(file, root, pass("pw"), kFastLimits).has_value());
  const std::string original = slurp(file);
  const auto tampered = dir / "tampered.key";
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (unsigned mask : {0x01U, 0x20U, 0x80U}) {
      std::string t = original;
      t[i] = static_cast<char>(static_cast<unsigned char>(t[i]) ^ mask);
      put(tampered, t);
      INFO("byte " << i << " mask " << mask);
      const Errc e = errc_of(sc::read_root_key(tampered, pass("pw")));
      CHECK((e == Errc::wrong_passphrase || e == Errc::bad_key_file ||
             e == Errc::unsupported_format));
    }
  }
}

TEST_CASE("key files: every truncation fails cleanly", "[keyfile]") {
  TempDir dir;
  const auto root = sc::RootKey::random();
  const auto sealed_file = dir / "sealed.key";
  const auto raw_file = dir / "raw.key";
  REQUIRE(sc::write_sealed_root_key(sealed_file, root, pass("pw"), kFastLimits).has_value());
  REQUIRE(sc::write_raw_root_key(raw_file, root).has_value());
  const auto cut = dir / "cut.key";
  for (const auto& source : {sealed_file, raw_file}) {
    const std::string text = slurp(source);
    for (std::size_t n = 0; n < text.size(); ++n) {
      put(cut, text.substr(0, n));
      INFO(source.filename() << " cut to " << n << " bytes");
      CHECK(errc_of(sc::read_root_key(cut, pass("pw"))) == Errc::bad_key_file);
    }
  }
}

TEST_CASE("raw key file: malformed contents are refused", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "raw.key";
  const std::string hex64(64, 'a');
  const std::string bad[] = {
      "",
      "not a key file\n",
      "sluis-root-key v1 raw\n",
      "sluis-root-key v1 raw\nkey " + hex64,           // no final newline
      "sluis-root-key v1 raw\nkey " + hex64 + "\n\n",  // trailing line
      "sluis-root-key v1 raw\nkey " + std::string(63, 'a') + "\n",
      "sluis-root-key v1 raw\nkey " + std::string(66, 'a') + "\n",
      "sluis-root-key v1 raw\nkey " + std::string(64, 'A') + "\n",  // hex must be lowercase
      "sluis-root-key v1 raw\nkey " + std::string(62, 'a') + "zz\n",
      "sluis-root-key v1 raw\nkey  " + hex64 + "\n",
      "sluis-root-key v1 raw\r\nkey " + hex64 + "\r\n",
      "sluis-root-key v1 raw\nKEY " + hex64 + "\n",
      std::string(5000, 'a'),
  };
  for (const auto& content : bad) {
    put(file, content);
    INFO("content of " << content.size() << " bytes");
    CHECK(errc_of(sc::read_root_key(file, {})) == Errc::bad_key_file);
  }
  // A sluis key file of a version or kind this build does not know.
  for (const std::string& content : {"sluis-root-key v2 raw\nkey " + hex64 + "\n",
                                     "sluis-root-key v1 hsm\nkey " + hex64 + "\n"}) {
    put(file, content);
    CHECK(errc_of(sc::read_root_key(file, {})) == Errc::unsupported_format);
    CHECK(errc_of(sc::root_key_file_is_sealed(file)) == Errc::unsupported_format);
  }
  // And the well-formed control.
  put(file, "sluis-root-key v1 raw\nkey " + hex64 + "\n");
  auto ok = sc::read_root_key(file, {});
  REQUIRE(ok.has_value());
  CHECK(sc::to_hex(ok->reveal()) == hex64);
}

TEST_CASE("sealed key file: out-of-range Argon2 limits in the file are refused", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  REQUIRE(
      sc::write_sealed_root_key(file, sc::RootKey::random(), pass("pw"), kFastLimits).has_value());
  const std::string text = slurp(file);
  const std::string ops_line = "\nops " + std::to_string(kFastLimits.ops) + "\n";
  const std::string mem_line = "\nmem " + std::to_string(kFastLimits.mem_bytes) + "\n";
  REQUIRE(text.find(ops_line) != std::string::npos);
  REQUIRE(text.find(mem_line) != std::string::npos);
  for (const auto& [from, to] : {std::pair{ops_line, std::string("\nops 0\n")},
                                 std::pair{ops_line, std::string("\nops 65\n")},
                                 std::pair{ops_line, std::string("\nops 01\n")},
                                 std::pair{ops_line, std::string("\nops -1\n")},
                                 std::pair{mem_line, std::string("\nmem 1024\n")},
                                 std::pair{mem_line, std::string("\nmem 99999999999999999999\n")},
                                 std::pair{mem_line, std::string("\nmem 4294967297\n")}}) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    put(file, t);
    INFO(to);
    CHECK(errc_of(sc::read_root_key(file, pass("pw"))) == Errc::bad_key_file);
  }
}

TEST_CASE("key files readable or writable by group or others are refused", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  const auto root = sc::RootKey::random();
  REQUIRE(sc::write_raw_root_key(file, root).has_value());
  for (fs::perms extra : {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write,
                          fs::perms::others_write, fs::perms::group_exec}) {
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | extra,
                    fs::perm_options::replace);
    CHECK(errc_of(sc::read_root_key(file, {})) == Errc::bad_key_file);
    CHECK(errc_of(sc::root_key_file_is_sealed(file)) == Errc::bad_key_file);
  }
  fs::permissions(file, fs::perms::owner_read, fs::perm_options::replace);
  CHECK(sc::read_root_key(file, {}).has_value());  // 0400 is fine

  // Writing over an unsafe file leaves a 0600 file.
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read,
                  fs::perm_options::replace);
  REQUIRE(sc::write_raw_root_key(file, root).has_value());
  CHECK(mode_of(file) == 0600);
  CHECK(sc::read_root_key(file, {}).has_value());
}

TEST_CASE("missing files, directories and bad destinations", "[keyfile]") {
  TempDir dir;
  CHECK(errc_of(sc::read_root_key(dir / "absent.key", {})) == Errc::io_error);
  CHECK(errc_of(sc::root_key_file_is_sealed(dir / "absent.key")) == Errc::io_error);
  fs::permissions(dir.path(), fs::perms::owner_all, fs::perm_options::replace);
  CHECK(errc_of(sc::read_root_key(dir.path(), {})) == Errc::bad_key_file);  // not a regular file
  const auto fifo = dir / "fifo.key";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(errc_of(sc::read_root_key(fifo, {})) == Errc::bad_key_file);  // refused, not a hang

  const auto root = sc::RootKey::random();
  CHECK(errc_of(sc::write_raw_root_key(dir / "no-such-dir" / "root.key", root)) == Errc::io_error);
  CHECK(errc_of(sc::write_sealed_root_key(dir / "no-such-dir" / "root.key", root, pass("pw"),
                                          kFastLimits)) == Errc::io_error);
  const auto sub = dir / "subdir";
  fs::create_directory(sub);
  CHECK(errc_of(sc::write_raw_root_key(sub, root)) == Errc::io_error);  // cannot replace a dir
  CHECK(entries_in(sub) == 0);
}

TEST_CASE("write_sealed_root_key validates its arguments", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  const auto root = sc::RootKey::random();
  CHECK(errc_of(sc::write_sealed_root_key(file, root, {}, kFastLimits)) == Errc::invalid_argument);
  CHECK(errc_of(sc::write_sealed_root_key(file, root, pass("pw"), {0, kFastLimits.mem_bytes})) ==
        Errc::invalid_argument);
  CHECK(errc_of(sc::write_sealed_root_key(file, root, pass("pw"),
                                          {1, crypto_pwhash_MEMLIMIT_MIN - 1})) ==
        Errc::invalid_argument);
  CHECK_FALSE(fs::exists(file));
  CHECK(entries_in(dir.path()) == 0);
}

TEST_CASE("rewriting a key file replaces it atomically (passphrase change)", "[keyfile]") {
  TempDir dir;
  const auto file = dir / "root.key";
  const auto root = sc::RootKey::random();
  REQUIRE(sc::write_sealed_root_key(file, root, pass("old"), kFastLimits).has_value());
  auto unlocked = sc::read_root_key(file, pass("old"));
  REQUIRE(unlocked.has_value());
  REQUIRE(sc::write_sealed_root_key(file, *unlocked, pass("new"), kFastLimits).has_value());
  CHECK(entries_in(dir.path()) == 1);
  CHECK(errc_of(sc::read_root_key(file, pass("old"))) == Errc::wrong_passphrase);
  auto back = sc::read_root_key(file, pass("new"));
  REQUIRE(back.has_value());
  CHECK(*back == root);
}
