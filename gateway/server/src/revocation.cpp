// The revocation list: parsing, canonical serials and atomic saving of the operator's text file.
#include "sluis/server/revocation.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace sluis::server {
namespace {

constexpr std::size_t kMaxSerialDigits = 40;  // 20 octets, RFC 5280 §4.1.2.2
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string RevocationList::canonical_serial(std::string_view serial_hex) {
  if (serial_hex.empty() || serial_hex.size() > kMaxSerialDigits) return {};
  std::string out;
  out.reserve(serial_hex.size());
  for (const char c : serial_hex) {
    if (!is_hex(c)) return {};
    if (out.empty() && c == '0') continue;
    out.push_back(c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  if (out.empty()) out.push_back('0');  // not `= "0"`: GCC 12 -O2 -Wrestrict false positive
  return out;
}

ServerResult<void> RevocationList::add(std::string_view serial_hex) {
  std::string canonical = canonical_serial(serial_hex);
  if (canonical.empty()) return make_error_code(ServerErrc::invalid_argument);
  serials_.insert(std::move(canonical));
  return {};
}

bool RevocationList::contains(std::string_view serial_hex) const {
  const std::string canonical = canonical_serial(serial_hex);
  return !canonical.empty() && serials_.count(canonical) != 0;
}

ServerResult<RevocationList> RevocationList::parse(std::string_view text) {
  RevocationList list;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t end = line.find_first_of(" \t#");
    const std::string_view serial = line.substr(0, end);
    if (!list.add(serial)) return make_error_code(ServerErrc::bad_revocation_list);
  }
  return list;
}

ServerResult<RevocationList> RevocationList::load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error_code(ServerErrc::io_failure);
  std::string text;
  char chunk[4096];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) return make_error_code(ServerErrc::bad_revocation_list);
  }
  if (in.bad()) return make_error_code(ServerErrc::io_failure);
  return parse(text);
}

std::string RevocationList::to_text() const {
  std::string out =
      "# sluis revocation list: one revoked partner-certificate serial (hex) per line.\n";
  for (const auto& s : serials_) {
    out += s;
    out += '\n';
  }
  return out;
}

ServerResult<void> RevocationList::save_file(const std::filesystem::path& path) const {
  const std::string text = to_text();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return make_error_code(ServerErrc::io_failure);
  std::size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return make_error_code(ServerErrc::io_failure);
  }
  return {};
}

}  // namespace sluis::server
