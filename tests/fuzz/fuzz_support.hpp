// Shared by every fuzz target: the libFuzzer entry point, invariant checks, a byte reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

/// The libFuzzer entry point each `*_fuzz.cpp` defines. libFuzzer calls it once per input; the
/// replay driver (replay_main.cpp) calls it once per corpus file. It must return 0 for every
/// input the parser rejects, and stops the process only when an invariant breaks.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace sluis::fuzz {

/// Reports a broken invariant and aborts, so libFuzzer keeps the input as a crash artifact and the
/// replay test fails. Never called for input a parser merely rejects.
[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}

/// The input as text (parsers of outside input take bytes through std::string_view).
[[nodiscard]] inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
  return size == 0 ? std::string_view{}
                   : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// Takes typed values off the front of a fuzz input: fixed-size integers and byte strings. Reads
/// past the end yield zeros and empty strings, so every input is a valid sequence of values and
/// short inputs still reach the code under test.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

  [[nodiscard]] std::size_t remaining() const noexcept { return size_ - pos_; }
  [[nodiscard]] bool empty() const noexcept { return pos_ == size_; }

  [[nodiscard]] std::uint8_t u8() noexcept { return empty() ? 0 : data_[pos_++]; }

  /// Little-endian; missing bytes read as zero.
  [[nodiscard]] std::uint64_t u64() noexcept {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i)
      v |= std::uint64_t{u8()} << (8U * i);
    return v;
  }

  /// Copies up to `n` bytes into `out` (zero-filling what the input lacks).
  void fill(std::uint8_t* out, std::size_t n) noexcept {
    const std::size_t take = n < remaining() ? n : remaining();
    if (take != 0) std::memcpy(out, data_ + pos_, take);
    if (take < n) std::memset(out + take, 0, n - take);
    pos_ += take;
  }

  /// Up to `max` bytes as text: a length byte, then that many bytes.
  [[nodiscard]] std::string text(std::size_t max) {
    std::size_t n = u8();
    if (n > max) n = max;
    if (n > remaining()) n = remaining();
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  /// Everything not read yet.
  [[nodiscard]] std::string_view rest() noexcept {
    const auto r = as_text(data_ + pos_, remaining());
    pos_ = size_;
    return r;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// True when `line` starts with `name` (lower case), ignoring the line's ASCII case.
[[nodiscard]] inline bool iequals_prefix(std::string_view line, std::string_view name) noexcept {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char a = line[i] >= 'A' && line[i] <= 'Z' ? static_cast<char>(line[i] + 32) : line[i];
    if (a != name[i]) return false;
  }
  return true;
}

/// The HTTP targets' input format as HTTP/1.1 bytes: line 1 "METHOD TARGET" (" HTTP/1.1" is
/// appended), header lines up to an empty line, then the body. `Host: host` is added unless the
/// input sends a Host itself, and, unless it sends Content-Length or Transfer-Encoding, a
/// Content-Length matching the body, so mutations of the body keep the request well framed.
[[nodiscard]] inline std::string to_http(std::string_view text, std::string_view host) {
  const std::size_t eol = text.find('\n');
  const std::string_view request_line = text.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
  std::string headers;
  bool framed = false;
  bool has_host = false;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (line.empty()) break;
    framed = framed || iequals_prefix(line, "content-length:") ||
             iequals_prefix(line, "transfer-encoding:");
    has_host = has_host || iequals_prefix(line, "host:");
    headers.append(line).append("\r\n");
  }
  std::string out;
  out.reserve(text.size() + 96);
  out.append(request_line).append(" HTTP/1.1\r\n");
  if (!has_host) out.append("Host: ").append(host).append("\r\n");
  out.append(headers);
  const std::string_view method = request_line.substr(0, request_line.find(' '));
  if (!framed && (!rest.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    out.append("Content-Length: ").append(std::to_string(rest.size())).append("\r\n");
  }
  out.append("\r\n").append(rest);
  return out;
}

/// True when a header name or value holds no CR, LF or NUL.
[[nodiscard]] inline bool clean_header_text(std::string_view s) noexcept {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace sluis::fuzz

/// Aborts with the failed expression when `cond` is false (an invariant of the code under test).
#define SLUIS_FUZZ_CHECK(cond)                                                                     \
  do {                                                                                             \
    if (!(cond)) ::sluis::fuzz::invariant_failed(#cond, __FILE__, __LINE__);                       \
  } while (false)
