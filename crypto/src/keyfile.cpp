// Root key files: Argon2id-sealed or raw hex, written atomically with mode 0600
// (docs/crypto/key-hierarchy.md, "Root key files").
#include "sluis/crypto/keyfile.hpp"

#include "sluis/crypto/encoding.hpp"

#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluis::crypto {
namespace {

// File layout (all lines end in '\n', hex is lowercase, numbers are decimal without leading
// zeros). Sealed:
//   sluis-root-key v1 sealed
//   kdf argon2id13
//   ops <u64>
//   mem <u64 bytes>
//   salt <32 hex>
//   nonce <48 hex>
//   ciphertext <96 hex>          root key (32) || Poly1305 tag (16)
// The AEAD associated data is every byte before "ciphertext ". Raw:
//   sluis-root-key v1 raw
//   key <64 hex>
constexpr std::string_view kMagic = "sluis-root-key ";
constexpr std::string_view kSealedMagicLine = "sluis-root-key v1 sealed";
constexpr std::string_view kRawMagicLine = "sluis-root-key v1 raw";
constexpr std::string_view kKdfName = "argon2id13";

constexpr std::size_t kSaltSize = crypto_pwhash_SALTBYTES;
constexpr std::size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kSealedSize = RootKey::kSize + kTagSize;
static_assert(kSaltSize == 16);

// A key file is a few hundred bytes; anything much larger is not one (and is not read whole).
constexpr std::size_t kMaxKeyFileSize = 4096;

// Argon2id limits accepted in a file. The lower bounds are libsodium's; the upper bounds stop a
// tampered file from making start-up allocate or spin without bound (4 GiB, 64 passes).
constexpr std::uint64_t kMinOps = crypto_pwhash_OPSLIMIT_MIN;
constexpr std::uint64_t kMaxOps = 64;
constexpr std::uint64_t kMinMem = crypto_pwhash_MEMLIMIT_MIN;
constexpr std::uint64_t kMaxMem = std::uint64_t{4} << 30;

bool limits_ok(const Argon2Limits& l) noexcept {
  return l.ops >= kMinOps && l.ops <= kMaxOps && l.mem_bytes >= kMinMem && l.mem_bytes <= kMaxMem;
}

// ---- reading -----------------------------------------------------------------------------------

// Opens `path`, checks it is a regular file with no group/other permission bits (checked on the
// open descriptor, so a swap between check and read cannot slip through), and reads it whole into
// guarded memory. A raw key file's content is the key itself.
Result<SecretBuffer> read_key_file(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO planted at the path must not hang start-up before fstat refuses it
  // (it does not affect reads from a regular file).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Errc::io_error;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st{};
  if (::fstat(fd, &st) != 0) return Errc::io_error;
  if (!S_ISREG(st.st_mode)) return Errc::bad_key_file;
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) return Errc::bad_key_file;

  SecretBuffer buf(kMaxKeyFileSize + 1);
  std::size_t n = 0;
  auto dst = buf.reveal_mut();
  while (n < dst.size()) {
    const ssize_t r = ::read(fd, dst.data() + n, dst.size() - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errc::io_error;
    }
    if (r == 0) break;
    n += static_cast<std::size_t>(r);
  }
  if (n > kMaxKeyFileSize) return Errc::bad_key_file;
  auto out = SecretBuffer::copy_of(dst.first(n));
  return out;
}

// Strict line cursor over the file text.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text), text_(text) {}

  // The next line without its '\n'; nullopt when no complete line is left.
  std::optional<std::string_view> line() {
    const auto nl = rest_.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    auto l = rest_.substr(0, nl);
    rest_.remove_prefix(nl + 1);
    return l;
  }
  // "<key> <value>" with exactly that key; returns the value.
  std::optional<std::string_view> field(std::string_view key) {
    auto l = line();
    if (!l || l->size() <= key.size() || !l->starts_with(key) || (*l)[key.size()] != ' ') {
      return std::nullopt;
    }
    return l->substr(key.size() + 1);
  }
  [[nodiscard]] bool at_end() const noexcept { return rest_.empty(); }
  [[nodiscard]] std::size_t offset() const noexcept { return text_.size() - rest_.size(); }

 private:
  std::string_view rest_;
  std::string_view text_;
};

// Lowercase hex of exactly out.size() bytes, decoded into `out`.
bool parse_hex(std::string_view text, std::span<std::uint8_t> out) noexcept {
  if (text.size() != out.size() * 2) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  std::size_t len = 0;
  return sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr) ==
             0 &&
         len == out.size();
}

// Canonical decimal: digits only, no sign, no leading zero, fits in u64.
std::optional<std::uint64_t> parse_u64(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// "sluis-root-key v<digits> <lowercase word>": a well-formed first line of some version or kind.
bool looks_like_magic(std::string_view line) noexcept {
  if (!line.starts_with(kMagic)) return false;
  line.remove_prefix(kMagic.size());
  const auto space = line.find(' ');
  if (space == std::string_view::npos || space < 2 || line[0] != 'v') return false;
  const auto version = line.substr(1, space - 1);
  const auto kind = line.substr(space + 1);
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  auto is_lower = [](char c) { return c >= 'a' && c <= 'z'; };
  return std::ranges::all_of(version, is_digit) && !kind.empty() &&
         std::ranges::all_of(kind, is_lower);
}

enum class FileKind : std::uint8_t { sealed, raw };

// Reads and classifies the first line. Not a sluis key file at all → bad_key_file; a sluis key
// file of a version or kind this build does not know → unsupported_format.
Result<FileKind> parse_magic(LineReader& in) {
  auto first = in.line();
  if (!first) return Errc::bad_key_file;
  if (*first == kSealedMagicLine) return FileKind::sealed;
  if (*first == kRawMagicLine) return FileKind::raw;
  if (looks_like_magic(*first)) return Errc::unsupported_format;
  return Errc::bad_key_file;
}

Result<RootKey> open_raw(LineReader& in) {
  RootKey root;
  auto hex = in.field("key");
  if (!hex || !parse_hex(*hex, root.reveal_mut()) || !in.at_end()) return Errc::bad_key_file;
  return root;
}

Result<RootKey> open_sealed(LineReader& in, std::string_view text,
                            std::span<const std::uint8_t> passphrase) {
  auto kdf = in.field("kdf");
  auto ops = in.field("ops");
  auto mem = in.field("mem");
  auto salt_hex = in.field("salt");
  auto nonce_hex = in.field("nonce");
  const std::size_t header_len = in.offset();
  auto sealed_hex = in.field("ciphertext");
  if (!kdf || !ops || !mem || !salt_hex || !nonce_hex || !sealed_hex || !in.at_end()) {
    return Errc::bad_key_file;
  }
  if (*kdf != kKdfName) return Errc::unsupported_format;
  const auto ops_v = parse_u64(*ops);
  const auto mem_v = parse_u64(*mem);
  if (!ops_v || !mem_v || !limits_ok(Argon2Limits{.ops = *ops_v, .mem_bytes = *mem_v}))
    return Errc::bad_key_file;
  std::array<std::uint8_t, kSaltSize> salt{};
  std::array<std::uint8_t, kNonceSize> nonce{};
  std::array<std::uint8_t, kSealedSize> sealed{};
  if (!parse_hex(*salt_hex, salt) || !parse_hex(*nonce_hex, nonce) ||
      !parse_hex(*sealed_hex, sealed)) {
    return Errc::bad_key_file;
  }
  // write_sealed_root_key refuses an empty passphrase, so it can never be the right one.
  if (passphrase.empty()) return Errc::wrong_passphrase;

  SecretBytes<32> wrapping;
  if (crypto_pwhash(wrapping.reveal_mut().data(), wrapping.size(),
                    reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    salt.data(), *ops_v, static_cast<std::size_t>(*mem_v),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Errc::kdf_failed;
  }
  RootKey root;
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          root.reveal_mut().data(), &mlen, nullptr, sealed.data(), sealed.size(),
          reinterpret_cast<const std::uint8_t*>(text.data()), header_len, nonce.data(),
          wrapping.reveal().data()) != 0 ||
      mlen != RootKey::kSize) {
    // A wrong passphrase and a tampered header or ciphertext are indistinguishable here.
    return Errc::wrong_passphrase;
  }
  return root;
}

// ---- writing -----------------------------------------------------------------------------------

bool write_all(int fd, std::span<const std::uint8_t> data) noexcept {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(w);
  }
  return true;
}

// Atomic replace: a temporary file in the same directory (mode 0600 from mkstemp, made explicit
// with fchmod), written and fsync'd, renamed over `path`, then the directory fsync'd so the
// rename itself survives a crash. At every moment `path` holds either the old or the new file.
Result<void> write_file_atomically(const std::filesystem::path& path,
                                   std::span<const std::uint8_t> content) {
  if (path.filename().empty()) return Errc::invalid_argument;
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  // Built with append: GCC 12 -O3 reports a false -Wrestrict for `"." + std::string`.
  std::string tmp_name(".");
  tmp_name.append(path.filename().string()).append(".tmp-XXXXXX");
  std::string tmpl = (dir / tmp_name).string();
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Errc::io_error;
  bool ok = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0 && write_all(fd, content) && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmpl.c_str(), path.c_str()) != 0) {
    ::unlink(tmpl.c_str());
    return Errc::io_error;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errc::io_error;
  const bool synced = ::fsync(dfd) == 0;
  ::close(dfd);
  if (!synced) return Errc::io_error;
  return {};
}

void append(std::string& s, std::string_view key, std::string_view value) {
  s.append(key).append(" ").append(value).append("\n");
}

}  // namespace

Result<void> write_sealed_root_key(const std::filesystem::path& path, const RootKey& root,
                                   std::span<const std::uint8_t> passphrase, Argon2Limits limits) {
  if (passphrase.empty() || passphrase.size() > crypto_pwhash_PASSWD_MAX || !limits_ok(limits)) {
    return Errc::invalid_argument;
  }
  std::array<std::uint8_t, kSaltSize> salt{};
  std::array<std::uint8_t, kNonceSize> nonce{};
  detail::fill_random(salt.data(), salt.size());
  detail::fill_random(nonce.data(), nonce.size());

  SecretBytes<32> wrapping;
  if (crypto_pwhash(wrapping.reveal_mut().data(), wrapping.size(),
                    reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    salt.data(), limits.ops, static_cast<std::size_t>(limits.mem_bytes),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Errc::kdf_failed;
  }

  // Nothing in the header is secret; the root key only ever exists encrypted in `text`.
  std::string text;
  text.append(kSealedMagicLine).append("\n");
  append(text, "kdf", kKdfName);
  append(text, "ops", std::to_string(limits.ops));
  append(text, "mem", std::to_string(limits.mem_bytes));
  append(text, "salt", to_hex(salt));
  append(text, "nonce", to_hex(nonce));
  std::array<std::uint8_t, kSealedSize> sealed{};
  unsigned long long clen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          sealed.data(), &clen, root.reveal().data(), root.size(),
          reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), nullptr, nonce.data(),
          wrapping.reveal().data()) != 0 ||
      clen != sealed.size()) {
    return Errc::invalid_argument;
  }
  append(text, "ciphertext", to_hex(sealed));
  return write_file_atomically(path,
                               {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

Result<void> write_raw_root_key(const std::filesystem::path& path, const RootKey& root) {
  constexpr std::string_view kKeyPrefix = "key ";
  const std::size_t hex_at = kRawMagicLine.size() + 1 + kKeyPrefix.size();
  // The file text is the key in hex, so it is built in guarded memory and wiped afterwards.
  SecretBuffer text(hex_at + 2 * RootKey::kSize + 1);
  auto t = text.reveal_mut();
  auto* chars = reinterpret_cast<char*>(t.data());
  std::memcpy(chars, kRawMagicLine.data(), kRawMagicLine.size());
  chars[kRawMagicLine.size()] = '\n';
  std::memcpy(chars + kRawMagicLine.size() + 1, kKeyPrefix.data(), kKeyPrefix.size());
  // sodium_bin2hex writes a terminating NUL where the final '\n' goes.
  sodium_bin2hex(chars + hex_at, 2 * RootKey::kSize + 1, root.reveal().data(), RootKey::kSize);
  chars[t.size() - 1] = '\n';
  return write_file_atomically(path, text.reveal());
}

Result<RootKey> read_root_key(const std::filesystem::path& path,
                              std::span<const std::uint8_t> passphrase) {
  auto content = read_key_file(path);
  if (!content) return content.error();
  const auto bytes = content->reveal();
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  LineReader in(text);
  auto kind = parse_magic(in);
  if (!kind) return kind.error();
  if (*kind == FileKind::raw) return open_raw(in);
  return open_sealed(in, text, passphrase);
}

Result<bool> root_key_file_is_sealed(const std::filesystem::path& path) {
  auto content = read_key_file(path);
  // result<bool> cannot be built from an error_code implicitly (bool is constructible from it).
  if (!content) return {boost::system::in_place_error, content.error()};
  const auto bytes = content->reveal();
  LineReader in({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  auto kind = parse_magic(in);
  if (!kind) return {boost::system::in_place_error, kind.error()};
  return *kind == FileKind::sealed;
}

}  // namespace sluis::crypto
