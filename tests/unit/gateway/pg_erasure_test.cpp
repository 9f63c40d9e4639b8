// Erasure that stays real on PostgreSQL (issue 16): old dumps restored with pg_restore are erased
// again from the ledger at open, and once the KEK version they were wrapped under is destroyed
// their data keys open under nothing; rotation resumes, destruction waits, damage is refused.
#include "engines.hpp"

#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/keys.hpp"
#include "sluis/crypto/pseudonym.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::domain {}
using namespace sluis::store;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::KekVersion;

namespace {

using PgFixture = DomainFixture<PgEngine>;

ClientId register_case(PgFixture& f, std::string_view id) {
  auto reg = f.registry();
  auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number, id);
  REQUIRE(r);
  return reg.resolve("ocmw-brussel", r->pseudonym).value();
}

void add_housing(PgFixture& f, const ClientId& client, std::string_view street) {
  REQUIRE(f.dossiers().add_fragment(client, "ocmw-brussel", "w1", "housing",
                                    fields_of({{"street", std::string(street)}})));
}

/// The first field of the client's first fragment, read through `storage`.
Result<std::string> street_of(Storage& storage, const ClientId& client) {
  auto all = [](const FragmentMeta&) { return true; };
  auto d = Dossiers(storage).read_dossier(client, "ocmw-brussel", all);
  if (!d) return d.error();
  if (d->empty()) return make_error_code(Errc::not_found);
  return text_of(d->at(0).fields.at(0).value);
}

std::string pg_bin() {
  const char* bin = std::getenv("SLUIS_PG_BIN");
  return bin != nullptr ? bin : "/usr/lib/postgresql/15/bin";
}

/// pg_dump of the database into `file` (custom format), as an operator's nightly backup.
void pg_dump(const std::string& conninfo, const fs::path& file) {
  const std::string cmd =
      pg_bin() + "/pg_dump --format=custom --file=" + file.string() + " '" + conninfo + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

/// A new database with `file` restored into it by pg_restore: its conninfo.
std::string pg_restore(const fs::path& file) {
  const std::string conninfo = PgServer::instance().new_database();
  const std::string cmd = pg_bin() + "/pg_restore --no-owner --exit-on-error --dbname='" +
                          conninfo + "' " + file.string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  return conninfo;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::string as_text(const std::vector<std::uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

std::int64_t big_endian(const std::vector<std::uint8_t>& v) {
  REQUIRE(v.size() == 8);
  std::uint64_t n = 0;
  for (auto b : v)
    n = (n << 8U) | b;
  return static_cast<std::int64_t>(n);
}

/// The KEKs of a ring file, read as an outsider holding the root key would: its lines
/// ("kek VERSION CREATED HEX") unwrapped under the kek_wrapping sub-key.
std::vector<sluis::crypto::KeyEncryptionKey> keks_of_ring(const fs::path& ring,
                                                          const sluis::crypto::RootKey& root) {
  const auto wrapping = sluis::crypto::derive_subkey(root, sluis::crypto::KeyPurpose::kek_wrapping);
  std::vector<sluis::crypto::KeyEncryptionKey> out;
  std::istringstream in(read_text(ring));
  std::string line;
  REQUIRE(std::getline(in, line));
  CHECK(line == "sluis kek ring v1");
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kek, hex;
    std::uint32_t version = 0;
    std::int64_t created = 0;
    const bool parsed = static_cast<bool>(words >> kek >> version >> created >> hex);
    REQUIRE(parsed);
    auto blob = sluis::crypto::from_hex(hex);
    REQUIRE(blob);
    auto k = sluis::crypto::unwrap_kek(wrapping, {KekVersion{version}, std::move(*blob)});
    REQUIRE(k);
    out.push_back(std::move(*k));
  }
  return out;
}

/// The PostgreSQL engine on another database (a restored dump) with `options`.
Result<std::unique_ptr<sluis::pgstore::PgStorage>> open_on(sluis::pgstore::PgOptions options,
                                                           const std::string& conninfo,
                                                           const sluis::crypto::RootKey& root,
                                                           std::string& why) {
  options.conninfo = conninfo;
  options.inject_failure = {};
  options.application_name = "sluis-test-restored";
  why.clear();
  return sluis::pgstore::PgStorage::open(std::move(options), root, &why);
}

}  // namespace

TEST_CASE("postgresql: an old dump restored after an erasure is erased again from the ledger, "
          "and without it its keys open under no KEK left",
          "[postgresql][erasure]") {
  PgFixture f;
  f.add_sector();
  const ClientId a = register_case(f, "client-a");
  const ClientId b = register_case(f, "client-b");
  add_housing(f, a, "Rue Haute");
  add_housing(f, b, "Hoogstraat");
  const std::string tag_a =
      sluis::crypto::audit_pseudonym(f.storage().pseudonym_keys().audit_pseudonym, a);
  TempDir backups;

  // D1, the erasure of A, a rotation (A's keys are gone, so only B's are rewrapped), D2, and
  // the destruction of the version D1's keys are wrapped under.
  pg_dump(f.options.conninfo, backups / "d1.dump");
  REQUIRE(f.registry().erase_client(a));
  const std::string ledger = read_text(f.options.erasure_ledger_file);
  CHECK_THAT(ledger, Catch::Contains(tag_a));
  CHECK_THAT(ledger, !Catch::Contains("client-a"));  // a keyed tag, never the identifier
  auto rotation = f.store->rotate_kek();
  REQUIRE(rotation);
  CHECK(rotation->version == KekVersion{2});
  CHECK(rotation->created);
  CHECK(rotation->rewrapped >= 1);
  pg_dump(f.options.conninfo, backups / "d2.dump");
  fs::copy_file(f.options.kek_ring_file, backups / "ring-before-destroy");
  auto destroyed = f.store->destroy_kek(KekVersion{1});
  REQUIRE(destroyed);
  CHECK(destroyed->destroyed);
  CHECK(f.store->kek_versions() == std::vector<KekVersion>{KekVersion{2}});
  CHECK(street_of(f.storage(), b).value() == "Hoogstraat");
  std::string why;

  SECTION("(a) D2 restored: B reads, A is gone") {
    const auto d2 = pg_restore(backups / "d2.dump");
    auto s = open_on(f.options, d2, f.root, why);
    INFO(why);
    REQUIRE(s);
    CHECK(street_of(**s, b).value() == "Hoogstraat");
    CHECK(street_of(**s, a).error() == Errc::not_found);
    RawPg raw(d2);
    CHECK(raw.column("SELECT 1 FROM clients").size() == 1);
  }

  SECTION("(b) D1 restored with the ledger: A is erased again at open") {
    const auto d1 = pg_restore(backups / "d1.dump");
    {
      RawPg raw(d1);  // the dump holds A as it was
      CHECK(raw.column("SELECT 1 FROM clients WHERE tag = '" + tag_a + "'").size() == 1);
      CHECK_FALSE(raw.column("SELECT 1 FROM data_keys WHERE client_tag = '" + tag_a + "'").empty());
    }
    // With the ring as it is now, every key of D1 is under the destroyed version: the open
    // re-erases A first, then refuses with a sentence that names the version.
    auto refused = open_on(f.options, d1, f.root, why);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == Errc::key_unavailable);
    CHECK_THAT(why, Catch::Contains("KEK version 1") && Catch::Contains("destroyed"));
    {
      RawPg raw(d1);
      CHECK(raw.column("SELECT 1 FROM clients WHERE tag = '" + tag_a + "'").empty());
      CHECK(raw.column("SELECT 1 FROM data_keys WHERE client_tag = '" + tag_a + "'").empty());
      CHECK(raw.column("SELECT 1 FROM erasures WHERE tag = '" + tag_a + "'").size() == 1);
      CHECK(raw.column("SELECT 1 FROM key_erasures WHERE tag = '" + tag_a + "'").size() == 1);
      CHECK(raw.column("SELECT 1 FROM clients").size() == 1);
    }
    // With the ring as it was before the destruction (a ring backup kept too long), D1 opens:
    // B reads, and A stays erased because the ledger erased it.
    const auto d1_again = pg_restore(backups / "d1.dump");
    auto options = f.options;
    options.kek_ring_file = backups / "ring-before-destroy";
    auto s = open_on(options, d1_again, f.root, why);
    INFO(why);
    REQUIRE(s);
    CHECK(street_of(**s, b).value() == "Hoogstraat");
    CHECK(street_of(**s, a).error() == Errc::not_found);
  }

  SECTION("(c) D1 restored without the ledger: A's keys open under no KEK of the ring") {
    const auto d1 = pg_restore(backups / "d1.dump");
    TempDir lost;
    auto options = f.options;
    options.erasure_ledger_file = lost / "erasure-ledger";  // the ledger lost
    auto refused = open_on(options, d1, f.root, why);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == Errc::key_unavailable);
    CHECK_THAT(why, Catch::Contains("KEK version 1") &&
                        Catch::Contains(f.options.kek_ring_file.string()));
    // A is in the restored database, and its wrapped data keys are there; no KEK of the ring
    // opens them, whatever version it is presented as, while the destroyed version did.
    RawPg raw(d1);
    const std::string where =
        " FROM data_keys WHERE client_tag = '" + tag_a + "' ORDER BY category, version";
    const auto clients = raw.column("SELECT client_id" + where);
    const auto categories = raw.column("SELECT category" + where);
    const auto versions = raw.column("SELECT version" + where);
    const auto kek_versions = raw.column("SELECT kek_version" + where);
    const auto wrapped = raw.column("SELECT wrapped" + where);
    REQUIRE_FALSE(wrapped.empty());
    const auto ring_now = keks_of_ring(f.options.kek_ring_file, f.root);
    REQUIRE(ring_now.size() == 1);
    const auto ring_before = keks_of_ring(backups / "ring-before-destroy", f.root);
    REQUIRE(ring_before.size() == 2);
    for (std::size_t k = 0; k < wrapped.size(); ++k) {
      CHECK(big_endian(kek_versions[k]) == 1);
      const auto client = ClientId::from(std::span<const std::uint8_t, 16>(clients[k].data(), 16));
      const std::string category = as_text(categories[k]);
      const sluis::crypto::DataKeyRef ref{
          client, category,
          sluis::crypto::DataKeyVersion{static_cast<std::uint32_t>(big_endian(versions[k]))}};
      for (const auto& kek : ring_now) {
        CHECK_FALSE(sluis::crypto::unwrap_data_key(kek, ref, {kek.version, wrapped[k]}));
        CHECK_FALSE(sluis::crypto::unwrap_data_key(kek, ref, {KekVersion{1}, wrapped[k]}));
      }
      CHECK(sluis::crypto::unwrap_data_key(ring_before.at(0), ref, {KekVersion{1}, wrapped[k]}));
    }
  }
}

TEST_CASE("postgresql: an interrupted KEK rotation is resumed by the next, and the old version "
          "is not destroyed while data keys are wrapped under it",
          "[postgresql][erasure]") {
  PgFixture f;
  f.add_sector();
  std::vector<ClientId> clients;
  for (const char* id : {"rot-1", "rot-2", "rot-3"}) {
    clients.push_back(register_case(f, id));
    add_housing(f, clients.back(), id);
  }
  REQUIRE(f.store->count_data_keys(KekVersion{1}).value() == 3);
  // The current version is never destroyed.
  auto current = f.store->destroy_kek(KekVersion{1});
  REQUIRE(current);
  CHECK(current->is_current);
  CHECK_FALSE(current->destroyed);

  int batches = 0;
  f.options.inject_failure = [&](std::string_view step) {
    return step == "kek.rewrap" && ++batches == 2;
  };
  f.reopen();
  sluis::pgstore::KekRotationOptions one_at_a_time;
  one_at_a_time.batch_rows = 1;
  auto cut = f.store->rotate_kek(one_at_a_time);
  REQUIRE_FALSE(cut);
  CHECK(cut.error() == Errc::injected_failure);
  // The first batch committed, the second did not.
  CHECK(f.store->count_data_keys(KekVersion{2}).value() == 1);
  CHECK(f.store->count_data_keys(KekVersion{1}).value() == 2);
  auto in_use = f.store->destroy_kek(KekVersion{1});
  REQUIRE(in_use);
  CHECK_FALSE(in_use->destroyed);
  CHECK(in_use->still_wrapped == 2);
  CHECK(f.store->kek_versions().size() == 2);
  // Meanwhile reads work under both versions.
  for (const auto& c : clients)
    CHECK(street_of(f.storage(), c).has_value());

  auto resumed = f.store->rotate_kek(one_at_a_time);
  REQUIRE(resumed);
  CHECK(resumed->version == KekVersion{2});
  CHECK_FALSE(resumed->created);
  CHECK(resumed->rewrapped == 2);
  CHECK(f.store->count_data_keys(KekVersion{1}).value() == 0);
  auto done = f.store->destroy_kek(KekVersion{1});
  REQUIRE(done);
  CHECK(done->destroyed);
  CHECK_THAT(read_text(f.options.kek_ring_file), !Catch::Contains("\nkek 1 "));
  CHECK(f.store->destroy_kek(KekVersion{7}).error() == Errc::not_found);
  f.options.inject_failure = {};
  f.reopen();
  CHECK(f.store->kek_versions() == std::vector<KekVersion>{KekVersion{2}});
  for (const auto& c : clients)
    CHECK(street_of(f.storage(), c).has_value());
  // A new client's key is wrapped under the new version.
  const ClientId later = register_case(f, "rot-4");
  add_housing(f, later, "rot-4");
  CHECK(f.store->count_data_keys(KekVersion{2}).value() == 4);
}

TEST_CASE("postgresql: a damaged erasure ledger or KEK ring file refuses the open, naming the "
          "file and line, and changes nothing",
          "[postgresql][erasure]") {
  PgFixture f;
  f.add_sector();
  const ClientId gone = register_case(f, "to-erase");
  const ClientId kept = register_case(f, "to-keep");
  add_housing(f, kept, "Rue Haute");
  REQUIRE(f.registry().erase_client(gone));
  f.close();
  const auto ledger = f.options.erasure_ledger_file;
  const auto ring = f.options.kek_ring_file;
  const std::string good_ledger = read_text(ledger);
  const std::string good_ring = read_text(ring);
  std::string why;
  auto reopen = [&]() { return sluis::pgstore::PgStorage::open(f.options, f.root, &why); };

  SECTION("a line that is no tombstone") {
    write_text(ledger, good_ledger + "someone erased this by hand\n");
    auto r = reopen();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::file_damaged);
    CHECK_THAT(why, Catch::Contains(ledger.string()) && Catch::Contains("line 3"));
    CHECK(read_text(ledger) == good_ledger + "someone erased this by hand\n");
  }
  SECTION("a tombstone altered (its digest no longer matches)") {
    std::string altered = good_ledger;
    const auto at = altered.find('\n') + 1;  // the tag's first character
    altered[at + 2] = altered[at + 2] == 'a' ? 'b' : 'a';
    write_text(ledger, altered);
    auto r = reopen();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::file_damaged);
    CHECK_THAT(why, Catch::Contains("line 2") && Catch::Contains("digest"));
  }
  SECTION("a ring file line that is no KEK") {
    write_text(ring, good_ring + "kek two 0 00\n");
    auto r = reopen();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::file_damaged);
    CHECK_THAT(why, Catch::Contains(ring.string()) && Catch::Contains("line 3"));
    CHECK(read_text(ring) == good_ring + "kek two 0 00\n");
  }
  SECTION("a torn last ledger line (an append cut off by a crash) is left out and cut off") {
    write_text(ledger, good_ledger + "a1torn 17");
    auto r = reopen();
    INFO(why);
    REQUIRE(r);
    f.store = std::move(*r);
    // The next erasure's append starts a line of its own.
    REQUIRE(f.registry().erase_client(kept));
    f.close();
    const std::string after = read_text(ledger);
    CHECK_THAT(after, !Catch::Contains("a1torn"));
    CHECK(std::count(after.begin(), after.end(), '\n') == 3);
    f.reopen();
  }
  if (f.store == nullptr) {
    // Whatever was refused: the good files open, and the database was left as it was.
    write_text(ledger, good_ledger);
    write_text(ring, good_ring);
    f.reopen();
    CHECK(street_of(f.storage(), kept).value() == "Rue Haute");
    CHECK(street_of(f.storage(), gone).error() == Errc::not_found);
  }
}

TEST_CASE("postgresql: schema 7 moves the KEKs out of the database into the ring file",
          "[postgresql][erasure][migrations]") {
  PgFixture f;
  f.close();
  // A database and a machine as they were before schema 7: no ring file.
  fs::remove(f.options.kek_ring_file);
  f.options.conninfo = PgServer::instance().new_database();
  f.options.schema_version_limit = 6;
  f.reopen();
  f.add_sector();
  const ClientId c = register_case(f, "before-7");
  add_housing(f, c, "Rue Haute");
  {
    RawPg raw(f.options.conninfo);
    CHECK(raw.column("SELECT 1 FROM keks").size() == 1);
  }
  CHECK_FALSE(fs::exists(f.options.kek_ring_file));
  f.options.schema_version_limit = -1;
  f.reopen();
  CHECK(f.store->schema_version() == 7);
  RawPg raw(f.options.conninfo);
  CHECK(raw.column("SELECT 1 FROM keks").empty());
  CHECK(raw.column("SELECT 1 FROM kek_versions WHERE version = 1").size() == 1);
  CHECK(keks_of_ring(f.options.kek_ring_file, f.root).size() == 1);
  CHECK(street_of(f.storage(), c).value() == "Rue Haute");
  // A second node whose machine has no copy of the ring is refused, saying what to copy.
  auto options = f.options;
  TempDir elsewhere;
  options.kek_ring_file = elsewhere / "kek-ring";
  options.erasure_ledger_file = elsewhere / "erasure-ledger";
  std::string why;
  auto refused = sluis::pgstore::PgStorage::open(options, f.root, &why);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::key_unavailable);
  CHECK_THAT(why, Catch::Contains("KEK version 1") && Catch::Contains("copy the KEK ring file"));
}

TEST_CASE("postgresql: a node adds the erasures other nodes made to its own ledger when it opens",
          "[postgresql][erasure][nodes]") {
  PgFixture f;
  f.add_sector();
  const ClientId a = register_case(f, "erased-on-node-1");
  add_housing(f, a, "Rue Haute");
  const std::string tag_a =
      sluis::crypto::audit_pseudonym(f.storage().pseudonym_keys().audit_pseudonym, a);
  // Node 2 on another machine: a copy of the ring, a ledger of its own (none yet).
  TempDir machine2;
  fs::copy_file(f.options.kek_ring_file, machine2 / "kek-ring");
  auto options = f.options;
  options.kek_ring_file = machine2 / "kek-ring";
  options.erasure_ledger_file = machine2 / "erasure-ledger";
  REQUIRE(f.registry().erase_client(a));
  CHECK_FALSE(fs::exists(machine2 / "erasure-ledger"));
  std::string why;
  auto node2 = sluis::pgstore::PgStorage::open(options, f.root, &why);
  INFO(why);
  REQUIRE(node2);
  const std::string learned = read_text(machine2 / "erasure-ledger");
  CHECK_THAT(learned, Catch::StartsWith("sluis erasure ledger v1\n") && Catch::Contains(tag_a));
  // The line node 2 wrote is the one node 1 wrote (same tag, time, reason and digest).
  const std::string own = read_text(f.options.erasure_ledger_file);
  CHECK(learned == own);
}

TEST_CASE("postgresql: a ring-only rotation adds a version no key is wrapped under until the next "
          "run registers it and rewraps",
          "[postgresql][erasure][nodes]") {
  PgFixture f;
  f.add_sector();
  const ClientId c = register_case(f, "ring-only-1");
  add_housing(f, c, "Rue Haute");
  sluis::pgstore::KekRotationOptions ring_only;
  ring_only.ring_only = true;
  auto prepared = f.store->rotate_kek(ring_only);
  REQUIRE(prepared);
  CHECK(prepared->version == KekVersion{2});
  CHECK(prepared->created);
  CHECK_FALSE(prepared->registered);
  CHECK(prepared->rewrapped == 0);
  CHECK(keks_of_ring(f.options.kek_ring_file, f.root).size() == 2);
  // Until it is registered, new keys stay under version 1 (a node whose ring has not got
  // version 2 yet can read everything).
  const ClientId later = register_case(f, "ring-only-2");
  add_housing(f, later, "Hoogstraat");
  CHECK(f.store->count_data_keys(KekVersion{2}).value() == 0);
  {
    RawPg raw(f.options.conninfo);
    CHECK(raw.column("SELECT 1 FROM kek_versions WHERE version = 2").empty());
  }
  auto finished = f.store->rotate_kek();
  REQUIRE(finished);
  CHECK(finished->version == KekVersion{2});
  CHECK_FALSE(finished->created);
  CHECK(finished->registered);
  CHECK(finished->rewrapped == 2);
  CHECK(f.store->count_data_keys(KekVersion{1}).value() == 0);
  CHECK(street_of(f.storage(), later).value() == "Hoogstraat");
}
