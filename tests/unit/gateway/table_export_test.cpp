// The store's tables as engine-neutral rows (table_export.hpp): the key encoding round-trips and
// refuses what it did not write, the digest depends on every value and on the order, and the
// SQLCipher engine pages a table in key order giving every row once.
#include "gateway_fixture.hpp"

#include "sluis/store/table_export.hpp"

#include <catch2/catch.hpp>

using namespace sluis::gateway::testing;
using sluis::store::ExportRow;

namespace {

const sluis::store::ExportTable& table_named(std::string_view name) {
  for (const auto& t : sluis::store::export_tables()) {
    if (t.name == name) return t;
  }
  FAIL("no table " << name);
  throw std::logic_error("unreachable");
}

std::string digest_of(const std::vector<ExportRow>& rows) {
  sluis::store::ExportDigest d;
  for (const auto& r : rows)
    d.add(r);
  return d.hex();
}

}  // namespace

TEST_CASE("table export: a key of every type round-trips; a damaged one is refused",
          "[store][export]") {
  const ExportRow row{std::int64_t{-7}, std::string("ocmw-brussel"),
                      std::vector<std::uint8_t>{0, 1, 255}, std::monostate{}, std::string()};
  const auto key = sluis::store::encode_export_key(row, row.size());
  auto back = sluis::store::decode_export_key(key);
  REQUIRE(back);
  CHECK(*back == row);
  CHECK(sluis::store::encode_export_key(row, 2).size() < key.size());
  auto truncated = key;
  truncated.pop_back();
  CHECK_FALSE(sluis::store::decode_export_key(truncated));
  auto unknown = key;
  unknown[0] = 9;
  CHECK_FALSE(sluis::store::decode_export_key(unknown));
}

TEST_CASE("table export: the digest changes with any value, with NULL against empty, and with "
          "the order",
          "[store][export]") {
  const std::vector<ExportRow> rows{{std::string("a"), std::int64_t{1}},
                                    {std::string("b"), std::int64_t{2}}};
  CHECK(digest_of(rows) == digest_of(rows));
  CHECK(digest_of(rows) != digest_of({rows[1], rows[0]}));
  CHECK(digest_of(rows) != digest_of({rows[0], {std::string("b"), std::int64_t{3}}}));
  CHECK(digest_of({{std::monostate{}}}) != digest_of({{std::string()}}));
  CHECK(digest_of({{std::string("ab")}, {std::string("c")}}) !=
        digest_of({{std::string("a")}, {std::string("bc")}}));
}

TEST_CASE("table export: the SQLCipher engine pages a table in byte-wise key order, every row "
          "once",
          "[store][export]") {
  StoreFixture f;
  auto r = f.registry();
  // Byte-wise, "a-org" < "ab-org" ('-' < 'b'), whatever a locale would say.
  for (const char* id : {"b-org", "a-org", "c-org", "ab-org", "z-org"}) {
    REQUIRE(r.add_partner(id, "ocmw", "Org"));
  }
  const auto& partners = table_named("partners");
  CHECK(f.store->count_rows(partners).value() == 5);
  std::vector<std::string> seen;
  ExportRow after;
  for (;;) {
    auto rows = f.store->export_rows(partners, after, 2);
    REQUIRE(rows);
    for (const auto& row : *rows)
      seen.push_back(std::get<std::string>(row[0]));
    if (rows->size() < 2) break;
    after.assign(rows->back().begin(), rows->back().begin() + 1);
  }
  CHECK(seen == std::vector<std::string>{"a-org", "ab-org", "b-org", "c-org", "z-org"});
  // A key of the wrong length is refused, not read as a prefix.
  const ExportRow two{std::string("a"), std::string("b")};
  CHECK_FALSE(f.store->export_rows(partners, two, 2));
  // Every table of the list exists in the engine's schema.
  for (const auto& t : sluis::store::export_tables()) {
    INFO(t.name);
    CHECK(f.store->count_rows(t));
    CHECK(f.store->export_rows(t, {}, 1));
  }
}
