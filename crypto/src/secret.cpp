// Guarded memory primitives behind SecretBytes / SecretBuffer, on libsodium.
#include "sluis/crypto/secret.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <ostream>

namespace sluis::crypto {

void ensure_sodium() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fputs("sluis: libsodium failed to initialise (no entropy source?)\n", stderr);
      std::abort();
    }
  });
}

namespace detail {

void* guarded_alloc(std::size_t n) {
  ensure_sodium();
  void* p = sodium_malloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void guarded_free(void* p) noexcept {
  if (p != nullptr) sodium_free(p);
}

bool ct_equal(const void* a, const void* b, std::size_t n) noexcept {
  return sodium_memcmp(a, b, n) == 0;
}

void fill_random(void* p, std::size_t n) noexcept {
  ensure_sodium();
  randombytes_buf(p, n);
}

void zeroise(void* p, std::size_t n) noexcept {
  if (p != nullptr && n != 0) sodium_memzero(p, n);
}

std::ostream& print_redacted(std::ostream& os, std::size_t n) {
  return os << "<redacted:" << n << "B>";
}

void moved_from_secret() noexcept {
  std::fputs("sluis: use of a moved-from secret (programming error)\n", stderr);
  std::abort();
}

}  // namespace detail

void wipe(std::span<std::uint8_t> bytes) noexcept {
  detail::zeroise(bytes.data(), bytes.size());
}

void wipe(std::span<char> chars) noexcept {
  detail::zeroise(chars.data(), chars.size());
}

void random_bytes(std::span<std::uint8_t> out) noexcept {
  detail::fill_random(out.data(), out.size());
}

SecretBuffer::SecretBuffer(std::size_t n)
    // sodium_malloc(0) is legal but we keep one byte so the pointer is never null.
    : p_(static_cast<std::uint8_t*>(detail::guarded_alloc(n == 0 ? 1 : n))), n_(n) {
  detail::zeroise(p_, n == 0 ? 1 : n);
}

SecretBuffer SecretBuffer::copy_of(std::span<const std::uint8_t> src) {
  SecretBuffer s(src.size());
  std::copy(src.begin(), src.end(), s.p_);
  return s;
}

SecretBuffer::SecretBuffer(SecretBuffer&& o) noexcept : p_(o.p_), n_(o.n_) {
  o.p_ = nullptr;
  o.n_ = 0;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& o) noexcept {
  if (this != &o) {
    detail::guarded_free(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

SecretBuffer::~SecretBuffer() {
  detail::guarded_free(p_);
}

std::span<const std::uint8_t> SecretBuffer::reveal() const noexcept {
  if (p_ == nullptr) detail::moved_from_secret();
  return {p_, n_};
}

std::span<std::uint8_t> SecretBuffer::reveal_mut() noexcept {
  if (p_ == nullptr) detail::moved_from_secret();
  return {p_, n_};
}

bool operator==(const SecretBuffer& a, const SecretBuffer& b) noexcept {
  return constant_time_equal(a.reveal(), b.reveal());
}

std::ostream& operator<<(std::ostream& os, const SecretBuffer& s) {
  return detail::print_redacted(os, s.n_);
}

bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return detail::ct_equal(a.data(), b.data(), a.size());
}

}  // namespace sluis::crypto
