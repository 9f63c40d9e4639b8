// Static files: from a request path to a file inside the web root, refusing every way out of it.
// The path grammar is narrower than URLs allow on purpose: the console ships its own few files
// with plain names, so anything else (escapes, dots, separators of other systems) is an attack.
#include "sluis/console/http_input.hpp"

#include <algorithm>
#include <system_error>

namespace sluis::console {
namespace {

constexpr std::size_t kMaxStaticPathBytes = 256;
constexpr std::size_t kMaxStaticSegments = 8;

bool plain_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

InputResult<std::string> static_relative_path(std::string_view request_path,
                                              std::string_view prefix) {
  if (prefix.empty() || prefix.front() != '/' || prefix.back() != '/') return InputErrc::bad_path;
  if (request_path.size() > kMaxStaticPathBytes) return InputErrc::bad_path;
  if (request_path.substr(0, prefix.size()) != prefix) return InputErrc::bad_path;
  const std::string_view rest = request_path.substr(prefix.size());
  if (rest.empty()) return InputErrc::bad_path;
  std::size_t segments = 0;
  std::size_t start = 0;
  while (start <= rest.size()) {
    const std::size_t slash = std::min(rest.find('/', start), rest.size());
    const std::string_view seg = rest.substr(start, slash - start);
    start = slash + 1;
    // Empty ("//", leading or trailing '/'), hidden or dot segments ("." and ".." start with '.').
    if (seg.empty() || seg.front() == '.') return InputErrc::bad_path;
    for (const char c : seg) {
      if (!plain_char(c)) return InputErrc::bad_path;  // '%', '\\', NUL, ':', '?', '#', ...
    }
    if (++segments > kMaxStaticSegments) return InputErrc::bad_path;
  }
  return std::string(rest);
}

InputResult<std::filesystem::path> resolve_static_file(const std::filesystem::path& root,
                                                       std::string_view relative) {
  // The relative path must itself be one static_relative_path accepts.
  std::string probe = "/";
  probe.append(relative);
  auto checked = static_relative_path(probe, "/");
  if (!checked) return checked.error();
  std::error_code ec;
  const auto base = std::filesystem::canonical(root, ec);
  if (ec) return InputErrc::not_found;
  const auto file = std::filesystem::canonical(base / *checked, ec);
  if (ec) return InputErrc::not_found;
  // After links are followed the file must still be below the root.
  const auto rel = file.lexically_relative(base);
  if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") return InputErrc::bad_path;
  if (!std::filesystem::is_regular_file(file, ec) || ec) return InputErrc::not_found;
  return file;
}

}  // namespace sluis::console
