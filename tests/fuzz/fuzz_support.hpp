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

}  // namespace sluis::fuzz

/// Aborts with the failed expression when `cond` is false (an invariant of the code under test).
#define SLUIS_FUZZ_CHECK(cond)                                                                     \
  do {                                                                                             \
    if (!(cond)) ::sluis::fuzz::invariant_failed(#cond, __FILE__, __LINE__);                       \
  } while (false)
