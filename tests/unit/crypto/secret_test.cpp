// SecretBytes / SecretBuffer: guarded, move-only, constant-time, never printed.
#include "sluis/crypto/secret.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>

using sluis::crypto::SecretBuffer;
using sluis::crypto::SecretBytes;

namespace {
// A recognisable canary: if any printed form of a secret contains it, the secret leaked.
constexpr std::string_view kCanary = "CANARY-7f3a9e-SECRET";

template <class T> std::string printed(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

TEST_CASE("SecretBytes prints as <redacted:NB> and never its bytes", "[secret]") {
  SecretBytes<20> s;
  std::copy(kCanary.begin(), kCanary.end(), s.reveal_mut().begin());
  const std::string text = printed(s);
  CHECK(text == "<redacted:20B>");
  CHECK(text.find("CANARY") == std::string::npos);

  auto buf = SecretBuffer::copy_of(
      std::span(reinterpret_cast<const std::uint8_t*>(kCanary.data()), kCanary.size()));
  CHECK(printed(buf) == "<redacted:20B>");
}

TEST_CASE("SecretBytes is zero-initialised, random differs, equality is by content", "[secret]") {
  SecretBytes<32> zero;
  CHECK(std::all_of(zero.reveal().begin(), zero.reveal().end(), [](auto b) { return b == 0; }));
  auto a = SecretBytes<32>::random();
  auto b = SecretBytes<32>::random();
  CHECK_FALSE(a == b);
  auto c = a.clone();
  CHECK(a == c);
  c.reveal_mut()[31] ^= 1;
  CHECK_FALSE(a == c);
}

TEST_CASE("SecretBytes moves ownership", "[secret]") {
  auto a = SecretBytes<16>::random();
  auto copy = a.clone();
  SecretBytes<16> b = std::move(a);
  CHECK(b == copy);
  static_assert(!std::is_copy_constructible_v<SecretBytes<16>>);
  static_assert(!std::is_copy_assignable_v<SecretBytes<16>>);
  static_assert(std::is_nothrow_move_constructible_v<SecretBytes<16>>);
}

TEST_CASE("constant_time_equal compares length and content", "[secret]") {
  const std::uint8_t x[3] = {1, 2, 3};
  const std::uint8_t y[3] = {1, 2, 4};
  CHECK(sluis::crypto::constant_time_equal(x, x));
  CHECK_FALSE(sluis::crypto::constant_time_equal(x, y));
  CHECK_FALSE(sluis::crypto::constant_time_equal(std::span(x, 2), std::span(x, 3)));
}
