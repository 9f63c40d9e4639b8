// The caseload and its labels (domain/caseload.hpp) on the SQLCipher store: paging, search by
// the keyed blind index, partner isolation, and labels sealed at rest (page scans).
#include "engines.hpp"

#include "sluis/domain/caseload.hpp"

#include <set>

namespace sluis::gateway {}
namespace sluis::store {}
namespace sluis::domain {}
using namespace sluis::store;
using namespace sluis::domain;
using namespace sluis::gateway::testing;
using sluis::crypto::IdentifierScheme;
using sluis::crypto::KeyPurpose;

namespace {

/// Five clients of the OCMW on an engine (one of SLUIS_STORAGE_ENGINES).
template <class Engine = SqlCipherEngine> struct Clients {
  DomainFixture<Engine> f;
  std::vector<std::string> pseudonyms;
  std::vector<ClientId> ids;
  Clients() {
    f.add_sector();
    auto reg = f.registry();
    for (int i = 0; i < 5; ++i) {
      auto r = reg.register_identified("ocmw-brussel", IdentifierScheme::case_number,
                                       "CASE-" + std::to_string(i));
      REQUIRE(r);
      pseudonyms.push_back(r->pseudonym);
      ids.push_back(reg.resolve("ocmw-brussel", r->pseudonym).value());
    }
  }
  std::set<std::string> found(std::string_view partner, std::string text, LabelMatch match) {
    CaseloadQuery q;
    q.limit = 200;
    q.search = std::move(text);
    q.match = match;
    auto page = Caseload(f.storage()).page(partner, q);
    REQUIRE(page);
    std::set<std::string> out;
    for (const auto& e : page->entries)
      out.insert(e.pseudonym);
    return out;
  }
};

}  // namespace

TEST_CASE("labels are checked and folded for search", "[caseload]") {
  CHECK(checked_label("  KV 2024  ") == std::string("KV 2024"));
  CHECK_FALSE(checked_label(""));
  CHECK_FALSE(checked_label("   "));
  CHECK_FALSE(checked_label(std::string(41, 'a')));
  CHECK(checked_label(std::string(40, 'a')));
  CHECK(checked_label("Élodie"));  // 6 code points, 7 bytes
  CHECK_FALSE(checked_label("a\x01"
                            "b"));             // control
  CHECK_FALSE(checked_label("a\x7f"));         // DEL
  CHECK_FALSE(checked_label("\xc2\x85"));      // C1 control (NEL)
  CHECK_FALSE(checked_label("\xff"));          // not UTF-8
  CHECK_FALSE(checked_label("\xc0\xaf"));      // overlong
  CHECK_FALSE(checked_label("\xed\xa0\x80"));  // surrogate
  CHECK(search_form("KV  2024-A") == "kv 2024-a");
}

TEMPLATE_TEST_CASE("a caseload pages in a stable order and carries each partner's own labels",
                   "[caseload]", SLUIS_STORAGE_ENGINES) {
  Clients<TestType> c;
  Caseload caseload(c.f.storage());
  for (std::size_t i = 0; i < c.ids.size(); ++i) {
    REQUIRE(caseload.set_label("ocmw-brussel", c.ids[i], "Label " + std::to_string(i)));
  }
  std::vector<std::string> seen;
  CaseloadQuery q;
  q.limit = 2;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = caseload.page("ocmw-brussel", q);
    REQUIRE(page);
    CHECK(page->entries.size() <= 2);
    for (const auto& e : page->entries) {
      seen.push_back(e.pseudonym);
      REQUIRE(e.label);
      CHECK(e.label->starts_with("Label "));
    }
    if (!page->next) break;
    q.after = page->next;
  }
  CHECK(seen.size() == 5);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 5);
  // The CAW has no relationship: no rows, and it cannot label the OCMW's client.
  auto caw = caseload.page("caw-brussel", CaseloadQuery{});
  REQUIRE(caw);
  CHECK(caw->entries.empty());
  CHECK(caseload.set_label("caw-brussel", c.ids[0], "Mine") == Errc::not_found);
  CHECK(caseload.label("caw-brussel", c.ids[0]).error() == Errc::not_found);
  CHECK(caseload.label("ocmw-brussel", c.ids[0]).value() == std::string("Label 0"));
  // Limits outside 1..200 are refused.
  CaseloadQuery bad;
  bad.limit = 0;
  CHECK(caseload.page("ocmw-brussel", bad).error() == Errc::invalid_argument);
  bad.limit = 201;
  CHECK(caseload.page("ocmw-brussel", bad).error() == Errc::invalid_argument);
}

TEMPLATE_TEST_CASE("search by label: exact and prefix, per partner, following changes",
                   "[caseload]", SLUIS_STORAGE_ENGINES) {
  Clients<TestType> c;
  Caseload caseload(c.f.storage());
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[0], "KV 2024-17"));
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[1], "KV 2024-170"));
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[2], "Élodie"));
  const std::set<std::string> both{c.pseudonyms[0], c.pseudonyms[1]};
  CHECK(c.found("ocmw-brussel", "kv", LabelMatch::prefix) == both);
  CHECK(c.found("ocmw-brussel", "KV  2024-17", LabelMatch::prefix) == both);
  CHECK(c.found("ocmw-brussel", "KV 2024-17", LabelMatch::exact) ==
        std::set<std::string>{c.pseudonyms[0]});
  CHECK(c.found("ocmw-brussel", "KV 2024-1", LabelMatch::exact).empty());
  CHECK(c.found("ocmw-brussel", "Élo", LabelMatch::prefix) ==
        std::set<std::string>{c.pseudonyms[2]});
  CHECK(c.found("caw-brussel", "kv", LabelMatch::prefix).empty());
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[1], "HB"));
  CHECK(c.found("ocmw-brussel", "kv", LabelMatch::prefix) ==
        std::set<std::string>{c.pseudonyms[0]});
  REQUIRE(caseload.clear_label("ocmw-brussel", c.ids[0]));
  CHECK(c.found("ocmw-brussel", "kv", LabelMatch::prefix).empty());
  CHECK_FALSE(caseload.label("ocmw-brussel", c.ids[0]).value());
}

TEST_CASE("a label is sealed at rest, its index padded, and gone with the client",
          "[caseload][at-rest]") {
  Clients<> c;
  Caseload caseload(c.f.storage());
  constexpr std::string_view kCanary = "CANARY-LABEL-9q";
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[0], kCanary));
  REQUIRE(caseload.set_label("ocmw-brussel", c.ids[1], "x"));
  const auto key = sluis::crypto::derive_subkey(c.f.root, KeyPurpose::database);
  auto pages = decrypt_pages(read_file(c.f.options.data_path), key, false);
  const auto wal = decrypt_pages(read_file(c.f.options.data_path.string() + "-wal"), key, true);
  pages.insert(pages.end(), wal.begin(), wal.end());
  REQUIRE_FALSE(pages.empty());
  CHECK_FALSE(contains(pages, kCanary));
  CHECK_FALSE(contains(pages, "canary-label"));  // not its search form either
  // Every label has the same number of tokens, whatever its length.
  {
    RawDb raw(c.f.options.data_path, &key);
    const auto long_one =
        raw.column("SELECT token FROM caseload_label_tokens WHERE client_id = ?1", c.ids[0].view());
    const auto short_one =
        raw.column("SELECT token FROM caseload_label_tokens WHERE client_id = ?1", c.ids[1].view());
    CHECK(long_one.size() == sluis::domain::kMaxLabelCodePoints + 1);
    CHECK(short_one.size() == long_one.size());
  }
  // Erasing the client removes its label and tokens.
  auto reg = c.f.registry();
  REQUIRE(reg.erase_client(c.ids[0]));
  RawDb raw(c.f.options.data_path, &key);
  CHECK(raw.column("SELECT token FROM caseload_label_tokens WHERE client_id = ?1", c.ids[0].view())
            .empty());
  CHECK(raw.column("SELECT label_sealed FROM caseload_labels WHERE client_id = ?1", c.ids[0].view())
            .empty());
}
