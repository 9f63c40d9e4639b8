// Guarded, zeroising containers for secrets (keys, card secrets) and opened plaintext.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluis::crypto {

/// Initialises libsodium exactly once (thread-safe). Every crypto entry point calls it, so callers
/// never need to; exposed for `main()` to fail early. Aborts the process if libsodium cannot start
/// (no entropy source): nothing in sluis can run safely without it.
void ensure_sodium() noexcept;

namespace detail {
/// sodium_malloc: guard pages, mlock(2), MADV_DONTDUMP. Throws std::bad_alloc on failure.
[[nodiscard]] void* guarded_alloc(std::size_t n);
/// sodium_free: zeroises, unlocks, unmaps. Accepts nullptr.
void guarded_free(void* p) noexcept;
/// Constant-time comparison of two equal-length regions (sodium_memcmp).
[[nodiscard]] bool ct_equal(const void* a, const void* b, std::size_t n) noexcept;
/// Fills with CSPRNG output (randombytes_buf).
void fill_random(void* p, std::size_t n) noexcept;
/// Zeroises memory in a way the compiler cannot elide (sodium_memzero).
void zeroise(void* p, std::size_t n) noexcept;
/// Writes "<redacted:NB>".
std::ostream& print_redacted(std::ostream& os, std::size_t n);
[[noreturn]] void moved_from_secret() noexcept;
}  // namespace detail

/// Wipes memory in a way the compiler cannot elide (sodium_memzero): for the short-lived plain
/// buffers (a normalised identifier, a formatted card code) that a secret passes through.
void wipe(std::span<std::uint8_t> bytes) noexcept;
void wipe(std::span<char> chars) noexcept;
/// Fills `out` with CSPRNG output (randombytes_buf): nonces, identifiers, salts.
void random_bytes(std::span<std::uint8_t> out) noexcept;

/// A fixed-size secret held in guarded memory.
///
/// `Tag` gives each key role its own type (Botan's `Strong<T, Tag>`): a root key, a sub-key, a KEK
/// and a data key are all 32 bytes, but a function that takes one refuses the others at compile
/// time (tests/compile_fail/ shows it). Untagged (`Tag = void`) for secrets with no key role
/// (libsodium's expanded signing key, test seeds).
///
/// Promises: the bytes live in sodium_malloc'd pages (guard pages, mlock'd where the limit
/// allows, excluded from core dumps) and are zeroised when the object dies; the object is
/// move-only; equality is constant-time; streaming it prints `<redacted:NB>` and never the bytes.
/// The bytes are reachable only through `reveal()`, so every use of a secret is greppable.
/// A moved-from object holds nothing; calling reveal() on it aborts (a programming error).
template <std::size_t N, class Tag = void> class SecretBytes {
 public:
  static_assert(N > 0);
  static constexpr std::size_t kSize = N;

  /// Zero-filled secret.
  SecretBytes() : p_(static_cast<std::uint8_t*>(detail::guarded_alloc(N))) {
    detail::zeroise(p_, N);
  }
  /// Fresh secret from the CSPRNG.
  [[nodiscard]] static SecretBytes random() {
    SecretBytes s;
    detail::fill_random(s.p_, N);
    return s;
  }
  /// Copies `src` into guarded memory. The caller remains responsible for wiping `src`.
  [[nodiscard]] static SecretBytes copy_of(std::span<const std::uint8_t, N> src) {
    SecretBytes s;
    std::copy(src.begin(), src.end(), s.p_);
    return s;
  }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      detail::guarded_free(p_);
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  ~SecretBytes() { detail::guarded_free(p_); }

  /// An explicit, auditable copy.
  [[nodiscard]] SecretBytes clone() const { return copy_of(reveal()); }

  [[nodiscard]] std::span<const std::uint8_t, N> reveal() const noexcept {
    if (p_ == nullptr) detail::moved_from_secret();
    return std::span<const std::uint8_t, N>(p_, N);
  }
  [[nodiscard]] std::span<std::uint8_t, N> reveal_mut() noexcept {
    if (p_ == nullptr) detail::moved_from_secret();
    return std::span<std::uint8_t, N>(p_, N);
  }
  [[nodiscard]] static constexpr std::size_t size() noexcept { return N; }
  /// Zeroises the bytes in place (the object stays usable, holding zeros).
  void wipe() noexcept {
    if (p_ != nullptr) detail::zeroise(p_, N);
  }

  /// Constant-time equality.
  [[nodiscard]] friend bool operator==(const SecretBytes& a, const SecretBytes& b) noexcept {
    return detail::ct_equal(a.reveal().data(), b.reveal().data(), N);
  }
  friend std::ostream& operator<<(std::ostream& os, const SecretBytes&) {
    return detail::print_redacted(os, N);
  }

 private:
  std::uint8_t* p_;
};

/// A variable-size secret in guarded memory (passphrases, opened plaintext that must be kept).
/// Same promises as SecretBytes; the size is fixed at construction.
class SecretBuffer {
 public:
  explicit SecretBuffer(std::size_t n);
  [[nodiscard]] static SecretBuffer copy_of(std::span<const std::uint8_t> src);
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  SecretBuffer(SecretBuffer&& o) noexcept;
  SecretBuffer& operator=(SecretBuffer&& o) noexcept;
  ~SecretBuffer();

  [[nodiscard]] std::span<const std::uint8_t> reveal() const noexcept;
  [[nodiscard]] std::span<std::uint8_t> reveal_mut() noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  friend bool operator==(const SecretBuffer& a, const SecretBuffer& b) noexcept;
  friend std::ostream& operator<<(std::ostream& os, const SecretBuffer& s);

 private:
  std::uint8_t* p_;
  std::size_t n_;
};

/// Allocator that zeroises memory before handing it back. For short-lived plaintext buffers where
/// guarded pages would be too costly (one per opened field); not locked, but never left behind.
template <class T> struct ZeroizingAllocator {
  using value_type = T;
  ZeroizingAllocator() noexcept = default;
  template <class U> explicit ZeroizingAllocator(const ZeroizingAllocator<U>&) noexcept {}
  [[nodiscard]] T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    detail::zeroise(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <class U>
  friend bool operator==(const ZeroizingAllocator&, const ZeroizingAllocator<U>&) noexcept {
    return true;
  }
};

/// Opened plaintext of a field: a byte vector wiped when it is freed.
using PlainBytes = std::vector<std::uint8_t, ZeroizingAllocator<std::uint8_t>>;

/// Constant-time equality of two byte strings (false when the lengths differ; the length itself
/// is not secret).
[[nodiscard]] bool constant_time_equal(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b) noexcept;

}  // namespace sluis::crypto
