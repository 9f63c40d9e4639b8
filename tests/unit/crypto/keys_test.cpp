// Key hierarchy: sub-key derivation, KEK and data-key wrapping, rotation, the KeyRing, and
// crypto-shredding, plus known-answer vectors.
#include "sluis/crypto/keys.hpp"

#include "sluis/crypto/detail/known_answer.hpp"
#include "sluis/crypto/encoding.hpp"

#include "vectors.hpp"

#include <catch2/catch.hpp>
#include <sodium.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace sc = sluis::crypto;
using sc::Errc;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(const std::string& s) {
  // from_hex("") passes a null pointer to libsodium (UBSan aborts); an empty value is no bytes.
  if (s.empty()) return {};
  auto r = sc::from_hex(s);
  REQUIRE(r.has_value());
  return *r;
}

template <std::size_t N> std::array<std::uint8_t, N> fixed(const Bytes& b) {
  REQUIRE(b.size() == N);
  std::array<std::uint8_t, N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

template <class T> Errc errc_of(const sc::Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().category() == sc::crypto_category());
  return static_cast<Errc>(r.error().value());
}

Errc errc_named(const std::string& name) {
  static const std::map<std::string, Errc> kNames = {
      {"authentication_failed", Errc::authentication_failed},
      {"wrong_key_version", Errc::wrong_key_version},
      {"unsupported_format", Errc::unsupported_format},
      {"truncated", Errc::truncated},
      {"malformed", Errc::malformed},
  };
  auto it = kNames.find(name);
  REQUIRE(it != kNames.end());
  return it->second;
}

std::uint32_t u32(const std::string& s) {
  return static_cast<std::uint32_t>(std::stoul(s));
}

constexpr sc::KeyPurpose kAllPurposes[] = {
    sc::KeyPurpose::database,         sc::KeyPurpose::keystore,
    sc::KeyPurpose::identifier_index, sc::KeyPurpose::partner_pseudonym,
    sc::KeyPurpose::audit_pseudonym,  sc::KeyPurpose::audit_signing,
    sc::KeyPurpose::kek_wrapping,     sc::KeyPurpose::service_pseudonym_index,
    sc::KeyPurpose::audit_store,
};

// libsodium documents crypto_kdf_derive_from_key as BLAKE2b keyed with the master key, with
// salt = LE64(subkey_id) || 0^8 and personal = context || 0^8. Computed here through the generic
// hash API, not through crypto_kdf, as a cross-check of the construction we document.
Bytes blake2b_kdf(std::span<const std::uint8_t, 32> root, std::uint64_t id) {
  std::array<std::uint8_t, 16> salt{};
  for (std::size_t i = 0; i < 8; ++i)
    salt[i] = static_cast<std::uint8_t>(id >> (8 * i));
  std::array<std::uint8_t, 16> personal{};
  const std::string_view ctx = "sluis-v1";
  std::copy(ctx.begin(), ctx.end(), personal.begin());
  Bytes out(32);
  REQUIRE(crypto_generichash_blake2b_salt_personal(out.data(), out.size(), nullptr, 0, root.data(),
                                                   root.size(), salt.data(), personal.data()) == 0);
  return out;
}

Bytes to_bytes(std::span<const std::uint8_t> s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("derive_subkey is deterministic and separates purposes and roots", "[keys]") {
  const auto root = sc::RootKey::random();
  const auto other_root = sc::RootKey::random();
  std::set<Bytes> seen;
  for (auto p : kAllPurposes) {
    const auto a = sc::derive_subkey(root, p);
    const auto b = sc::derive_subkey(root, p);
    CHECK(a == b);
    CHECK_FALSE(a == sc::derive_subkey(other_root, p));
    CHECK(to_bytes(a.reveal()) == blake2b_kdf(root.reveal(), static_cast<std::uint64_t>(p)));
    seen.insert(to_bytes(a.reveal()));
  }
  CHECK(seen.size() == std::size(kAllPurposes));
}

TEST_CASE("KEK wrap / unwrap round trip and every failure", "[keys]") {
  const auto root = sc::RootKey::random();
  const auto wrapping = sc::derive_subkey(root, sc::KeyPurpose::kek_wrapping);
  const auto kek = sc::KeyEncryptionKey::generate(sc::KekVersion{5});
  auto wrapped = sc::wrap_kek(wrapping, kek);
  REQUIRE(wrapped.has_value());
  CHECK(wrapped->version == sc::KekVersion{5});
  CHECK(wrapped->blob.size() == 1 + 24 + 32 + 16);
  CHECK(wrapped->blob[0] == 0x01);

  auto back = sc::unwrap_kek(wrapping, *wrapped);
  REQUIRE(back.has_value());
  CHECK(back->version == kek.version);
  CHECK(back->key == kek.key);

  SECTION("swapped version") {
    sc::WrappedKek w{sc::KekVersion{6}, wrapped->blob};
    CHECK(errc_of(sc::unwrap_kek(wrapping, w)) == Errc::authentication_failed);
  }
  SECTION("wrong wrapping key: another purpose or another root") {
    CHECK(errc_of(sc::unwrap_kek(sc::derive_subkey(root, sc::KeyPurpose::database), *wrapped)) ==
          Errc::authentication_failed);
    const auto other = sc::derive_subkey(sc::RootKey::random(), sc::KeyPurpose::kek_wrapping);
    CHECK(errc_of(sc::unwrap_kek(other, *wrapped)) == Errc::authentication_failed);
  }
  SECTION("every single-byte change") {
    for (std::size_t i = 0; i < wrapped->blob.size(); ++i) {
      sc::WrappedKek w{wrapped->version, wrapped->blob};
      w.blob[i] ^= 0x01;
      INFO("byte " << i);
      CHECK(errc_of(sc::unwrap_kek(wrapping, w)) ==
            (i == 0 ? Errc::unsupported_format : Errc::authentication_failed));
    }
  }
  SECTION("every truncation, and trailing bytes") {
    for (std::size_t n = 0; n < wrapped->blob.size(); ++n) {
      sc::WrappedKek w{wrapped->version,
                       Bytes(wrapped->blob.begin(), wrapped->blob.begin() + static_cast<long>(n))};
      INFO("length " << n);
      CHECK(errc_of(sc::unwrap_kek(wrapping, w)) == Errc::truncated);
    }
    sc::WrappedKek longer{wrapped->version, wrapped->blob};
    longer.blob.push_back(0);
    CHECK(errc_of(sc::unwrap_kek(wrapping, longer)) == Errc::malformed);
  }
}

TEST_CASE("data-key wrap / unwrap binds client, category, version and KEK version", "[keys]") {
  const auto kek = sc::KeyEncryptionKey::generate(sc::KekVersion{1});
  const auto client = sc::ClientId::random();
  const sc::DataKeyRef ref{client, "health", sc::DataKeyVersion{1}};
  const auto dk = sc::generate_data_key();
  auto wrapped = sc::wrap_data_key(kek, ref, dk);
  REQUIRE(wrapped.has_value());
  CHECK(wrapped->kek_version == sc::KekVersion{1});
  CHECK(wrapped->blob.size() == 73);

  auto back = sc::unwrap_data_key(kek, ref, *wrapped);
  REQUIRE(back.has_value());
  CHECK(*back == dk);

  SECTION("unwrap_data_key_into a reused key: success, and zeroised on failure") {
    sc::DataKey slot = sc::DataKey::random();
    REQUIRE(sc::unwrap_data_key_into(kek, ref, *wrapped, slot).has_value());
    CHECK(slot == dk);
    const sc::DataKeyRef other{client, "housing", ref.version};
    CHECK(errc_of(sc::unwrap_data_key_into(kek, other, *wrapped, slot)) ==
          Errc::authentication_failed);
    CHECK(slot == sc::DataKey{});
    slot = sc::DataKey::random();
    const auto kek2 = sc::KeyEncryptionKey::generate(sc::KekVersion{2});
    CHECK(errc_of(sc::unwrap_data_key_into(kek2, ref, *wrapped, slot)) == Errc::wrong_key_version);
    CHECK(slot == sc::DataKey{});
  }
  SECTION("moved to another client") {
    auto other = client;
    other.bytes[3] ^= 1;
    CHECK(errc_of(sc::unwrap_data_key(kek, {other, ref.category, ref.version}, *wrapped)) ==
          Errc::authentication_failed);
  }
  SECTION("moved to another category") {
    CHECK(errc_of(sc::unwrap_data_key(kek, {client, "housing", ref.version}, *wrapped)) ==
          Errc::authentication_failed);
    CHECK(errc_of(sc::unwrap_data_key(kek, {client, "", ref.version}, *wrapped)) ==
          Errc::authentication_failed);
  }
  SECTION("moved to another data-key version") {
    CHECK(errc_of(sc::unwrap_data_key(kek, {client, ref.category, sc::DataKeyVersion{2}},
                                      *wrapped)) == Errc::authentication_failed);
  }
  SECTION("KEK of another version: refused before the AEAD runs") {
    const auto kek2 = sc::KeyEncryptionKey::generate(sc::KekVersion{2});
    CHECK(errc_of(sc::unwrap_data_key(kek2, ref, *wrapped)) == Errc::wrong_key_version);
  }
  SECTION("same KEK bytes relabelled as another version: the AD binds the KEK version") {
    const sc::KeyEncryptionKey relabelled{sc::KekVersion{2}, kek.key.clone()};
    const sc::WrappedDataKey w{sc::KekVersion{2}, wrapped->blob};
    CHECK(errc_of(sc::unwrap_data_key(relabelled, ref, w)) == Errc::authentication_failed);
  }
  SECTION("wrong KEK with the right version") {
    const auto wrong = sc::KeyEncryptionKey::generate(sc::KekVersion{1});
    CHECK(errc_of(sc::unwrap_data_key(wrong, ref, *wrapped)) == Errc::authentication_failed);
  }
  SECTION("every single-byte change and every truncation") {
    for (std::size_t i = 0; i < wrapped->blob.size(); ++i) {
      sc::WrappedDataKey w{wrapped->kek_version, wrapped->blob};
      w.blob[i] ^= 0x80;
      INFO("byte " << i);
      CHECK(errc_of(sc::unwrap_data_key(kek, ref, w)) ==
            (i == 0 ? Errc::unsupported_format : Errc::authentication_failed));
    }
    for (std::size_t n = 0; n < wrapped->blob.size(); ++n) {
      const Bytes prefix(wrapped->blob.begin(), wrapped->blob.begin() + static_cast<long>(n));
      sc::WrappedDataKey w{wrapped->kek_version, prefix};
      INFO("length " << n);
      CHECK(errc_of(sc::unwrap_data_key(kek, ref, w)) == Errc::truncated);
    }
  }
  SECTION("over-long category") {
    const std::string long_cat(sc::kMaxNamePart + 1, 'c');
    CHECK(errc_of(sc::wrap_data_key(kek, {client, long_cat, ref.version}, dk)) ==
          Errc::invalid_argument);
    CHECK(errc_of(sc::unwrap_data_key(kek, {client, long_cat, ref.version}, *wrapped)) ==
          Errc::invalid_argument);
  }
}

TEST_CASE("KeyRing: highest version is current, find and retire", "[keys]") {
  sc::KeyRing ring;
  CHECK(errc_of(ring.current()) == Errc::key_not_found);
  CHECK(ring.versions().empty());
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{2}));
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{7}));
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{4}));
  auto cur = ring.current();
  REQUIRE(cur.has_value());
  CHECK((*cur)->version == sc::KekVersion{7});
  CHECK(ring.versions() ==
        std::vector<sc::KekVersion>{sc::KekVersion{2}, sc::KekVersion{4}, sc::KekVersion{7}});
  auto found = ring.find(sc::KekVersion{4});
  REQUIRE(found.has_value());
  CHECK((*found)->version == sc::KekVersion{4});
  CHECK(errc_of(ring.find(sc::KekVersion{5})) == Errc::key_not_found);

  // Replacing a version keeps one entry, holding the new key.
  auto replacement = sc::KeyEncryptionKey::generate(sc::KekVersion{4});
  auto replacement_key = replacement.key.clone();
  ring.add(std::move(replacement));
  CHECK(ring.versions().size() == 3);
  CHECK((*ring.find(sc::KekVersion{4}))->key == replacement_key);

  ring.retire(sc::KekVersion{7});
  CHECK((*ring.current())->version == sc::KekVersion{4});
  ring.retire(sc::KekVersion{99});  // unknown: no effect
  CHECK(ring.versions().size() == 2);
  ring.retire(sc::KekVersion{2});
  ring.retire(sc::KekVersion{4});
  CHECK(errc_of(ring.current()) == Errc::key_not_found);
}

TEST_CASE("rotation: rewrap under a new KEK, fields untouched, old KEK retired", "[keys]") {
  const auto root = sc::RootKey::random();
  const auto wrapping = sc::derive_subkey(root, sc::KeyPurpose::kek_wrapping);
  sc::KeyRing ring;
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{1}));

  // A client's health data key, wrapped under KEK v1, and a field sealed under it.
  const auto client = sc::ClientId::random();
  const sc::DataKeyRef ref{client, "health", sc::DataKeyVersion{1}};
  const auto fragment = sc::FragmentId::random();
  const sc::FieldContext ctx{fragment, "diagnosis", "health", client, ref.version};
  sc::WrappedDataKey stored_v1;
  std::vector<std::uint8_t> field;
  {
    const auto dk = sc::generate_data_key();
    auto w = sc::wrap_data_key(**ring.current(), ref, dk);
    REQUIRE(w.has_value());
    stored_v1 = *w;
    const std::string_view text = "confidential";
    auto s =
        sc::seal_field(dk, ctx, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    REQUIRE(s.has_value());
    field = *s;
  }
  auto wrapped_kek_v1 = sc::wrap_kek(wrapping, **ring.find(sc::KekVersion{1}));
  REQUIRE(wrapped_kek_v1.has_value());

  // Rotate: add KEK v2, rewrap, retire v1.
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{2}));
  REQUIRE((*ring.current())->version == sc::KekVersion{2});
  auto stored_v2 =
      sc::rewrap_data_key(**ring.find(sc::KekVersion{1}), **ring.current(), ref, stored_v1);
  REQUIRE(stored_v2.has_value());
  CHECK(stored_v2->kek_version == sc::KekVersion{2});
  CHECK(stored_v2->blob != stored_v1.blob);
  ring.retire(sc::KekVersion{1});

  // The field, never re-encrypted, opens with the data key unwrapped under v2.
  auto dk = sc::unwrap_data_key(**ring.current(), ref, *stored_v2);
  REQUIRE(dk.has_value());
  auto opened = sc::open_field(*dk, ctx, field);
  REQUIRE(opened.has_value());
  CHECK(std::string(opened->begin(), opened->end()) == "confidential");

  // The old wrapped copy no longer unwraps with anything the ring holds.
  CHECK(errc_of(ring.find(stored_v1.kek_version)) == Errc::key_not_found);
  for (auto v : ring.versions()) {
    CHECK(errc_of(sc::unwrap_data_key(**ring.find(v), ref, stored_v1)) == Errc::wrong_key_version);
  }
  // Rewrapping with the wrong `from` is refused and produces nothing.
  CHECK(errc_of(sc::rewrap_data_key(**ring.current(), **ring.current(), ref, stored_v1)) ==
        Errc::wrong_key_version);
  // The wrapped KEK v1 still unwraps under the root (it is the store's job to delete it).
  CHECK(sc::unwrap_kek(wrapping, *wrapped_kek_v1).has_value());
}

TEST_CASE("crypto-shredding: once a client's wrapped data keys are gone nothing opens", "[keys]") {
  // A miniature key store: (client, category, version) -> wrapped data key, like the store's table.
  using Slot = std::tuple<sc::ClientId, std::string, std::uint32_t>;
  std::map<Slot, sc::WrappedDataKey> keystore;
  sc::KeyRing ring;
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{1}));
  ring.add(sc::KeyEncryptionKey::generate(sc::KekVersion{2}));

  const auto erased = sc::ClientId::random();
  const auto kept = sc::ClientId::random();
  struct SealedField {
    sc::FieldContext ctx;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<SealedField> fields;
  const std::string_view categories[] = {"contact", "health", "addiction"};
  for (const auto& client : {erased, kept}) {
    for (auto cat : categories) {
      const sc::DataKeyRef ref{client, cat, sc::DataKeyVersion{1}};
      const auto dk = sc::generate_data_key();
      auto w = sc::wrap_data_key(**ring.current(), ref, dk);
      REQUIRE(w.has_value());
      keystore.emplace(Slot{client, std::string(cat), 1}, *w);
      const sc::FieldContext ctx{sc::FragmentId::random(), "note", cat, client, ref.version};
      const std::uint8_t plain[] = {'s', 'e', 'c', 'r', 'e', 't'};
      auto s = sc::seal_field(dk, ctx, plain);
      REQUIRE(s.has_value());
      fields.push_back({ctx, *s});
    }
  }

  // Erase the client: delete every wrapped data key of theirs. KEKs and fields stay.
  std::erase_if(keystore, [&](const auto& e) { return std::get<0>(e.first) == erased; });
  REQUIRE(keystore.size() == std::size(categories));

  for (const auto& f : fields) {
    const bool is_erased = f.ctx.client == erased;
    // The store finds nothing under the erased client's slot.
    const auto slot = keystore.find(Slot{f.ctx.client, std::string(f.ctx.category), 1});
    CHECK((slot == keystore.end()) == is_erased);
    if (!is_erased) {
      auto dk =
          sc::unwrap_data_key(**ring.find(slot->second.kek_version),
                              {f.ctx.client, f.ctx.category, f.ctx.key_version}, slot->second);
      REQUIRE(dk.has_value());
      CHECK(sc::open_field(*dk, f.ctx, f.bytes).has_value());
      continue;
    }
    // Every remaining wrapped key, under every KEK, claimed for the erased client's slot: all
    // fail cleanly, and no key they yield (none) opens the field.
    for (const auto& [other_slot, wrapped] : keystore) {
      for (auto v : ring.versions()) {
        auto dk = sc::unwrap_data_key(**ring.find(v),
                                      {f.ctx.client, f.ctx.category, f.ctx.key_version}, wrapped);
        const Errc e = errc_of(dk);
        CHECK((e == Errc::authentication_failed || e == Errc::wrong_key_version));
      }
      // Even unwrapped under its rightful slot, another client's key does not open the field.
      auto theirs = sc::unwrap_data_key(
          **ring.find(wrapped.kek_version),
          {std::get<0>(other_slot), std::get<1>(other_slot), sc::DataKeyVersion{1}}, wrapped);
      REQUIRE(theirs.has_value());
      CHECK(errc_of(sc::open_field(*theirs, f.ctx, f.bytes)) == Errc::authentication_failed);
    }
    // And a data key guessed at random, or an empty "wrapped key", fails cleanly too.
    CHECK(errc_of(sc::open_field(sc::generate_data_key(), f.ctx, f.bytes)) ==
          Errc::authentication_failed);
    CHECK(errc_of(sc::unwrap_data_key(
              **ring.current(), {f.ctx.client, f.ctx.category, f.ctx.key_version},
              sc::WrappedDataKey{sc::KekVersion{2}, {}})) == Errc::truncated);
  }
}

TEST_CASE("key-hierarchy known-answer vectors (keys_v1.vec)", "[keys][vectors]") {
  const auto records = sluis::test::load_vectors("keys_v1.vec");
  std::map<std::string, int> ops;
  for (const auto& r : records) {
    INFO("vector '" << r.at("name") << "' at line " << r.line);
    const std::string op = r.at("op");
    ++ops[op];
    if (op == "derive") {
      const auto root = sc::RootKey::copy_of(fixed<32>(hex(r.at("root"))));
      const auto purpose = static_cast<sc::KeyPurpose>(std::stoull(r.at("purpose")));
      const auto sub = sc::derive_subkey(root, purpose);
      CHECK(sc::to_hex(sub.reveal()) == r.at("subkey"));
      CHECK(to_bytes(sub.reveal()) ==
            blake2b_kdf(root.reveal(), static_cast<std::uint64_t>(purpose)));
    } else if (op == "wrap_kek" || op == "unwrap_kek") {
      const auto wrapping = sc::SubKey::copy_of(fixed<32>(hex(r.at("wrapping"))));
      const sc::KekVersion version{u32(r.at("kek_version"))};
      const sc::WrappedKek wrapped{version, hex(r.at("blob"))};
      if (op == "wrap_kek") {
        const sc::KeyEncryptionKey kek{version,
                                       sc::KekSecret::copy_of(fixed<32>(hex(r.at("kek"))))};
        auto w = sc::detail::wrap_kek_with_nonce(wrapping, kek, fixed<24>(hex(r.at("nonce"))));
        REQUIRE(w.has_value());
        CHECK(sc::to_hex(w->blob) == r.at("blob"));
        auto back = sc::unwrap_kek(wrapping, wrapped);
        REQUIRE(back.has_value());
        CHECK(back->key == kek.key);
      } else {
        CHECK(errc_of(sc::unwrap_kek(wrapping, wrapped)) == errc_named(r.at("expect")));
      }
    } else if (op == "wrap_dek" || op == "unwrap_dek") {
      const sc::KeyEncryptionKey kek{sc::KekVersion{u32(r.at("kek_version"))},
                                     sc::KekSecret::copy_of(fixed<32>(hex(r.at("kek"))))};
      const std::string category = r.at("category");
      const sc::DataKeyRef ref{sc::ClientId::from(fixed<16>(hex(r.at("client")))), category,
                               sc::DataKeyVersion{u32(r.at("key_version"))}};
      const sc::WrappedDataKey wrapped{sc::KekVersion{u32(r.at("blob_kek_version"))},
                                       hex(r.at("blob"))};
      if (op == "wrap_dek") {
        const auto dk = sc::DataKey::copy_of(fixed<32>(hex(r.at("data_key"))));
        auto w = sc::detail::wrap_data_key_with_nonce(kek, ref, dk, fixed<24>(hex(r.at("nonce"))));
        REQUIRE(w.has_value());
        CHECK(sc::to_hex(w->blob) == r.at("blob"));
        auto back = sc::unwrap_data_key(kek, ref, wrapped);
        REQUIRE(back.has_value());
        CHECK(*back == dk);
      } else {
        CHECK(errc_of(sc::unwrap_data_key(kek, ref, wrapped)) == errc_named(r.at("expect")));
      }
    } else {
      FAIL("unknown op " << op);
    }
  }
  CHECK(ops["derive"] >= 9);
  CHECK(ops["unwrap_kek"] >= 5);
  CHECK(ops["unwrap_dek"] >= 8);
}
