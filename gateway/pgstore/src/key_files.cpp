// The KEK ring file and the erasure ledger: parsing that refuses what it does not recognise,
// atomic replacement (ring) and fsynced appends (ledger).
#include "key_files.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/key_ring.hpp"
#include "sluis/crypto/pseudonym.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string_view>
#include <utility>

namespace sluis::pgstore {

namespace {

namespace fs = std::filesystem;
using store::Errc;
using store::make_error_code;

constexpr std::string_view kRingHeader = "sluis kek ring v1";
constexpr std::string_view kLedgerHeader = "sluis erasure ledger v1";

Result<void> failed(std::string* why, std::string sentence, Errc e = Errc::storage_failure) {
  if (why != nullptr) *why = std::move(sentence);
  return make_error_code(e);
}

/// The whole file (nullopt: it does not exist). Errors: storage_failure.
Result<std::optional<std::string>> slurp(const fs::path& path, std::string* why) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ec)
      return failed(why, path.string() + " cannot be looked at (" + ec.message() + ")").error();
    return std::optional<std::string>{};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return failed(why, path.string() + " cannot be read; check its owner and mode").error();
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return failed(why, path.string() + " cannot be read").error();
  return std::optional<std::string>{std::move(text)};
}

/// The space-separated words of a line.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    const auto end = line.find(' ', i);
    out.push_back(line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return out;
}

template <typename T> bool number_of(std::string_view w, T& out) {
  if (w.empty() || w.size() > 19) return false;
  for (const char c : w) {
    if (c < '0' || c > '9') return false;
  }
  const auto r = std::from_chars(w.data(), w.data() + w.size(), out);
  return r.ec == std::errc() && r.ptr == w.data() + w.size();
}

bool write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<std::size_t>(w);
  }
  return true;
}

bool sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

/// Overwrites every byte of the file at `path` with zeros and syncs it (best effort on what the
/// file system keeps elsewhere: journals, snapshots, an SSD's remapped blocks).
bool zero_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0;
  const std::string zeros(4096, '\0');
  for (off_t left = ok ? st.st_size : 0; ok && left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<off_t>(left, 4096));
    ok = write_all(fd, std::string_view(zeros.data(), n));
    left -= static_cast<off_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

std::string line_record(const LedgerRecord& r) {
  return r.tag + " " + std::to_string(r.erased_at_ms) + " " + std::to_string(r.reason);
}

/// A tag as the audit pseudonym writes it: lower-case letters and digits, nothing else.
bool tag_shape(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (const char c : t) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

// --- FileLock ---

Result<FileLock> FileLock::take(const fs::path& file, std::string* why) {
  const std::string lock = file.string() + ".lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return failed(why, "the lock file " + lock + " cannot be created (" + std::strerror(errno) +
                           "); check that the directory exists and is writable")
        .error();
  }
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd);
      return failed(why, "the lock file " + lock + " cannot be locked").error();
    }
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

// --- the ring file ---

Result<RingFile> read_ring_file(const fs::path& path, std::string* why) {
  auto text = slurp(path, why);
  if (!text) return text.error();
  RingFile out;
  if (!*text) return out;
  out.exists = true;
  const std::string& t = **text;
  auto damaged = [&](std::size_t line, std::string_view what) -> Result<RingFile> {
    return failed(why,
                  "the KEK ring file " + path.string() + " is damaged at line " +
                      std::to_string(line) + " (" + std::string(what) +
                      "); restore it from the copy on another node or from its backup",
                  Errc::file_damaged)
        .error();
  };
  std::set<std::uint32_t> seen;
  std::size_t pos = 0;
  for (std::size_t n = 1; pos < t.size(); ++n) {
    const auto end = t.find('\n', pos);
    if (end == std::string::npos) return damaged(n, "the last line has no end");
    const std::string_view line(t.data() + pos, end - pos);
    pos = end + 1;
    if (n == 1) {
      if (line != kRingHeader) return damaged(n, "not a sluis KEK ring");
      continue;
    }
    const auto w = words_of(line);
    std::uint32_t version = 0;
    std::int64_t created = 0;
    if (w.size() != 4 || w[0] != "kek" || !number_of(w[1], version) || version == 0 ||
        !number_of(w[2], created)) {
      return damaged(n, "not a KEK line");
    }
    auto blob = crypto::from_hex(w[3]);
    if (!blob) return damaged(n, "the wrapped KEK is not hexadecimal");
    if (!seen.insert(version).second)
      return damaged(n, "version " + std::to_string(version) + " twice");
    out.entries.push_back(
        {crypto::WrappedKek{crypto::KekVersion{version}, std::move(*blob)}, created});
  }
  if (t.empty()) return damaged(1, "the file is empty");
  return out;
}

Result<void> write_ring_file(const fs::path& path, const std::vector<RingEntry>& entries,
                             std::string* why) {
  std::string text(kRingHeader);
  text += '\n';
  for (const auto& e : entries) {
    text += "kek " + std::to_string(e.wrapped.version.value) + " " +
            std::to_string(e.created_at_ms) + " " + crypto::to_hex(e.wrapped.blob) + "\n";
  }
  const fs::path dir = path.parent_path();
  const fs::path fresh = path.string() + ".new";
  const fs::path old = path.string() + ".old";
  std::error_code ec;
  fs::remove(fresh, ec);
  const int fd = ::open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return failed(why, "the KEK ring file " + fresh.string() + " cannot be created (" +
                           std::strerror(errno) + ")");
  }
  bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    fs::remove(fresh, ec);
    return failed(why, "the KEK ring file " + fresh.string() + " cannot be written");
  }
  // The replaced file stays reachable under a second name until the new one is in place, so a
  // crash at any step leaves a whole ring; then its bytes are zeroed and it goes.
  fs::remove(old, ec);
  const bool had_old = fs::exists(path, ec);
  if (had_old && ::link(path.c_str(), old.c_str()) != 0) {
    fs::remove(fresh, ec);
    return failed(why, "the KEK ring file " + path.string() + " cannot be replaced (" +
                           std::strerror(errno) + ")");
  }
  if (::rename(fresh.c_str(), path.c_str()) != 0 || !sync_directory(dir)) {
    fs::remove(fresh, ec);
    return failed(why, "the KEK ring file " + path.string() + " cannot be replaced (" +
                           std::strerror(errno) + ")");
  }
  if (had_old) {
    const bool zeroed = zero_file(old);
    fs::remove(old, ec);
    if (!zeroed || ec || !sync_directory(dir)) {
      return failed(why, "the previous KEK ring file " + old.string() +
                             " could not be overwritten and removed; remove it by hand");
    }
  }
  return {};
}

std::string ring_file_stamp(const fs::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// --- the erasure ledger ---

Result<std::vector<LedgerRecord>> read_ledger(const fs::path& path,
                                              const crypto::SubKey& ledger_key, std::string* why) {
  auto text = slurp(path, why);
  if (!text) return text.error();
  std::vector<LedgerRecord> out;
  if (!*text) return out;
  const std::string& t = **text;
  auto damaged = [&](std::size_t line, std::string_view what) -> Result<std::vector<LedgerRecord>> {
    return failed(why,
                  "the erasure ledger " + path.string() + " is damaged at line " +
                      std::to_string(line) + " (" + std::string(what) +
                      "); restore it from its backup or another node's copy: without it an "
                      "old database backup would bring erased clients back",
                  Errc::file_damaged)
        .error();
  };
  std::size_t pos = 0;
  for (std::size_t n = 1; pos < t.size(); ++n) {
    const auto end = t.find('\n', pos);
    if (end == std::string::npos) break;  // a torn append: left out (header-level: see below)
    const std::string_view line(t.data() + pos, end - pos);
    pos = end + 1;
    if (n == 1) {
      if (line != kLedgerHeader) return damaged(n, "not a sluis erasure ledger");
      continue;
    }
    const auto w = words_of(line);
    LedgerRecord r;
    if (w.size() != 4 || !tag_shape(w[0]) || !number_of(w[1], r.erased_at_ms) ||
        !number_of(w[2], r.reason) || (r.reason != 1 && r.reason != 2)) {
      return damaged(n, "not a tombstone line");
    }
    r.tag = std::string(w[0]);
    const auto digest = crypto::from_hex(w[3]);
    const auto expected = crypto::erasure_record_digest(ledger_key, line_record(r));
    if (!digest || digest->size() != expected.size() ||
        !std::equal(expected.begin(), expected.end(), digest->begin())) {
      return damaged(n, "its digest does not match: altered, or written under another root key");
    }
    out.push_back(std::move(r));
  }
  if (t.find('\n') == std::string::npos && !t.empty() &&
      !std::string_view(kLedgerHeader).starts_with(t)) {
    return damaged(1, "not a sluis erasure ledger");
  }
  return out;
}

Result<void> append_ledger(const fs::path& path, const crypto::SubKey& ledger_key,
                           const std::vector<LedgerRecord>& records, std::string* why) {
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return failed(why, "the erasure ledger " + path.string() + " cannot be opened (" +
                           std::strerror(errno) +
                           "); check that its directory exists and that "
                           "sluisd may write it");
  }
  auto fail = [&](std::string what) {
    ::close(fd);
    return failed(why, "the erasure ledger " + path.string() + " " + what);
  };
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail("cannot be looked at");
  std::string text;
  if (st.st_size == 0) {
    text.append(kLedgerHeader).push_back('\n');
  } else {
    // A torn last line (a crash during an append) is cut off, so that this append starts a line.
    off_t keep = st.st_size;
    char c = 0;
    while (keep > 0 && ::pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
      --keep;
    if (keep != st.st_size && ::ftruncate(fd, keep) != 0) return fail("cannot be repaired");
    if (keep == 0) text.append(kLedgerHeader).push_back('\n');
  }
  for (const auto& r : records) {
    const std::string body = line_record(r);
    text += body + " " + crypto::to_hex(crypto::erasure_record_digest(ledger_key, body)) + "\n";
  }
  if (!write_all(fd, text)) return fail("cannot be written");
  if (::fsync(fd) != 0) return fail("cannot be synced to disk");
  if (::close(fd) != 0)
    return failed(why, "the erasure ledger " + path.string() + " cannot be closed");
  if (!existed && !sync_directory(path.parent_path())) {
    return failed(why,
                  "the directory of the erasure ledger " + path.string() + " cannot be synced");
  }
  return {};
}

}  // namespace sluis::pgstore
