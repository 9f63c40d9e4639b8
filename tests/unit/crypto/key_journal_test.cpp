// Key journal sealing: round trip, and every way an entry or a wrapped secret must fail to open.
#include "sluis/crypto/key_journal.hpp"

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <string>
#include <vector>

namespace sc = sluis::crypto;

namespace {

sc::ClientId client_of(std::uint8_t b) {
  sc::ClientId c;
  c.bytes.fill(b);
  return c;
}

bool same(const sc::DataKey& a, const sc::DataKey& b) {
  return std::equal(a.reveal().begin(), a.reveal().end(), b.reveal().begin());
}

}  // namespace

TEST_CASE("a journal entry opens with its key pair and its name only", "[keys][journal]") {
  const auto pair = sc::JournalKeyPair::generate();
  const auto key = sc::generate_data_key();
  const sc::DataKeyRef ref{client_of(1), "income", sc::DataKeyVersion{1}};
  auto sealed = sc::seal_journal_entry(pair.public_key, ref, key);
  REQUIRE(sealed);
  CHECK(sealed->size() == sc::kJournalEntrySize);
  auto opened = sc::open_journal_entry(pair.public_key, pair.secret_key, ref, *sealed);
  REQUIRE(opened);
  CHECK(same(*opened, key));

  // Moved to another client, category or version: refused.
  for (const sc::DataKeyRef& other :
       {sc::DataKeyRef{client_of(2), "income", sc::DataKeyVersion{1}},
        sc::DataKeyRef{client_of(1), "housing", sc::DataKeyVersion{1}},
        sc::DataKeyRef{client_of(1), "income", sc::DataKeyVersion{2}}}) {
    auto r = sc::open_journal_entry(pair.public_key, pair.secret_key, other, *sealed);
    REQUIRE_FALSE(r);
    CHECK(r.error() == sc::Errc::authentication_failed);
  }
  // Another snapshot's key pair: refused.
  const auto other_pair = sc::JournalKeyPair::generate();
  auto wrong = sc::open_journal_entry(other_pair.public_key, other_pair.secret_key, ref, *sealed);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == sc::Errc::authentication_failed);
  // Any flipped byte: refused. Wrong sizes: truncated / malformed.
  for (std::size_t n = 0; n < sealed->size(); n += 7) {
    auto bad = *sealed;
    bad[n] ^= 0x01;
    CHECK_FALSE(sc::open_journal_entry(pair.public_key, pair.secret_key, ref, bad));
  }
  auto shorter = *sealed;
  shorter.pop_back();
  CHECK(sc::open_journal_entry(pair.public_key, pair.secret_key, ref, shorter).error() ==
        sc::Errc::truncated);
  auto longer = *sealed;
  longer.push_back(0);
  CHECK(sc::open_journal_entry(pair.public_key, pair.secret_key, ref, longer).error() ==
        sc::Errc::malformed);
}

TEST_CASE("a wrapped journal secret opens under its wrapping key and public key only",
          "[keys][journal]") {
  const auto wrapping = sc::SubKey::random();
  const auto pair = sc::JournalKeyPair::generate();
  auto wrapped = sc::wrap_journal_secret(wrapping, pair);
  REQUIRE(wrapped);
  auto secret = sc::unwrap_journal_secret(wrapping, pair.public_key, *wrapped);
  REQUIRE(secret);
  CHECK(std::equal(secret->reveal().begin(), secret->reveal().end(),
                   pair.secret_key.reveal().begin()));

  const auto other_wrapping = sc::SubKey::random();
  CHECK(sc::unwrap_journal_secret(other_wrapping, pair.public_key, *wrapped).error() ==
        sc::Errc::authentication_failed);
  const auto other = sc::JournalKeyPair::generate();
  CHECK(sc::unwrap_journal_secret(wrapping, other.public_key, *wrapped).error() ==
        sc::Errc::authentication_failed);
  auto tampered = *wrapped;
  tampered.back() ^= 0x80;
  CHECK(sc::unwrap_journal_secret(wrapping, pair.public_key, tampered).error() ==
        sc::Errc::authentication_failed);
  auto format = *wrapped;
  format[0] = 2;
  CHECK(sc::unwrap_journal_secret(wrapping, pair.public_key, format).error() ==
        sc::Errc::unsupported_format);
  CHECK(sc::unwrap_journal_secret(wrapping, pair.public_key,
                                  std::span<const std::uint8_t>(wrapped->data(), 10))
            .error() == sc::Errc::truncated);
}
