// The audit-log witness against real checkpoints and proofs made with crypto's own Merkle tree
// and signer: first use, growth, no change, fork, shrink, bad signature, other log, bad proof;
// and the file archive's durability rules (torn last record dropped, other damage refused).
#include "sluis/console/witness.hpp"

#include "result_printer.hpp"
#include "sluis/crypto/encoding.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sluis::console;
namespace crypto = sluis::crypto;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kOrigin = "sluis.test/audit";

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "sluis-witness-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path_ = t;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A log as sluisd keeps one: a Merkle tree of event leaves and a signing key; checkpoints are
// C2SP notes signed with key name = origin.
struct Log {
  crypto::SigningKey key = crypto::SigningKey::generate();
  crypto::MerkleTree tree;
  std::string origin{kOrigin};

  void append(std::size_t n, std::string_view salt = "event") {
    for (std::size_t i = 0; i < n; ++i) {
      tree.append(crypto::leaf_hash(std::string(salt) + " " + std::to_string(tree.size())));
    }
  }
  [[nodiscard]] std::string checkpoint() const {
    return crypto::sign_checkpoint(origin, tree.size(), tree.root(), key, origin).value();
  }
  [[nodiscard]] crypto::NoteVerifierKey verifier() const {
    return crypto::make_verifier_key(origin, key.verifying_key()).value();
  }
  // A proof source over this log's tree, counting calls.
  [[nodiscard]] ConsistencyProofSource proofs(int* calls = nullptr) const {
    return
        [this, calls](std::uint64_t from,
                      std::uint64_t to) -> WitnessResult<std::optional<std::vector<crypto::Hash>>> {
          if (calls != nullptr) ++*calls;
          auto p = tree.consistency_proof(from, to);
          if (!p) return std::optional<std::vector<crypto::Hash>>{};
          return std::optional(std::move(*p));
        };
  }
};

std::chrono::system_clock::time_point at(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

TEST_CASE("witness: the first checkpoint is accepted on its signature and archived durably",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(5);
  const auto path = dir.path() / "witness.log";
  {
    auto archive = FileCheckpointArchive::open(path).value();
    CHECK(archive.count() == 0);
    Witness w(log.verifier(), archive, [] { return at(1'700'000'000'123); });
    int calls = 0;
    const auto r = w.observe(log.checkpoint(), log.proofs(&calls)).value();
    CHECK(r.status == WitnessReport::Status::first);
    CHECK(calls == 0);
    REQUIRE(r.accepted);
    CHECK(r.accepted->size == 5);
    CHECK(r.accepted->root == log.tree.root());
    CHECK(r.accepted->note == log.checkpoint());
    CHECK(archive.count() == 1);
  }
  // A new process reads it back exactly.
  auto again = FileCheckpointArchive::open(path).value();
  CHECK(again.count() == 1);
  const auto newest = again.newest().value();
  REQUIRE(newest);
  CHECK(newest->size == 5);
  CHECK(newest->root == log.tree.root());
  CHECK(newest->note == log.checkpoint());
  CHECK(newest->seen_at == at(1'700'000'000'123));
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(!fs::exists(dir.path() / "witness.log.tmp"));
}

TEST_CASE("witness: a grown log is accepted only with a verifying consistency proof",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(7);
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status == WitnessReport::Status::first);

  log.append(6);  // 7 -> 13: a proof with several hashes
  int calls = 0;
  auto r = w.observe(log.checkpoint(), log.proofs(&calls)).value();
  CHECK(r.status == WitnessReport::Status::grew);
  CHECK(calls == 1);
  REQUIRE(r.accepted);
  CHECK(r.accepted->size == 13);
  CHECK(archive.count() == 2);

  // The same checkpoint again: unchanged, nothing appended, no proof asked.
  r = w.observe(log.checkpoint(), log.proofs(&calls)).value();
  CHECK(r.status == WitnessReport::Status::unchanged);
  CHECK(calls == 1);
  CHECK(archive.count() == 2);

  // Every checkpoint seen is kept, oldest first.
  log.append(1);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status == WitnessReport::Status::grew);
  const auto all = archive.recent(10).value();
  REQUIRE(all.size() == 3);
  CHECK(all[0].size == 7);
  CHECK(all[1].size == 13);
  CHECK(all[2].size == 14);
  const auto last_two = archive.recent(2).value();
  REQUIRE(last_two.size() == 2);
  CHECK(last_two[0].size == 13);
  CHECK(archive.recent(0).value().empty());
}

TEST_CASE("witness: an empty log grows from the empty tree", "[console][witness]") {
  TempDir dir;
  Log log;
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status == WitnessReport::Status::first);
  log.append(3);
  CHECK(w.observe(log.checkpoint(), log.proofs()).value().status == WitnessReport::Status::grew);
}

TEST_CASE("witness: a tampered proof is a bad-proof alert naming both sizes, and nothing is kept",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(7);
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()));
  log.append(6);
  const auto honest = log.tree.consistency_proof(7, 13).value();
  REQUIRE(!honest.empty());

  const auto with = [](std::optional<std::vector<crypto::Hash>> p) -> ConsistencyProofSource {
    return
        [p](std::uint64_t,
            std::uint64_t) -> WitnessResult<std::optional<std::vector<crypto::Hash>>> { return p; };
  };
  auto flipped = honest;
  flipped[0][3] ^= 0x01U;
  auto shorter = honest;
  shorter.pop_back();
  auto longer = honest;
  longer.push_back(honest.back());
  for (const auto& bad : {std::optional(flipped), std::optional(shorter), std::optional(longer),
                          std::optional<std::vector<crypto::Hash>>{}}) {
    const auto r = w.observe(log.checkpoint(), with(bad)).value();
    CHECK(r.status == WitnessReport::Status::alert);
    REQUIRE(r.alert);
    CHECK(r.alert->kind == WitnessAlertKind::bad_proof);
    CHECK(r.alert->old_size == 7);
    CHECK(r.alert->new_size == 13);
    CHECK(r.alert->note == log.checkpoint());
    CHECK(r.alert->describe().find("7 entries") != std::string::npos);
    CHECK(r.alert->describe().find("13 entries") != std::string::npos);
    REQUIRE(r.accepted);
    CHECK(r.accepted->size == 7);
    CHECK(archive.count() == 1);
  }
  // The honest proof still works afterwards: the alert changed nothing.
  CHECK(w.observe(log.checkpoint(), with(honest)).value().status == WitnessReport::Status::grew);
}

TEST_CASE("witness: a rewritten history is refused — fork at the same size, fork at a larger "
          "size, shrink",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(10);
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()));

  // The same key signs another tree of 10 entries (entry 4 rewritten).
  Log fork;
  std::swap(fork.key, log.key);  // the fork is signed by the pinned key
  fork.append(4);
  fork.append(1, "rewritten");
  fork.append(5);
  auto r = w.observe(fork.checkpoint(), fork.proofs()).value();
  REQUIRE(r.alert);
  CHECK(r.alert->kind == WitnessAlertKind::forked);
  CHECK(r.alert->old_size == 10);
  CHECK(r.alert->new_size == 10);
  CHECK(alert_kind_name(r.alert->kind) == "forked");

  // The fork grows to 16: its own (honest for the fork) proof cannot reach our tree of 10.
  fork.append(6);
  r = w.observe(fork.checkpoint(), fork.proofs()).value();
  REQUIRE(r.alert);
  CHECK(r.alert->kind == WitnessAlertKind::bad_proof);
  CHECK(r.alert->old_size == 10);
  CHECK(r.alert->new_size == 16);

  // A smaller tree of the right history: the log shrank (entries vanished).
  Log small;
  std::swap(small.key, fork.key);
  small.append(8);
  r = w.observe(small.checkpoint(), small.proofs()).value();
  REQUIRE(r.alert);
  CHECK(r.alert->kind == WitnessAlertKind::shrunk);
  CHECK(r.alert->old_size == 10);
  CHECK(r.alert->new_size == 8);
  CHECK(archive.count() == 1);
}

TEST_CASE("witness: checkpoints not signed by the pinned key, or of another log, are refused",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(4);
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);

  // Before any checkpoint is kept, a forged one must not become the trusted first one.
  Log impostor;
  impostor.append(4);
  auto r = w.observe(impostor.checkpoint(), impostor.proofs()).value();
  REQUIRE(r.alert);
  CHECK(r.alert->kind == WitnessAlertKind::bad_signature);
  CHECK(r.alert->old_size == 0);
  CHECK(!r.accepted);
  CHECK(archive.count() == 0);

  REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status == WitnessReport::Status::first);
  log.append(2);
  // The body changed after signing (size 6 -> 60).
  auto note = log.checkpoint();
  const auto pos = note.find("\n6\n");
  REQUIRE(pos != std::string::npos);
  note.replace(pos, 3, "\n60\n");
  for (const auto& bad : {note, std::string("not a note"), std::string(),
                          log.checkpoint().substr(0, log.checkpoint().size() - 5)}) {
    r = w.observe(bad, log.proofs()).value();
    REQUIRE(r.alert);
    CHECK(r.alert->kind == WitnessAlertKind::bad_signature);
    CHECK(r.alert->old_size == 4);
    CHECK(r.alert->new_size == 0);
  }

  // Signed by the pinned key, but for another origin: not this log's checkpoint.
  const auto other =
      crypto::sign_checkpoint("other.test/audit", 6, log.tree.root(), log.key, std::string(kOrigin))
          .value();
  r = w.observe(other, log.proofs()).value();
  REQUIRE(r.alert);
  CHECK(r.alert->kind == WitnessAlertKind::wrong_log);
  CHECK(r.alert->new_size == 6);
  CHECK(archive.count() == 1);
}

TEST_CASE("witness: a proof that cannot be fetched is an error, not an alert",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(3);
  auto archive = FileCheckpointArchive::open(dir.path() / "w").value();
  Witness w(log.verifier(), archive);
  REQUIRE(w.observe(log.checkpoint(), log.proofs()));
  log.append(3);
  const ConsistencyProofSource down =
      [](std::uint64_t, std::uint64_t) -> WitnessResult<std::optional<std::vector<crypto::Hash>>> {
    return WitnessErrc::log_unreachable;
  };
  const auto r = w.observe(log.checkpoint(), down);
  REQUIRE(!r);
  CHECK(r.error() == WitnessErrc::log_unreachable);
  CHECK(archive.count() == 1);
}

TEST_CASE("witness: the archive keeps intact records, drops a torn last one, refuses damage",
          "[console][witness]") {
  TempDir dir;
  Log log;
  const auto path = dir.path() / "w";
  {
    auto archive = FileCheckpointArchive::open(path).value();
    Witness w(log.verifier(), archive);
    log.append(2);
    REQUIRE(w.observe(log.checkpoint(), log.proofs()));
    log.append(2);
    REQUIRE(w.observe(log.checkpoint(), log.proofs()));
  }
  const auto intact = read_all(path);
  REQUIRE(intact.rfind("sluis-witness-archive v1\n", 0) == 0);

  SECTION("a torn last record (a crash inside append) is dropped and the file repaired") {
    write_all(path, intact + "sluis-witness-v1 17 6 AAAA");
    auto archive = FileCheckpointArchive::open(path).value();
    CHECK(archive.count() == 2);
    CHECK(archive.newest().value()->size == 4);
    CHECK(read_all(path) == intact);
    // Appending goes on after the intact records.
    Witness w(log.verifier(), archive);
    log.append(1);
    REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status ==
            WitnessReport::Status::grew);
    CHECK(FileCheckpointArchive::open(path).value().count() == 3);
  }
  SECTION("a damaged record before the last is refused, not skipped") {
    auto damaged = intact;
    const auto first_record = damaged.find('\n') + 1;
    damaged[first_record + 3] = '#';
    write_all(path, damaged);
    const auto r = FileCheckpointArchive::open(path);
    REQUIRE(!r);
    CHECK(r.error() == WitnessErrc::archive_corrupt);
    CHECK(read_all(path) == damaged);  // evidence left as it is
  }
  SECTION("records whose sizes go down are refused") {
    const auto first_record = intact.find('\n') + 1;
    const auto second_record = intact.find('\n', first_record) + 1;
    write_all(path, intact.substr(0, first_record) + intact.substr(second_record) +
                        intact.substr(first_record, second_record - first_record));
    CHECK(FileCheckpointArchive::open(path).error() == WitnessErrc::archive_corrupt);
  }
  SECTION("a time the clock cannot hold is damage (found by fuzzing: it overflowed)") {
    const auto first_record = intact.find('\n') + 1;
    auto damaged = intact;
    // The whole time field: one millisecond past what a nanosecond clock holds (year 2262).
    const auto time_at = first_record + std::string_view("sluis-witness-v1 ").size();
    damaged.replace(time_at, damaged.find(' ', time_at) - time_at, "9223372036855");
    write_all(path, damaged);
    CHECK(FileCheckpointArchive::open(path).error() == WitnessErrc::archive_corrupt);
  }
  SECTION("another file is refused") {
    write_all(path, "hello\n");
    CHECK(FileCheckpointArchive::open(path).error() == WitnessErrc::archive_corrupt);
  }
  SECTION("a newest record the pinned key did not sign stops the witness") {
    // Well-formed, but the root was changed: the note no longer matches the record.
    auto archive = FileCheckpointArchive::open(path).value();
    auto forged = *archive.newest().value();
    forged.size = 5;
    forged.root[0] ^= 0x01U;
    REQUIRE(archive.append(forged));
    Witness w(log.verifier(), archive);
    const auto r = w.observe(log.checkpoint(), log.proofs());
    REQUIRE(!r);
    CHECK(r.error() == WitnessErrc::archive_corrupt);
  }
  SECTION("a directory that does not exist is an I/O error") {
    CHECK(FileCheckpointArchive::open(dir.path() / "missing" / "w").error() ==
          WitnessErrc::archive_failed);
  }
}

TEST_CASE("witness: the consistency-proof answer is parsed strictly", "[console][witness]") {
  Log log;
  log.append(13);
  const auto proof = log.tree.consistency_proof(7, 13).value();
  std::string path = "[";
  for (std::size_t i = 0; i < proof.size(); ++i) {
    if (i != 0) path += ",";
    path += "\"" + crypto::to_base64(proof[i]) + "\"";
  }
  path += "]";
  const std::string good = R"({"from":7,"to":13,"path":)" + path + "}";
  const auto parsed = parse_consistency_proof(good, 7, 13);
  REQUIRE(parsed);
  CHECK(*parsed == proof);
  CHECK(parse_consistency_proof(R"({"from":7,"to":7,"path":[]})", 7, 7)->empty());

  CHECK(!parse_consistency_proof(good, 6, 13));  // not the sizes asked for
  CHECK(!parse_consistency_proof(good, 7, 14));
  CHECK(!parse_consistency_proof(R"({"from":7,"to":13,"path":)" + path + R"(,"x":1})", 7, 13));
  CHECK(!parse_consistency_proof(R"({"from":7,"to":13,"path":["AAAA"]})", 7, 13));
  CHECK(!parse_consistency_proof(R"({"from":7,"to":13,"path":[1]})", 7, 13));
  CHECK(!parse_consistency_proof(R"({"from":-7,"to":13,"path":[]})", 7, 13));
  CHECK(!parse_consistency_proof(R"({"from":"7","to":13,"path":[]})", 7, 13));
  CHECK(!parse_consistency_proof("[]", 7, 13));
  CHECK(!parse_consistency_proof("{", 7, 13));
  std::string many = R"({"from":7,"to":13,"path":[)";
  for (int i = 0; i < 65; ++i)
    many += std::string(i == 0 ? "" : ",") + "\"" + crypto::to_base64(proof[0]) + "\"";
  CHECK(!parse_consistency_proof(many + "]}", 7, 13));
}

TEST_CASE("witness: the log key is the verifier-key text sluisctl prints", "[console][witness]") {
  Log log;
  const auto text = crypto::format_verifier_key(log.verifier());
  const auto key = Witness::parse_log_key(text).value();
  CHECK(key.name == kOrigin);
  CHECK(key.key == log.key.verifying_key());
  CHECK(Witness::parse_log_key(text + "x").error() == WitnessErrc::invalid_argument);
  CHECK(Witness::parse_log_key("").error() == WitnessErrc::invalid_argument);
}

TEST_CASE("witness: alerts are kept once each, survive a restart and the log's recovery",
          "[console][witness]") {
  TempDir dir;
  Log log;
  log.append(6);
  const auto path = dir.path() / "w";
  {
    auto archive = FileCheckpointArchive::open(path).value();
    Witness w(log.verifier(), archive, [] { return at(1'000); });
    REQUIRE(w.observe(log.checkpoint(), log.proofs()));

    // The same forged answer three times: one alert record.
    Log impostor;
    impostor.append(9);
    for (int i = 0; i < 3; ++i) {
      const auto r = w.observe(impostor.checkpoint(), impostor.proofs()).value();
      REQUIRE(r.status == WitnessReport::Status::alert);
    }
    CHECK(archive.alert_count() == 1);
    // An empty answer is another alert (kept with no evidence), then the first again.
    REQUIRE(w.observe("", log.proofs()).value().alert);
    REQUIRE(w.observe(impostor.checkpoint(), impostor.proofs()).value().alert);
    CHECK(archive.alert_count() == 3);
    // A larger answer than any note is kept only up to the evidence limit.
    REQUIRE(w.observe(std::string(kMaxAlertEvidence + 100, 'x'), log.proofs()).value().alert);
    CHECK(archive.newest_alert().value()->alert.note.size() == kMaxAlertEvidence);

    // The log answers well again: the alerts stay on record.
    log.append(2);
    REQUIRE(w.observe(log.checkpoint(), log.proofs()).value().status ==
            WitnessReport::Status::grew);
    CHECK(archive.alert_count() == 4);
  }
  auto again = FileCheckpointArchive::open(path).value();
  CHECK(again.count() == 2);
  CHECK(again.alert_count() == 4);
  const auto alerts = again.recent_alerts(10).value();
  REQUIRE(alerts.size() == 4);
  CHECK(alerts[0].alert.kind == WitnessAlertKind::bad_signature);
  CHECK(alerts[0].alert.old_size == 6);
  CHECK(alerts[0].seen_at == at(1'000));
  CHECK(!alerts[0].alert.note.empty());
  CHECK(alerts[1].alert.note.empty());
  CHECK(alerts[2].alert == alerts[0].alert);
  CHECK(again.recent_alerts(1).value().size() == 1);
  CHECK(again.recent(10).value().size() == 2);  // alerts are not checkpoints

  // A torn alert record is dropped like a torn checkpoint record.
  const auto intact = read_all(path);
  write_all(path, intact + "sluis-witness-alert-v1 5 forked 3");
  auto repaired = FileCheckpointArchive::open(path).value();
  CHECK(repaired.alert_count() == 4);
  CHECK(read_all(path) == intact);
  // A damaged one before the last is refused.
  write_all(path, intact + "sluis-witness-alert-v1 5 melted 3 4 -\n" +
                      intact.substr(intact.find('\n') + 1));
  CHECK(FileCheckpointArchive::open(path).error() == WitnessErrc::archive_corrupt);
}
