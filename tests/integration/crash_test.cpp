// Crash consistency (issues #5 and #7): kill -9 the real sluisd under a mixed read/write load over
// mTLS, restart it, and check that every answered request is on the audit record, the record
// verifies, and every acknowledged write is still there (BRIEF §4 promises 7 and 8, §7).
#include "result_printer.hpp"
#include "sluisd_harness.hpp"

#include "sluis/crypto/keyfile.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/policy/types.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using namespace sluis::test;
using sluis::audit::AuditAction;
using sluis::audit::AuditDecision;

constexpr int kDefaultCycles = 5;
constexpr std::size_t kCohortSize = 4;  // persons each cycle's load works on
constexpr std::size_t kLoadThreads = 6;
constexpr unsigned kReadPercent = 70;
constexpr int kKillAfterMinMs = 200;
constexpr int kKillAfterMaxMs = 800;
constexpr std::size_t kMaxReportedMisses = 20;
constexpr const char* kPurpose = "care-coordination";

int cycles_wanted() {
  const char* text = std::getenv("SLUIS_CRASH_CYCLES");
  if (text == nullptr || *text == '\0') return kDefaultCycles;
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  if (*end != '\0' || n < 1 || n > 5000) {
    FAIL("SLUIS_CRASH_CYCLES must be a whole number from 1 to 5000, not \"" << text << "\"");
  }
  return static_cast<int>(n);
}

/// The seed of the run: SLUIS_CRASH_SEED reproduces a run's choices (not the kill timing's
/// effect, which depends on the machine).
unsigned seed_wanted() {
  const char* text = std::getenv("SLUIS_CRASH_SEED");
  if (text != nullptr && *text != '\0') {
    return static_cast<unsigned>(std::strtoul(text, nullptr, 10));
  }
  return std::random_device{}();
}

std::string rfc3339(std::chrono::system_clock::duration from_now) {
  return sluis::policy::format_time(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() + from_now));
}

/// A consent recorded at the OCMW by its social worker: `grantee` may read housing for care
/// coordination for a week.
std::string housing_consent(const std::string& grantee) {
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":")" + grantee +
         R"("},"categories":["housing"],"purposes":["care-coordination"],"period":{"start":")" +
         rfc3339(-std::chrono::hours(1)) + R"(","end":")" + rfc3339(std::chrono::hours(24 * 7)) +
         R"("}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw",)"
         R"("role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":")" +
         rfc3339(-std::chrono::minutes(1)) + R"("}})";
}

/// A distinct valid national register number for person `index` (< 25200): born 1986-01-dd.
std::string person_number(std::size_t index) {
  return national_register_number(860101000ULL + (index / 900) * 1000 + 100 + index % 900);
}

std::string note_fragment(const std::string& category, const std::string& value) {
  return R"({"category":")" + category + R"(","fields":{"note":")" + value + R"("}})";
}

/// The response's X-Request-Id (header names compared without case).
std::string request_id_of(const Response& r) {
  for (const auto& [name, value] : r.headers) {
    if (name.size() == 12 &&
        std::equal(name.begin(), name.end(), "x-request-id", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return value;
    }
  }
  return {};
}

/// One partner's worker taking part in the load. Its writes use a category its own worker's role
/// may read back, so the owner can confirm every acknowledged write after a restart.
struct Actor {
  const gw::Credential* credential = nullptr;
  std::string partner;
  std::string worker;
  std::string write_category;
  std::vector<std::string> clients;  ///< this partner's pseudonym of each person, cohort by cohort
};

enum class Kind : std::uint8_t { read, write };

/// A request that got a complete 2xx answer.
struct Answered {
  std::string request_id;
  Kind kind = Kind::read;
  std::size_t actor = 0;
  std::size_t person = 0;  ///< index into Actor::clients
  int cycle = 0;
  std::string fragment;  ///< writes: the id the gateway gave
  std::string value;     ///< writes: the unique note written
  /// Reads: "category owner-partner" of every fragment shown, with how many were shown.
  std::map<std::string, std::size_t> shown;
};

/// What one load thread saw.
struct ThreadLoad {
  std::vector<Answered> answered;
  std::vector<std::string> refused;            ///< non-2xx or unreadable answers, described
  std::vector<std::string> unanswered_writes;  ///< write values sent but never answered
  std::size_t started = 0;
  std::size_t unanswered = 0;  ///< started, no complete answer (the kill)
};

std::string shown_key(const json::value& fragment) {
  return std::string(fragment.at("category").as_string()) + " " +
         std::string(fragment.at("owner").at("partner").as_string());
}

/// Sends requests as `actor` until stopped: kReadPercent % dossier reads of a random person of
/// the cohort starting at `first_person`, the rest fragment writes with a value unique to this run,
/// cycle, thread and sequence number. No Catch2 macros here: they are not thread-safe; the main
/// thread judges the results.
void run_load(std::stop_token stop, std::uint16_t port, const gw::Certificate& trust,
              const Actor& actor, std::size_t actor_index, std::size_t first_person, unsigned seed,
              int cycle, std::size_t thread, std::latch& connected, ThreadLoad& out) {
  std::mt19937 rng(seed);
  std::optional<TlsClient> client;
  auto connect = [&] {
    client.emplace(port, trust, ClientOptions{actor.credential, false});
    if (!client->connect()) return true;
    client.reset();
    return false;
  };
  connect();
  connected.count_down();
  const std::vector<std::pair<std::string, std::string>> headers = {{"Sluis-Worker", actor.worker},
                                                                    {"Sluis-Purpose", kPurpose}};
  for (std::uint64_t seq = 0; !stop.stop_requested(); ++seq) {
    if (!client && !connect()) {
      std::this_thread::sleep_for(5ms);  // the gateway is gone: wait for the stop
      continue;
    }
    const std::size_t person = first_person + rng() % kCohortSize;
    const bool read = rng() % 100 < kReadPercent;
    const std::string base = "/v1/clients/" + actor.clients[person];
    std::string value;
    std::optional<Response> r;
    ++out.started;
    if (read) {
      r = client->request("GET", base + "/dossier", {}, headers);
    } else {
      std::ostringstream v;
      v << "crash-s" << seed << "-c" << cycle << "-t" << thread << "-n" << seq;
      value = v.str();
      r = client->request("POST", base + "/fragments", note_fragment(actor.write_category, value),
                          headers);
    }
    if (!r) {
      ++out.unanswered;
      if (!read) out.unanswered_writes.push_back(value);
      client.reset();
      continue;
    }
    if (!r->keep_alive) client.reset();  // e.g. max_requests_per_connection: reconnect
    Answered a;
    a.request_id = request_id_of(*r);
    a.kind = read ? Kind::read : Kind::write;
    a.actor = actor_index;
    a.person = person;
    a.cycle = cycle;
    const int expected = read ? 200 : 201;
    const auto body = body_json(*r);
    bool readable = r->status == expected && !a.request_id.empty() && body.is_object();
    try {
      if (readable && read) {
        for (const auto& f : body.at("fragments").as_array())
          ++a.shown[shown_key(f)];
      } else if (readable) {
        a.fragment = std::string(body.at("fragment").as_string());
        a.value = value;
      }
    } catch (const std::exception&) {
      readable = false;
    }
    if (!readable) {
      out.refused.push_back((read ? "GET " : "POST ") + base + " -> " + std::to_string(r->status) +
                            " request " + a.request_id + ": " + r->body.substr(0, 200));
      continue;
    }
    out.answered.push_back(std::move(a));
  }
}

/// What the audit log holds, read through a read-only open beside the running sluisd.
struct AuditIndex {
  sluis::audit::AuditVerifyReport report;
  std::uint64_t events = 0;
  std::unordered_set<std::string> read_requests;  ///< request ids with at least one read event
  /// Per read request id: every "category owner-partner" a permit event of that read covers.
  std::unordered_map<std::string, std::set<std::string>> read_permits;
  std::unordered_set<std::string> write_requests;  ///< ids with a permitted fragment-write event
  /// "partner category" → permitted fragment-write events (the write's intent, recorded first).
  std::map<std::string, std::size_t> write_intents;
};

AuditIndex read_audit(const GatewayHome& home, const sluis::crypto::RootKey& root) {
  sluis::audit::AuditLogOptions o;
  o.path = home.dir.path() / "data/audit.db";
  o.origin.clear();
  o.read_only = true;
  auto log = sluis::audit::AuditLog::open(std::move(o), root);
  REQUIRE(log);
  AuditIndex index;
  auto all = (*log)->query_all(sluis::audit::AuditQuery{});
  REQUIRE(all);
  index.events = all->size();
  for (const auto& stored : *all) {
    const auto& e = stored.event;
    if (e.action == AuditAction::read) {
      index.read_requests.insert(e.request_id);
      if (e.decision == AuditDecision::permit) {
        for (const auto& c : e.categories)
          index.read_permits[e.request_id].insert(c + " " + e.owner_partner);
      }
    } else if (e.action == AuditAction::fragment_write && e.decision == AuditDecision::permit) {
      index.write_requests.insert(e.request_id);
      for (const auto& c : e.categories)
        ++index.write_intents[e.partner + " " + c];
    }
  }
  // Verified after the query, so the verified prefix covers every event relied on above.
  auto report = (*log)->verify();
  REQUIRE(report);
  index.report = std::move(*report);
  return index;
}

/// The running totals the summary line reports.
struct Figures {
  int cycles = 0;
  std::size_t load_started = 0;   ///< requests the load threads sent
  std::size_t load_answered = 0;  ///< of which got a complete 2xx answer
  std::size_t answered = 0;       ///< 2xx answers checked: the load's and the checks' own
  std::size_t reads_checked = 0;
  std::size_t writes_checked = 0;
  std::size_t events_lost = 0;
  std::size_t writes_lost = 0;
  std::size_t in_flight_at_kill = 0;
  std::size_t in_flight_writes_kept = 0;
  std::uint64_t audit_events = 0;
};

class CrashRun {
 public:
  CrashRun() : root_(sluis::crypto::read_root_key(home_.dir.path() / "keys/root.key", {}).value()) {
    start();
    prepare();
  }

  /// One crash cycle: load, kill -9 while requests are in flight, restart, check everything.
  void cycle(int n, std::mt19937& rng) {
    if (n > 1) add_cohort();
    const std::size_t first_person = actors_[0].clients.size() - kCohortSize;
    const auto killed_after = std::chrono::milliseconds(
        std::uniform_int_distribution<int>(kKillAfterMinMs, kKillAfterMaxMs)(rng));
    std::vector<ThreadLoad> loads(kLoadThreads);
    {
      std::latch connected(static_cast<std::ptrdiff_t>(kLoadThreads));
      std::vector<std::jthread> threads;
      for (std::size_t t = 0; t < kLoadThreads; ++t) {
        const std::size_t a = t % actors_.size();
        threads.emplace_back(run_load, gateway_->port(), std::cref(home_.ca.certificate()),
                             std::cref(actors_[a]), a, first_person, static_cast<unsigned>(rng()),
                             n, t, std::ref(connected), std::ref(loads[t]));
      }
      connected.wait();
      std::this_thread::sleep_for(killed_after);
      gateway_->signal(SIGKILL);
      REQUIRE(gateway_->exited(10s));
      CHECK(gateway_->exit_code() == 128 + SIGKILL);
      // The jthreads are asked to stop and joined here, after the kill.
    }
    std::size_t answered = 0;
    std::size_t in_flight = 0;
    std::size_t started = 0;
    for (auto& l : loads) {
      for (const auto& refused : l.refused)
        FAIL_CHECK("cycle " << n << ": a valid request was not answered as expected: " << refused);
      answered += l.answered.size();
      in_flight += l.unanswered;
      started += l.started;
      for (auto& a : l.answered)
        answered_.push_back(std::move(a));
      for (auto& v : l.unanswered_writes)
        in_flight_writes_.insert(std::move(v));
    }
    figures_.in_flight_at_kill += in_flight;
    figures_.load_started += started;
    figures_.load_answered += answered;
    figures_.cycles = n;

    const auto since = [](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t)
          .count();
    };
    const auto restart_began = std::chrono::steady_clock::now();
    start();
    const auto restart_ms = since(restart_began);
    const auto check_began = std::chrono::steady_clock::now();
    check_after_restart(n);
    std::cout << "crash: cycle " << n << ": killed after " << killed_after.count() << " ms, "
              << started << " requests started, " << answered << " answered, " << in_flight
              << " in flight at the kill; restarted in " << restart_ms << " ms, checked in "
              << since(check_began) << " ms\n"
              << std::flush;
  }

  /// The checks once more, for the requests answered after the last restart.
  void finish() {
    check_writes_readable(figures_.cycles);
    check_audit(figures_.cycles);
  }

  [[nodiscard]] const Figures& figures() const { return figures_; }

 private:
  void start() {
    gateway_.emplace(home_);
    const bool ready = gateway_->wait_ready(60s);
    INFO("sluisd did not start (again): " << gateway_->stderr_text());
    REQUIRE(ready);
  }

  std::unique_ptr<Worker> worker(const Actor& a) const {
    return std::make_unique<Worker>(*gateway_, *a.credential, a.worker);
  }

  void prepare() {
    actors_ = {{&home_.ocmw, "ocmw-brussel", "ocmw-sw", "case-note", {}},
               {&home_.caw, "caw-brussel", "caw-sw", "case-note", {}},
               {&home_.thuiszorg, "thuiszorg", "tz-nurse", "appointment", {}}};
    add_cohort();
    // The mix really is mixed: the CAW sees housing of person 0 and nothing of person 1.
    auto caw = worker(actors_[1]);
    const auto seen = caw->get("/v1/clients/" + actors_[1].clients[0] + "/dossier");
    REQUIRE(seen.status == 200);
    CHECK(seen.body.find("setup housing") != std::string::npos);
    CHECK(seen.body.find("setup income") == std::string::npos);
    const auto none = caw->get("/v1/clients/" + actors_[1].clients[1] + "/dossier");
    CHECK(none.body == R"({"fragments":[]})");
  }

  /// A new cohort of persons for the next load, so dossiers stay small however many cycles run.
  /// All three partners know them; the OCMW holds housing and income for each and gives housing
  /// to the CAW (persons 0 and 2) and the home-care service (persons 0 and 3), so reads are
  /// permitted and denied in a mix.
  void add_cohort() {
    const std::size_t first = actors_[0].clients.size();
    for (auto& a : actors_) {
      auto w = worker(a);
      for (std::size_t p = first; p < first + kCohortSize; ++p) {
        const auto r = w->post("/v1/clients", R"({"identifier":{"scheme":"national-register",)"
                                              R"("value":")" +
                                                  person_number(p) + R"("}})");
        REQUIRE(r.status / 100 == 2);
        a.clients.push_back(std::string(body_json(r).at("client").as_string()));
      }
    }
    auto ocmw = worker(actors_[0]);
    for (std::size_t p = 0; p < kCohortSize; ++p) {
      const auto base = "/v1/clients/" + actors_[0].clients[first + p];
      REQUIRE(ocmw->post(base + "/fragments", note_fragment("housing", "setup housing")).status ==
              201);
      REQUIRE(ocmw->post(base + "/fragments", note_fragment("income", "setup income")).status ==
              201);
      if (p % 2 == 0) {
        REQUIRE(ocmw->post(base + "/consents", housing_consent("caw-brussel")).status == 201);
      }
      if (p % 3 == 0) {
        REQUIRE(ocmw->post(base + "/consents", housing_consent("thuiszorg")).status == 201);
      }
    }
  }

  /// After a restart: (3) the acknowledged writes are all readable, (1) the log verifies,
  /// (2) every answered request is on the record, (4) every partner can write again.
  void check_after_restart(int n) {
    check_writes_readable(n);
    check_audit(n);
    {
      Worker anyone(*gateway_, home_.caw, "");
      CHECK(anyone.call("GET", "/healthz").status == 200);
    }
    for (std::size_t a = 0; a < actors_.size(); ++a) {
      auto w = worker(actors_[a]);
      const std::size_t person =
          actors_[a].clients.size() - kCohortSize + static_cast<std::size_t>(n) % kCohortSize;
      const std::string value = "crash-restart-c" + std::to_string(n) + "-a" + std::to_string(a);
      const auto r = w->post("/v1/clients/" + actors_[a].clients[person] + "/fragments",
                             note_fragment(actors_[a].write_category, value));
      INFO("cycle " << n << ": " << actors_[a].partner
                    << " cannot write after the restart: " << r.status << " " << r.body);
      REQUIRE(r.status == 201);
      Answered written;
      written.request_id = request_id_of(r);
      written.kind = Kind::write;
      written.actor = a;
      written.person = person;
      written.cycle = n;
      written.fragment = std::string(body_json(r).at("fragment").as_string());
      written.value = value;
      answered_.push_back(std::move(written));
    }
  }

  /// (1) the log verifies; (2) every answered read has its read events (a permit covering every
  /// fragment it showed) and every acknowledged write its fragment-write event.
  void check_audit(int n) {
    const auto index = read_audit(home_, root_);
    for (const auto& problem : index.report.problems)
      FAIL_CHECK("after the restart of cycle " << n
                                               << ": the audit log does not verify: " << problem);
    CHECK(index.report.ok());
    CHECK(index.report.events >= index.events);
    figures_.audit_events = index.events;

    std::size_t reads = 0;
    std::size_t writes = 0;
    std::size_t lost = 0;
    std::unordered_set<std::string> ids;
    for (const auto& a : answered_) {
      if (!ids.insert(a.request_id).second) {
        FAIL_CHECK("request id " << a.request_id << " was answered twice");
      }
      const std::string who =
          actors_[a.actor].partner + " (answered in cycle " + std::to_string(a.cycle) + ")";
      if (a.kind == Kind::read) {
        ++reads;
        if (!index.read_requests.contains(a.request_id)) {
          ++lost;
          if (lost <= kMaxReportedMisses) {
            FAIL_CHECK("after the restart of cycle " << n << ": the read " << a.request_id << " by "
                                                     << who << " has no read event in the log");
          }
          continue;
        }
        // A read logs one event per distinct outcome: every (category, owner) it showed must be
        // covered by a permit event of that same read.
        const auto permits = index.read_permits.find(a.request_id);
        for (const auto& [what, count] : a.shown) {
          if (permits == index.read_permits.end() || !permits->second.contains(what)) {
            ++lost;
            FAIL_CHECK("after the restart of cycle "
                       << n << ": the read " << a.request_id << " by " << who << " showed " << count
                       << " fragment(s) of " << what << " but the log has no permit for them");
          }
        }
      } else {
        ++writes;
        if (!index.write_requests.contains(a.request_id)) {
          ++lost;
          if (lost <= kMaxReportedMisses) {
            FAIL_CHECK("after the restart of cycle "
                       << n << ": the acknowledged write " << a.request_id << " (" << a.value
                       << ") by " << who << " has no fragment-write event in the log");
          }
        }
      }
    }
    figures_.answered = reads + writes;
    figures_.reads_checked = reads;
    figures_.writes_checked = writes;
    figures_.events_lost = std::max(figures_.events_lost, lost);

    // Every fragment the load stored has its write on the record: the intent is appended before
    // the store is touched, so a write cut short by the kill may leave an intent without a
    // fragment, never a fragment without an intent.
    for (const auto& [key, stored] : fragments_stored_) {
      const auto intents = index.write_intents.find(key);
      const std::size_t recorded = intents == index.write_intents.end() ? 0 : intents->second;
      INFO("fragments stored by " << key << ": " << stored
                                  << ", fragment-write events: " << recorded);
      CHECK(recorded >= stored);
    }
  }

  /// (3) every acknowledged write is in its owner's dossier with the value written.
  void check_writes_readable(int n) {
    std::map<std::pair<std::size_t, std::size_t>, std::map<std::string, std::string>> dossiers;
    fragments_stored_.clear();
    std::set<std::string> notes_seen;
    for (std::size_t a = 0; a < actors_.size(); ++a) {
      auto w = worker(actors_[a]);
      std::size_t stored = 0;
      for (std::size_t p = 0; p < actors_[a].clients.size(); ++p) {
        const auto r = w->get("/v1/clients/" + actors_[a].clients[p] +
                              "/dossier?category=" + actors_[a].write_category);
        REQUIRE(r.status == 200);
        auto& fragments = dossiers[{a, p}];
        const auto body = body_json(r);
        for (const auto& f : body.at("fragments").as_array()) {
          const auto& fields = f.at("fields").as_object();
          const auto* note = fields.if_contains("note");
          REQUIRE(note != nullptr);
          const std::string value(note->as_string());
          fragments[std::string(f.at("fragment").as_string())] = value;
          if (!value.starts_with("crash-")) continue;
          ++stored;
          CHECK(notes_seen.insert(value).second);  // one write, one fragment
          if (in_flight_writes_.erase(value) > 0) ++figures_.in_flight_writes_kept;
        }
        Answered readback;
        readback.request_id = request_id_of(r);
        readback.kind = Kind::read;
        readback.actor = a;
        readback.person = p;
        readback.cycle = n;
        for (const auto& f : body.at("fragments").as_array())
          ++readback.shown[shown_key(f)];
        answered_.push_back(std::move(readback));
      }
      fragments_stored_[actors_[a].partner + " " + actors_[a].write_category] = stored;
    }
    std::size_t gone = 0;
    for (const auto& a : answered_) {
      if (a.kind != Kind::write) continue;
      const auto& fragments = dossiers[{a.actor, a.person}];
      const auto it = fragments.find(a.fragment);
      if (it == fragments.end() || it->second != a.value) {
        ++gone;
        if (gone <= kMaxReportedMisses) {
          FAIL_CHECK("after the restart of cycle "
                     << n << ": the acknowledged write " << a.request_id << " (fragment "
                     << a.fragment << ", " << a.value << ") by " << actors_[a.actor].partner
                     << " is not in its owner's dossier"
                     << (it == fragments.end() ? "" : " with the value written"));
        }
      }
    }
    figures_.writes_lost = std::max(figures_.writes_lost, gone);
  }

  GatewayHome home_;
  sluis::crypto::RootKey root_;
  std::optional<Sluisd> gateway_;
  std::vector<Actor> actors_;
  std::vector<Answered> answered_;
  std::unordered_set<std::string> in_flight_writes_;
  std::map<std::string, std::size_t> fragments_stored_;
  Figures figures_;
};

}  // namespace

TEST_CASE("kill -9 under a mixed read/write load loses nothing that was answered",
          "[integration][crash]") {
  const int cycles = cycles_wanted();
  const unsigned seed = seed_wanted();
  INFO("SLUIS_CRASH_SEED=" << seed);
  const auto began = std::chrono::steady_clock::now();
  std::mt19937 rng(seed);
  CrashRun run;
  for (int n = 1; n <= cycles; ++n)
    run.cycle(n, rng);
  run.finish();
  const auto& f = run.figures();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  // One line for the table of issue #7.
  std::cout << "crash-consistency summary: cycles=" << f.cycles
            << " load_requests=" << f.load_started << " load_answered=" << f.load_answered
            << " answered_checked=" << f.answered << " reads_checked=" << f.reads_checked
            << " writes_checked=" << f.writes_checked << " audit_events=" << f.audit_events
            << " events_lost=" << f.events_lost << " writes_lost=" << f.writes_lost
            << " in_flight_at_kill=" << f.in_flight_at_kill
            << " in_flight_writes_kept=" << f.in_flight_writes_kept << " seed=" << seed
            << " seconds=" << std::fixed << std::setprecision(1) << seconds << '\n'
            << std::flush;
  CHECK(f.cycles == cycles);
  CHECK(f.events_lost == 0);
  CHECK(f.writes_lost == 0);
  // The kills landed on a live load (otherwise this test would prove little).
  CHECK(f.load_answered > 0);
  CHECK(f.in_flight_at_kill > 0);
}
