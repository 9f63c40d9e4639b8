// Fuzz target: what the console's audit-log witness reads from outside — the consistency-proof
// JSON sluisd answers (parse_consistency_proof), the checkpoint note it serves (Witness::observe)
// and its own archive file after a crash or tampering (FileCheckpointArchive::open) — and the QR
// encoder on arbitrary bytes (encode_qr, render_qr_svg).
//
// Invariants: a parsed proof has at most 64 hashes and its JSON written back parses to the same
// hashes; observe() on an archive holding one checkpoint of the pinned log (seed 0x01 × 32,
// origin "sluis.example/audit", as the checkpoint corpus) accepts nothing that does not verify
// under the pinned key, and an alert leaves the checkpoints kept unchanged; an archive that opens
// has a newest record equal to its last complete record, opens again to the same counts (the
// repair of a torn last line is idempotent) and leaves the file ending in '\n'; an archive that
// is refused is left byte for byte as it was. A QR symbol is made exactly for inputs of at most
// 213 bytes, is 17 + 4v modules wide with its three finder patterns and timing lines in place,
// is the same on a second encoding, and its SVG holds only its own five elements.
#include "sluis/console/qr.hpp"
#include "sluis/console/witness.hpp"
#include "sluis/crypto/encoding.hpp"

#include "fuzz_support.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace crypto = sluis::crypto;
namespace sc = sluis::console;
namespace fs = std::filesystem;

constexpr std::string_view kOrigin = "sluis.example/audit";

const crypto::SigningKey& log_key() {
  static const crypto::SigningKey key = [] {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(0x01);
    return crypto::SigningKey::from_seed(crypto::SecretBytes<32>::copy_of(seed));
  }();
  return key;
}

const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string t = (fs::temp_directory_path() / "sluis-fuzz-witness-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) {
      sluis::fuzz::invariant_failed("a scratch directory", __FILE__, __LINE__);
    }
    static const fs::path made = t;
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(made, ignored);
    });
    return made;
  }();
  return dir;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

void fuzz_proof(std::string_view text) {
  for (const auto& [from, to] :
       std::array<std::pair<std::uint64_t, std::uint64_t>, 3>{{{7, 13}, {0, 0}, {1, 2}}}) {
    const auto proof = sc::parse_consistency_proof(text, from, to);
    if (!proof) continue;
    SLUIS_FUZZ_CHECK(proof->size() <= crypto::kMaxProofHashes);
    std::string json =
        "{\"from\":" + std::to_string(from) + ",\"to\":" + std::to_string(to) + ",\"path\":[";
    for (std::size_t i = 0; i < proof->size(); ++i)
      json += (i == 0 ? "\"" : ",\"") + crypto::to_base64((*proof)[i]) + "\"";
    json += "]}";
    const auto again = sc::parse_consistency_proof(json, from, to);
    SLUIS_FUZZ_CHECK(again && *again == *proof);
  }
}

void fuzz_observe(std::string_view note) {
  const auto path = scratch() / "observe";
  std::error_code ignored;
  fs::remove(path, ignored);
  auto archive = sc::FileCheckpointArchive::open(path);
  SLUIS_FUZZ_CHECK(archive.has_value());
  crypto::MerkleTree tree;
  for (int i = 0; i < 5; ++i)
    tree.append(crypto::leaf_hash("event " + std::to_string(i)));
  const auto first = crypto::sign_checkpoint(kOrigin, 5, tree.root(), log_key(), kOrigin);
  SLUIS_FUZZ_CHECK(first.has_value());
  const auto verifier = crypto::make_verifier_key(kOrigin, log_key().verifying_key());
  SLUIS_FUZZ_CHECK(verifier.has_value());
  sc::Witness w(*verifier, *archive);
  const sc::ConsistencyProofSource none =
      [](std::uint64_t,
         std::uint64_t) -> sc::WitnessResult<std::optional<std::vector<crypto::Hash>>> {
    return std::optional<std::vector<crypto::Hash>>{};
  };
  SLUIS_FUZZ_CHECK(w.observe(*first, none).has_value());

  const auto r = w.observe(note, none);
  SLUIS_FUZZ_CHECK(r.has_value());
  const bool verifies =
      crypto::verify_checkpoint(note, log_key().verifying_key(), kOrigin, kOrigin).has_value();
  if (r->status != sc::WitnessReport::Status::alert) {
    SLUIS_FUZZ_CHECK(verifies);
    SLUIS_FUZZ_CHECK(r->status == sc::WitnessReport::Status::unchanged);
    SLUIS_FUZZ_CHECK(archive->count() == 1);
  } else {
    SLUIS_FUZZ_CHECK(r->alert.has_value());
    SLUIS_FUZZ_CHECK(archive->count() == 1);
    SLUIS_FUZZ_CHECK(archive->alert_count() == 1);
    SLUIS_FUZZ_CHECK(r->alert->note.size() <= sc::kMaxAlertEvidence);
  }
}

void fuzz_archive(std::string_view text) {
  const auto path = scratch() / "archive";
  // Half of the inputs get the right header, so the records behind it are reached.
  std::string content = (text.empty() || (static_cast<unsigned char>(text[0]) & 1U) == 0)
                            ? "sluis-witness-archive v1\n" + std::string(text)
                            : std::string(text);
  write_all(path, content);
  auto archive = sc::FileCheckpointArchive::open(path);
  if (!archive) {
    SLUIS_FUZZ_CHECK(read_all(path) == content);  // evidence left as it was
    return;
  }
  const auto after = read_all(path);
  SLUIS_FUZZ_CHECK(!after.empty() && after.back() == '\n');
  SLUIS_FUZZ_CHECK(content.compare(0, after.size(), after) == 0);  // a prefix of the input
  auto again = sc::FileCheckpointArchive::open(path);
  SLUIS_FUZZ_CHECK(again.has_value());
  SLUIS_FUZZ_CHECK(again->count() == archive->count());
  SLUIS_FUZZ_CHECK(again->alert_count() == archive->alert_count());
  SLUIS_FUZZ_CHECK(read_all(path) == after);
  const auto all = again->recent(1U << 20U);
  SLUIS_FUZZ_CHECK(all.has_value() && all->size() == again->count());
  const auto alerts = again->recent_alerts(1U << 20U);
  SLUIS_FUZZ_CHECK(alerts.has_value() && alerts->size() == again->alert_count());
  const auto newest = again->newest();
  SLUIS_FUZZ_CHECK(newest.has_value() && newest->has_value() == !all->empty());
  if (!all->empty()) {
    SLUIS_FUZZ_CHECK((*newest)->size == all->back().size && (*newest)->note == all->back().note);
    for (std::size_t i = 1; i < all->size(); ++i)
      SLUIS_FUZZ_CHECK((*all)[i - 1].size <= (*all)[i].size);
  }
}

void fuzz_qr(std::string_view text) {
  auto q = sc::encode_qr(text);
  SLUIS_FUZZ_CHECK(q.has_value() == (text.size() <= 213));
  if (!q) return;
  const std::size_t n = q->size();
  SLUIS_FUZZ_CHECK(q->version() >= 1 && q->version() <= 10);
  SLUIS_FUZZ_CHECK(n == static_cast<std::size_t>(17 + 4 * q->version()));
  for (const auto& [cx, cy] :
       std::array<std::pair<std::size_t, std::size_t>, 3>{{{3, 3}, {n - 4, 3}, {3, n - 4}}}) {
    for (std::size_t dy = 0; dy < 7; ++dy)
      for (std::size_t dx = 0; dx < 7; ++dx) {
        const std::size_t x = cx - 3 + dx, y = cy - 3 + dy;
        const std::size_t ring = std::max(dx > 3 ? dx - 3 : 3 - dx, dy > 3 ? dy - 3 : 3 - dy);
        SLUIS_FUZZ_CHECK(q->dark(x, y) == (ring != 2));
      }
  }
  for (std::size_t i = 8; i + 8 < n; ++i)
    SLUIS_FUZZ_CHECK(q->dark(i, 6) == (i % 2 == 0) && q->dark(6, i) == (i % 2 == 0));
  SLUIS_FUZZ_CHECK(q->dark(8, n - 8));
  const auto again = sc::encode_qr(text, q->version());
  SLUIS_FUZZ_CHECK(again.has_value() && again->mask() == q->mask());
  for (std::size_t y = 0; y < n; ++y)
    for (std::size_t x = 0; x < n; ++x)
      SLUIS_FUZZ_CHECK(again->dark(x, y) == q->dark(x, y));
  const auto svg = sc::render_qr_svg(*q, "card-qr", "QR");
  SLUIS_FUZZ_CHECK(svg.has_value());
  std::size_t tags = 0;
  for (const char c : svg->str())
    tags += c == '<' ? 1 : 0;
  SLUIS_FUZZ_CHECK(tags == 6);  // <svg> <title> </title> <rect/> <path/> </svg>
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  fuzz_proof(text);
  fuzz_observe(text);
  fuzz_archive(text);
  fuzz_qr(text);
  return 0;
}
