// The console's own SQLCipher store: invitations and enrolment, sessions (idle and absolute
// limits, the bound on signed-out sessions), security events scoped to a partner.
#include "sluis/console/console_store.hpp"
#include "sluis/crypto/secret.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

using namespace sluis::console;
namespace fs = std::filesystem;

namespace {

struct TempStore {
  fs::path dir = fs::temp_directory_path() /
                 ("sluis-console-store-" + std::to_string(::getpid()) + "-" +
                  std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  sluis::crypto::RootKey root = sluis::crypto::RootKey::random();
  std::unique_ptr<ConsoleStore> store;
  TempStore() {
    fs::create_directories(dir);
    store = ConsoleStore::open(dir / "console.db", root);
  }
  ~TempStore() {
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  ConsoleAccount enrol(std::string_view partner, std::string_view worker, std::uint8_t id) {
    const auto invite = store->create_invite(partner, worker, ConsoleRole::worker, 1000);
    RegisteredCredential c;
    c.credential_id.assign(16, id);
    c.cose_key.assign(77, id);
    auto a = store->enrol(ConsoleStore::hash_token(invite.token), c, 1000);
    REQUIRE(a);
    return *a;
  }
};

}  // namespace

TEST_CASE("console store: a session ends after 15 idle minutes and after 10 hours at the latest",
          "[console][store]") {
  TempStore t;
  const auto a = t.enrol("ocmw-brussel", "wanda", 1);
  const std::string id = t.store->create_session(a.id, std::nullopt, 1000);
  CHECK(t.store->touch_session(id, 1000 + 14 * 60));
  // Kept alive by use every 14 minutes ...
  UnixSeconds now = 1000 + 14 * 60;
  while (now + 14 * 60 < 1000 + kSessionAbsolute.count()) {
    now += 14 * 60;
    REQUIRE(t.store->touch_session(id, now));
  }
  // ... but never past the absolute limit.
  CHECK_FALSE(t.store->touch_session(id, 1000 + kSessionAbsolute.count()));
  const std::string idle = t.store->create_session(a.id, std::nullopt, 5000);
  CHECK_FALSE(t.store->touch_session(idle, 5000 + kSessionIdle.count()));
}

TEST_CASE("console store: the idle time is written at most every 30 seconds, so a session never "
          "outlives 15 idle minutes",
          "[console][store]") {
  TempStore t;
  const auto a = t.enrol("ocmw-brussel", "wanda", 1);
  const std::string id = t.store->create_session(a.id, std::nullopt, 1000);
  // A use 10 s later is not written: the idle time still counts from 1000 ...
  REQUIRE(t.store->touch_session(id, 1000 + 10));
  CHECK_FALSE(t.store->touch_session(id, 1000 + kSessionIdle.count()));
  // ... a use 30 s or more after the last write is.
  const std::string other = t.store->create_session(a.id, std::nullopt, 1000);
  REQUIRE(t.store->touch_session(other, 1000 + kSessionTouchStep.count()));
  CHECK(t.store->touch_session(other, 1000 + kSessionIdle.count()));
}

TEST_CASE("console store: a session remembered between pages ends at once when it is signed out, "
          "its account revoked or its passkey replaced",
          "[console][store]") {
  TempStore t;
  const auto a = t.enrol("ocmw-brussel", "wanda", 1);
  const auto b = t.enrol("ocmw-brussel", "bram", 2);
  // Each is touched twice within 30 s: the second answer comes without reading the file.
  const std::string out = t.store->create_session(a.id, std::nullopt, 1000);
  REQUIRE(t.store->touch_session(out, 1001));
  REQUIRE(t.store->touch_session(out, 1002));
  t.store->delete_session(ConsoleStore::hash_token(out));
  CHECK_FALSE(t.store->touch_session(out, 1003));

  const std::string revoked = t.store->create_session(b.id, std::nullopt, 1000);
  REQUIRE(t.store->touch_session(revoked, 1001));
  REQUIRE(t.store->revoke_account("ocmw-brussel", b.id));
  CHECK_FALSE(t.store->touch_session(revoked, 1002));

  const std::string everywhere = t.store->create_session(a.id, std::nullopt, 1000);
  REQUIRE(t.store->touch_session(everywhere, 1001));
  t.store->delete_sessions_of(a.id);
  CHECK_FALSE(t.store->touch_session(everywhere, 1002));

  // A new passkey enrolled from a recovery invite signs the old holder out.
  const std::string old_holder = t.store->create_session(a.id, std::nullopt, 1000);
  REQUIRE(t.store->touch_session(old_holder, 1001));
  const auto invite = t.store->create_invite("ocmw-brussel", "wanda", ConsoleRole::worker, 1001);
  RegisteredCredential c;
  c.credential_id.assign(16, 9);
  c.cose_key.assign(77, 9);
  REQUIRE(t.store->enrol(ConsoleStore::hash_token(invite.token), c, 1002));
  CHECK_FALSE(t.store->touch_session(old_holder, 1003));
}

TEST_CASE("console store: a flood of signed-out sessions evicts the oldest of them, never a "
          "signed-in one",
          "[console][store]") {
  TempStore t;
  const auto a = t.enrol("ocmw-brussel", "wanda", 1);
  const std::string signed_in = t.store->create_session(a.id, std::nullopt, 2000);
  const std::string first = t.store->create_session(std::nullopt, std::nullopt, 2000);
  for (std::size_t i = 0; i < kMaxSignedOutSessions + 50; ++i) {
    (void)t.store->create_session(std::nullopt, std::nullopt, 2001);
  }
  CHECK(t.store->count_signed_out_sessions() == kMaxSignedOutSessions);
  CHECK_FALSE(t.store->touch_session(first, 2002));  // the oldest signed-out one went first
  CHECK(t.store->touch_session(signed_in, 2002));
  CHECK(t.store->count_sessions_of(a.id) == 1);
}

TEST_CASE("console store: expired sessions are deleted when new ones are made",
          "[console][store]") {
  TempStore t;
  for (int i = 0; i < 20; ++i)
    (void)t.store->create_session(std::nullopt, std::nullopt, 3000);
  CHECK(t.store->count_signed_out_sessions() == 20);
  (void)t.store->create_session(std::nullopt, std::nullopt, 3000 + kSessionIdle.count() + 61);
  CHECK(t.store->count_signed_out_sessions() == 1);
}

TEST_CASE("console store: security events are listed for their own partner only, newest first",
          "[console][store]") {
  TempStore t;
  const auto wanda = t.enrol("ocmw-brussel", "wanda", 1);
  const auto walt = t.enrol("caw-brussel", "walt", 2);
  t.store->record_event("assertion_refused", wanda.id, 100);
  t.store->record_event("sign_count_regression", wanda.id, 200);
  t.store->record_event("revoked_passkey", walt.id, 300);
  t.store->record_event("unknown_passkey", "", 400);
  const auto ocmw = t.store->events_of("ocmw-brussel", 100);
  REQUIRE(ocmw.size() == 2);
  CHECK(ocmw[0].kind == "sign_count_regression");
  CHECK(ocmw[0].worker == "wanda");
  CHECK(ocmw[0].time == 200);
  CHECK(ocmw[1].kind == "assertion_refused");
  const auto caw = t.store->events_of("caw-brussel", 100);
  REQUIRE(caw.size() == 1);
  CHECK(caw[0].worker == "walt");
  CHECK(t.store->events_of("caw-brussel", 0).empty());
  CHECK(t.store->events_of("nobody", 100).empty());
}
