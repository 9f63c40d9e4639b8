// Writes the generated seed inputs of every fuzz target into tests/fuzz/corpus/<target>/.
//
// Usage: fuzz_make_corpus [CORPUS_DIR]   (default: the source tree's tests/fuzz/corpus)
// Built on demand only (`cmake --build <dir> --target fuzz_make_corpus`); the files it writes are
// committed. Seeds that need the real code (signed checkpoints, card codes, Merkle proofs,
// canonical audit events, the default configuration) are computed with it; the others are
// written out here so every seed has one documented origin. It only writes the files it names:
// regression inputs saved from fuzzing (`regress-*`) and merged inputs are left alone.
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/merkle.hpp"
#include "sluis/crypto/note.hpp"
#include "sluis/audit/event.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/server/config.hpp"
#include "sluis/server/revocation.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace crypto = sluis::crypto;
namespace gw = sluis::server;

fs::path g_root;
std::size_t g_written = 0;

void put(std::string_view target, std::string_view name, std::string_view bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
  ++g_written;
}

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(SLUIS_SOURCE_DIR) + "/" + relative, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", relative.c_str());
    std::exit(1);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T> T must(crypto::Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "seed generation failed: %s\n", what);
    std::exit(1);
  }
  return std::move(*r);
}

// Binary helpers for the ByteReader-driven targets (little-endian u64, raw hashes).
void add_u64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}
void add_hash(std::string& s, const crypto::Hash& h) {
  s.append(reinterpret_cast<const char*>(h.data()), h.size());
}

// ---- card_code -------------------------------------------------------------------------------

crypto::CardSecret secret_filled(std::uint8_t start, std::uint8_t step) {
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>(start + step * i);
  return crypto::CardSecret::copy_of(b);
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

std::string without(std::string s, char drop) {
  std::erase(s, drop);
  return s;
}

void card_code() {
  const std::string zero = crypto::format_card_code(secret_filled(0, 0));
  const std::string ones = crypto::format_card_code(secret_filled(0xff, 0));
  const std::string seq = crypto::format_card_code(secret_filled(1, 1));
  const std::string card0 = crypto::format_card_code(secret_filled(0x11, 0));
  put("card_code", "valid-zero", zero);
  put("card_code", "valid-max", ones);
  put("card_code", "valid-sequence", seq);
  put("card_code", "valid-card0", card0);
  put("card_code", "valid-lowercase", lower(seq));
  put("card_code", "valid-no-dashes", without(seq, '-'));
  std::string spaced = seq;
  for (char& c : spaced)
    if (c == '-') c = ' ';
  put("card_code", "valid-spaces", spaced);
  put("card_code", "valid-odd-grouping", " " + without(seq, '-').insert(5, "--") + " ");

  std::string typo = seq;
  typo[0] = typo[0] == '0' ? '1' : '0';
  put("card_code", "typo-first-symbol", typo);
  std::string swapped = seq;
  std::swap(swapped[1], swapped[2]);
  put("card_code", "typo-adjacent-swap", swapped);
  put("card_code", "short-26-symbols", seq.substr(0, seq.size() - 1));
  put("card_code", "long-28-symbols", seq + "0");
  std::string letter_o = seq;
  letter_o[0] = 'O';
  put("card_code", "letter-o", letter_o);
  std::string letter_z = seq;
  letter_z[4] = 'Z';
  put("card_code", "letter-z", letter_z);
  put("card_code", "tab-separator", without(seq, '-').insert(3, "\t"));
  put("card_code", "non-ascii", "\xc3\xa9" + seq.substr(1));
  put("card_code", "too-long-input", seq + std::string(100, ' '));
  put("card_code", "empty", "");

  // 26 symbols 'Y' (value 30) with the check symbol that makes the sum vanish: the check holds
  // but the value 31^26 - 1 exceeds 2^128 (not a card anyone issued).
  std::uint32_t sum = 0;
  for (std::uint32_t i = 0; i < crypto::kCardDataSymbols; ++i)
    sum += (i + 1) * 30;
  std::uint32_t check = 0;
  while ((sum + crypto::kCardSymbols * check) % crypto::kCardRadix != 0)
    ++check;
  put("card_code", "out-of-range",
      std::string(crypto::kCardDataSymbols, 'Y') + crypto::kCardAlphabet[check]);
  put("card_code", "service-pseudonym",
      crypto::service_pseudonym(secret_filled(0x11, 0), "straat"));
  put("card_code", "service-pseudonym-uppercase", "sp1-" + std::string(64, 'A'));
}

// ---- checkpoint --------------------------------------------------------------------------------

crypto::SigningKey key_filled(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(fill);
  return crypto::SigningKey::from_seed(crypto::SecretBytes<32>::copy_of(seed));
}

void checkpoint() {
  constexpr std::string_view origin = "sluis.example/audit";
  const crypto::SigningKey log = key_filled(0x01);  // the key checkpoint_fuzz.cpp trusts
  const crypto::SigningKey witness = key_filled(0x02);
  crypto::MerkleTree tree;
  for (int i = 0; i < 5; ++i)
    tree.append(crypto::leaf_hash("event " + std::to_string(i)));

  const std::string empty =
      must(crypto::sign_checkpoint(origin, 0, crypto::empty_root(), log, origin), "empty");
  const std::string five = must(crypto::sign_checkpoint(origin, 5, tree.root(), log, origin), "5");
  const std::array<std::string, 2> ext = {"witness-time 1748779200", "extension line"};
  const std::string with_ext =
      must(crypto::sign_checkpoint(origin, 5, tree.root(), log, origin, ext), "ext");
  put("checkpoint", "signed-empty-tree", empty);
  put("checkpoint", "signed-five-leaves", five);
  put("checkpoint", "signed-with-extensions", with_ext);

  // A second (witness) signature on the same text: ignored, the log's must still verify.
  const std::string body =
      must(crypto::format_checkpoint_body({std::string(origin), 5, tree.root(), {}}), "body");
  const std::string cosigned = must(crypto::sign_note(body, witness, "witness.example"), "w");
  const std::string witness_line = cosigned.substr(cosigned.rfind("\n\n") + 2);
  put("checkpoint", "signed-and-witnessed", five + witness_line);
  put("checkpoint", "witness-only", cosigned);
  // Validly signed by the log key, but naming another log.
  put("checkpoint", "other-origin",
      must(crypto::sign_checkpoint("other.example/audit", 5, tree.root(), log, origin), "other"));
  put("checkpoint", "body-only", body);
  put("checkpoint", "body-with-extensions",
      must(crypto::format_checkpoint_body(
               {std::string(origin), 5, tree.root(), {ext.begin(), ext.end()}}),
           "body ext"));

  // Near misses of the signed note.
  std::string tampered = five;
  tampered[origin.size() + 1] = '6';  // size 5 → 6 under the same signature
  put("checkpoint", "tampered-size", tampered);
  put("checkpoint", "duplicate-signature", five + five.substr(five.rfind("\n\n") + 2));
  std::string crlf;
  for (char c : five) {
    if (c == '\n') crlf.push_back('\r');
    crlf.push_back(c);
  }
  put("checkpoint", "crlf-line-ends", crlf);
  put("checkpoint", "no-signature", body + "\n");
  put("checkpoint", "leading-zero-size",
      std::string(origin) + "\n05\n" + crypto::to_base64(tree.root()) + "\n");
  put("checkpoint", "size-overflow",
      std::string(origin) + "\n18446744073709551616\n" + crypto::to_base64(tree.root()) + "\n");
  std::string trailing = five;
  trailing += "trailing garbage\n";
  put("checkpoint", "trailing-garbage", trailing);

  // Verifier keys (the text form a witness configures).
  const auto verifier = must(crypto::make_verifier_key(origin, log.verifying_key()), "verifier");
  const std::string vkey = crypto::format_verifier_key(verifier);
  put("checkpoint", "verifier-key", vkey);
  std::string bad_id = vkey;
  bad_id[origin.size() + 1] = bad_id[origin.size() + 1] == '0' ? '1' : '0';
  put("checkpoint", "verifier-key-wrong-id", bad_id);
  put("checkpoint", "verifier-key-name-with-space",
      "sluis example+" + vkey.substr(origin.size() + 1));
}

// ---- merkle_proof ------------------------------------------------------------------------------

// The same 300-leaf tree merkle_proof_fuzz.cpp builds.
crypto::MerkleTree proof_tree() {
  crypto::MerkleTree t;
  for (int i = 0; i < 300; ++i)
    t.append(crypto::leaf_hash("leaf " + std::to_string(i)));
  return t;
}

std::string raw_seed(std::uint64_t index, std::uint64_t size, std::uint64_t old_size,
                     std::uint64_t new_size, const crypto::Hash& leaf, const crypto::Hash& root,
                     const crypto::Hash& old_root, const crypto::Hash& new_root,
                     const std::vector<crypto::Hash>& proof) {
  std::string s(1, '\0');  // even: raw mode
  add_u64(s, index);
  add_u64(s, size);
  add_u64(s, old_size);
  add_u64(s, new_size);
  s.push_back(static_cast<char>(proof.size()));
  for (const auto* h : {&leaf, &root, &old_root, &new_root})
    add_hash(s, *h);
  for (const auto& h : proof)
    add_hash(s, h);
  return s;
}

std::string real_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint8_t kind,
                      std::uint8_t pos, std::uint8_t bit) {
  std::string s(1, '\x01');  // odd: real-tree mode
  add_u64(s, a);
  add_u64(s, b);
  add_u64(s, c);
  s.push_back(static_cast<char>(kind));
  s.push_back(static_cast<char>(pos));
  s.push_back(static_cast<char>(bit));
  return s;
}

void merkle_proof() {
  const crypto::MerkleTree t = proof_tree();
  const crypto::Hash zero{};
  // An honest inclusion proof (leaf 3 of 7) and an honest consistency proof (6 → 13) in raw form.
  const auto inc = must(t.inclusion_proof(3, 7), "inclusion");
  const auto leaf3 = must(t.node({0, 3}), "leaf");
  const auto root7 = must(t.root_at(7), "root 7");
  put("merkle_proof", "raw-inclusion-3-of-7",
      raw_seed(3, 7, 0, 0, leaf3, root7, crypto::empty_root(), zero, inc));
  const auto con = must(t.consistency_proof(6, 13), "consistency");
  const auto root6 = must(t.root_at(6), "root 6");
  const auto root13 = must(t.root_at(13), "root 13");
  put("merkle_proof", "raw-consistency-6-to-13",
      raw_seed(0, 0, 6, 13, zero, zero, root6, root13, con));
  const auto con_pow2 = must(t.consistency_proof(8, 300), "consistency pow2");
  put("merkle_proof", "raw-consistency-8-to-300",
      raw_seed(0, 0, 8, 300, zero, zero, must(t.root_at(8), "8"), t.root(), con_pow2));
  // Edges: the largest sizes, index at the end, too many hashes, the trivial cases.
  const std::uint64_t max = ~std::uint64_t{0};
  put("merkle_proof", "raw-max-size",
      raw_seed(max - 1, max, max - 1, max, zero, zero, zero, zero, std::vector<crypto::Hash>(64)));
  put("merkle_proof", "raw-65-hashes",
      raw_seed(0, 2, 1, 2, zero, zero, zero, zero, std::vector<crypto::Hash>(65)));
  put("merkle_proof", "raw-index-equals-size", raw_seed(7, 7, 8, 7, leaf3, root7, zero, zero, inc));
  put("merkle_proof", "raw-empty-tree",
      raw_seed(0, 1, 0, 0, crypto::empty_root(), crypto::empty_root(), crypto::empty_root(),
               crypto::empty_root(), {}));
  // Real-tree mode: each mutation kind once, plus sizes that are powers of two and equal sizes.
  for (std::uint8_t kind = 0; kind < 5; ++kind) {
    put("merkle_proof", "real-mutation-" + std::to_string(kind), real_seed(5, 12, 7, kind, 3, 1));
  }
  put("merkle_proof", "real-power-of-two", real_seed(15, 255, 100, 1, 0, 7));
  put("merkle_proof", "real-equal-sizes", real_seed(9, 9, 4, 0, 31, 0));
  put("merkle_proof", "real-one-leaf", real_seed(0, 0, 0, 4, 0, 0));
  put("merkle_proof", "real-whole-tree", real_seed(298, 299, 299, 3, 9, 5));
}

// ---- audit_event -------------------------------------------------------------------------------

void audit_event() {
  sluis::audit::AuditEvent reg;
  reg.time = sluis::store::Instant(std::chrono::milliseconds(1748779200123));
  reg.partner = "ocmw-brussel";
  reg.worker = "ocmw-sw";
  reg.role = "social-worker";
  reg.action = sluis::audit::AuditAction::registration;
  reg.client = "a1" + std::string(26, 'b');
  reg.rule = "registration.identified";
  reg.request_id = "0123456789abcdef0123456789abcdef";
  put("audit_event", "registration", must(sluis::audit::encode_audit_event(reg), "registration"));

  sluis::audit::AuditEvent read = reg;
  read.action = sluis::audit::AuditAction::read;
  read.categories = {"housing"};
  read.purpose = "care-coordination";
  read.decision = sluis::audit::AuditDecision::permit;
  read.rule = "consent.active:5f0c2a3b4d5e6f708192a3b4c5d6e7f8";
  read.owner_partner = "caw-brussel";
  const std::string read_bytes = must(sluis::audit::encode_audit_event(read), "read");
  put("audit_event", "read-permit", read_bytes);

  sluis::audit::AuditEvent glass = read;
  glass.action = sluis::audit::AuditAction::break_glass_start;
  glass.categories = {"health", "mental-health", "addiction"};
  glass.purpose = "emergency";
  glass.decision = sluis::audit::AuditDecision::not_applicable;
  glass.break_glass = true;
  put("audit_event", "break-glass", must(sluis::audit::encode_audit_event(glass), "glass"));

  sluis::audit::AuditEvent deny = read;
  deny.decision = sluis::audit::AuditDecision::deny;
  deny.worker = "mallory \"quoted\" \\ back\tslash";
  deny.rule = "worker.unknown";
  deny.partner = "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80";  // é, €, an emoji: copied as is
  put("audit_event", "deny-escapes-utf8", must(sluis::audit::encode_audit_event(deny), "deny"));

  sluis::audit::AuditEvent op;
  op.time = sluis::store::Instant(std::chrono::milliseconds(-1));
  op.worker = "operator";
  op.action = sluis::audit::AuditAction::unlink;
  put("audit_event", "operator-negative-time", must(sluis::audit::encode_audit_event(op), "op"));

  // Near misses of the canonical form.
  std::string spaced = read_bytes;
  spaced.insert(1, " ");
  put("audit_event", "whitespace", spaced);
  std::string v2 = read_bytes;
  v2[5] = '2';
  put("audit_event", "version-2", v2);
  std::string escaped = read_bytes;
  escaped.replace(escaped.find("housing"), 1, "\\u0068");
  put("audit_event", "needless-escape", escaped);
  put("audit_event", "extra-member", read_bytes.substr(0, read_bytes.size() - 1) + ",\"x\":1}");
  put("audit_event", "unknown-action",
      std::string(read_bytes).replace(read_bytes.find("\"read\""), 6, "\"peek\""));
  put("audit_event", "float-time",
      std::string(read_bytes).replace(read_bytes.find("1748779200123"), 13, "1748779200123.0"));
  // Encoder-side seeds: first byte not '{', then time, action, decision, texts, categories.
  std::string enc = "E";
  add_u64(enc, 1748779200000);
  enc.push_back(2);                        // read
  enc.push_back(static_cast<char>(0x81));  // permit + break_glass
  for (const std::string_view text : {"ocmw-brussel", "ocmw-sw", "nurse", "a1client", "emergency",
                                      "break-glass:x", "0123abcd", "caw-brussel"}) {
    enc.push_back(static_cast<char>(text.size()));
    enc.append(text);
  }
  enc.push_back(2);
  enc.append("\x07health\x0cmental-heal\x7f", 20);
  put("audit_event", "encode-mode", enc);
  std::string enc_ctrl = "E";
  add_u64(enc_ctrl, 0);
  enc_ctrl.push_back(21);
  enc_ctrl.push_back(0);
  enc_ctrl.append("\x03\x01\x1f\"\x02\xc3\xa9", 7);
  put("audit_event", "encode-mode-controls", enc_ctrl);
}

// ---- server_config -----------------------------------------------------------------------------

void server_config() {
  put("server_config", "default", sluis::daemon::default_config_toml());
  put("server_config", "empty", "");
  put("server_config", "minimal",
      "[server]\nport = 0\n\n[metrics]\nport = 0\n\n[paths]\ndata_dir = \"/var/lib/sluis\"\n");
  put("server_config", "ipv6",
      "[server]\nlisten_address = \"::\"\n[metrics]\naddress = \"::1\"\n[tls]\nallow_tls12 = "
      "true\n");
  put("server_config", "metrics-public", "[metrics]\naddress = \"0.0.0.0\"\n");
  put("server_config", "metrics-off-public",
      "[metrics]\nenabled = false\naddress = \"192.0.2.1\"\n");
  put("server_config", "same-ports", "[server]\nport = 9000\n[metrics]\nport = 9000\n");
  put("server_config", "unknown-key", "[server]\nprot = 8443\n");
  put("server_config", "unknown-section", "[servers]\nport = 8443\n");
  put("server_config", "wrong-type", "[limits]\nbody_limit_bytes = \"1MB\"\n");
  put("server_config", "out-of-range",
      "[limits]\nheader_limit_bytes = 512\nidle_timeout_ms = 9\n[server]\nport = 70000\n");
  put("server_config", "bad-toml", "[server\nport = = 1\n");
  put("server_config", "not-a-table", "server = 1\n");
  put("server_config", "log-file",
      "[log]\ndestination = \"../log/sluisd.log\"\nlevel = \"debug\"\n");
  put("server_config", "log-level-bad", "[log]\nlevel = \"verbose\"\n");
  put("server_config", "nul-in-path", std::string("[paths]\nkey_file = \"a\\u0000b\"\n"));
  put("server_config", "host-name", "[server]\nlisten_address = \"localhost\"\n");
  put("server_config", "inline-tables",
      "server = { port = 8080, io_threads = 2 }\nlimits = { max_connections = 1 }\n");
}

// ---- revocation_list ---------------------------------------------------------------------------

void revocation_list() {
  gw::RevocationList list;
  for (const std::string_view s :
       {"1A2B3C", "00ff", "0", "7fffffffffffffffffffffffffffffffffffffff"})
    (void)list.add(s);
  put("revocation_list", "saved", list.to_text());
  put("revocation_list", "empty", "");
  put("revocation_list", "comments",
      "# revoked partner certificates\n\n1A2B3C  # caw-brussel 2025-06-01\n  0FF\t# old\n");
  put("revocation_list", "crlf", "# list\r\n1a2b\r\n\r\n3C4D\r\n");
  put("revocation_list", "lowercase-leading-zeros", "000000abcdef\n");
  put("revocation_list", "41-digits", std::string(41, '1') + "\n");
  put("revocation_list", "not-hex", "12G4\n");
  put("revocation_list", "sign", "-1F\n");
  put("revocation_list", "no-final-newline", "ABCDEF");
  put("revocation_list", "comment-glued", "ABCDEF#partner\n");
}

// ---- rule_pack ---------------------------------------------------------------------------------

constexpr std::string_view kMinimalPack = R"toml([pack]
name = "minimal"
version = "1"

[consent]
max-duration-days = 30

[break-glass]
max-duration-minutes = 60
reason-min-chars = 5
reason-max-chars = 50

[partner-types.shelter]
label = "Night shelter"
[partner-types.clinic]
label = "Clinic"

[roles.worker]
label = "Worker"
may-record-consent = true
may-erase-client = false

[categories.housing]
label = "Housing"
sensitivity = "sensitive"
identifying = false
restricted = false
[categories.status]
label = "Residence status"
sensitivity = "special"
identifying = false
restricted = true

[purposes.care]
label = "Care"
[purposes.emergency]
label = "Emergency"

[retention]
housing = 365
status = 30

[matrix.worker]
housing = { consent = ["care"], consent-or-break-glass = ["emergency"] }

[disclosure.shelter]
require-client-link = true
break-glass = false
to.clinic = ["housing"]

[disclosure.clinic]
require-client-link = false
break-glass = true
to.shelter = "all-non-restricted"
)toml";

std::string replace_once(std::string s, std::string_view from, std::string_view to) {
  const auto at = s.find(from);
  if (at == std::string::npos) {
    std::fprintf(stderr, "seed generation: '%s' not found\n", std::string(from).c_str());
    std::exit(1);
  }
  return s.replace(at, from.size(), to);
}

void rule_pack() {
  put("rule_pack", "brussels-welfare.toml", read_source("policy/packs/brussels-welfare.toml"));
  const std::string m(kMinimalPack);
  put("rule_pack", "minimal.toml", m);
  put("rule_pack", "restricted-disclosed.toml",
      replace_once(m, "to.clinic = [\"housing\"]", "to.clinic = [\"housing\", \"status\"]"));
  put("rule_pack", "reason-bounds-swapped.toml",
      replace_once(m, "reason-min-chars = 5", "reason-min-chars = 500"));
  put("rule_pack", "missing-retention.toml", replace_once(m, "status = 30\n", ""));
  put("rule_pack", "unknown-purpose.toml",
      replace_once(m, "consent = [\"care\"]", "consent = [\"care\", \"fun\"]"));
  put("rule_pack", "duplicate-purpose.toml",
      replace_once(m, "consent = [\"care\"]", "consent = [\"care\", \"care\"]"));
  put("rule_pack", "bad-name.toml", replace_once(m, "[roles.worker]", "[roles.Worker_1]"));
  put("rule_pack", "missing-section.toml",
      replace_once(m, "[consent]\nmax-duration-days = 30\n", ""));
  put("rule_pack", "unknown-top-level.toml", m + "\n[extras]\nx = 1\n");
  put("rule_pack", "not-toml.toml", replace_once(m, "[pack]", "[pack"));
  put("rule_pack", "wrong-types.toml",
      replace_once(m, "identifying = false\nrestricted = false",
                   "identifying = \"no\"\nrestricted = 0"));
  put("rule_pack", "wildcard-name.toml",
      replace_once(m, "[purposes.care]", "[purposes.all-non-restricted]"));
  put("rule_pack", "empty.toml", "");
}

// ---- strict_json -------------------------------------------------------------------------------

void strict_json() {
  put("strict_json", "register-identified.json",
      R"({"identifier":{"scheme":"national-register","value":"85.07.31-003.28"}})");
  put("strict_json", "fragment.json",
      R"({"category":"housing","fields":{"situation":"night shelter","since":"2025-03"},"supersedes":"00112233445566778899aabbccddeeff"})");
  put("strict_json", "break-glass.json",
      R"({"categories":["health","mental-health"],"reason":"Client found unconscious, medication unknown","minutes":60})");
  put("strict_json", "numbers.json",
      R"([0,-0,1e308,-1.5E-300,18446744073709551615,-9223372036854775808,0.1,1e400])");
  put("strict_json", "escapes.json", R"({"a\"b":"\u00e9\ud83d\ude00\n\t\/","":null,"t":true})");
  put("strict_json", "utf8.json", "{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}");
  put("strict_json", "depth-16.json", std::string(16, '[') + std::string(16, ']'));
  put("strict_json", "depth-17.json", std::string(16, '[') + "{\"a\":1}" + std::string(16, ']'));
  put("strict_json", "duplicate.json", R"({"a":1,"b":{"c":2},"a":3})");
  put("strict_json", "duplicate-escaped.json", R"({"ab":1,"a\u0062":2})");
  put("strict_json", "duplicate-nested.json", R"({"a":{"x":1,"x":2}})");
  put("strict_json", "lone-surrogate.json", R"(["\udc00"])");
  put("strict_json", "overlong-utf8.json", "[\"\xc0\xaf\"]");
  put("strict_json", "trailing-comma.json", R"({"a":[1,2,],})");
  put("strict_json", "comment.json", "{/* c */\"a\":1}");
  put("strict_json", "two-texts.json", "{} {}");
  put("strict_json", "bom.json", "\xef\xbb\xbf{}");
  put("strict_json", "scalar.json", "\"just a string\"");
}

// ---- consent_json ------------------------------------------------------------------------------

void consent_json() {
  const std::string evidence =
      R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw","role":"social-worker"},)"
      R"("channel":"in-person","language":"nl","recorded_at":"2025-05-01T09:30:00Z"})";
  const std::string provision =
      R"({"grantee":{"partner":"caw-brussel"},"categories":["housing","income"],)"
      R"("purposes":["care-coordination"],"period":{"start":"2025-05-01T00:00:00Z","end":"2026-05-01T00:00:00Z"}})";
  const std::string basic =
      R"({"id":"c-1","status":"active","legal_basis":"consent","provisions":[)" + provision + "]," +
      evidence + "}";
  put("consent_json", "basic.json", basic);
  put("consent_json", "full.json",
      R"({"id":"c-2","status":"revoked","revocation":{"at":"2025-06-01T10:00:00Z","by":{"partner":"ocmw-brussel","worker":"ocmw-coord"}},)"
      R"("legal_basis":"vital-interest","provisions":[)"
      R"({"grantee":{"partner_type":"home-care","role":"nurse"},"categories":["all-non-restricted","health"],)"
      R"("purposes":["care-coordination","emergency"],"period":{"start":"2025-01-01T00:00:00Z","end":"2025-12-31T23:59:59Z"},)"
      R"("except":[{"partner":"thuiszorg"},{"partner":"caw-brussel","worker":"caw-sw"},{"category":"addiction"}]},)"
      R"({"grantee":{"partner":"caw-brussel"},"categories":["residence-status"],"purposes":["referral"],)"
      R"("period":{"start":"2025-05-01T00:00:00Z","end":"2025-08-01T00:00:00Z"}}],)"
      R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw","role":"social-worker"},)"
      R"("channel":"other","channel_note":"by phone, confirmed by letter","language":"fr","recorded_at":"2025-05-01T09:30:00Z"},)"
      R"("representative":{"reference":"contact-17","relationship":"court-appointed-administrator"}})");
  put("consent_json", "unknown-member.json",
      replace_once(basic, "\"legal_basis\"", "\"legal_bassis\""));
  put("consent_json", "bad-time.json",
      replace_once(basic, "2026-05-01T00:00:00Z", "2026-02-30T00:00:00Z"));
  put("consent_json", "missing-end.json",
      replace_once(basic, ",\"end\":\"2026-05-01T00:00:00Z\"", ""));
  put("consent_json", "null-end.json", replace_once(basic, "\"2026-05-01T00:00:00Z\"", "null"));
  put("consent_json", "duplicate-category.json",
      replace_once(basic, "[\"housing\",\"income\"]", "[\"housing\",\"housing\"]"));
  put("consent_json", "unknown-category.json", replace_once(basic, "\"income\"", "\"shoe-size\""));
  put("consent_json", "revoked-without-revocation.json",
      replace_once(basic, "\"active\"", "\"revoked\""));
  put("consent_json", "bad-id.json", replace_once(basic, "\"c-1\"", "\"c 1\""));
  put("consent_json", "break-glass-grant.json",
      R"({"id":"g-1","partner":"ocmw-brussel","worker":"ocmw-sw","categories":["contact","appointment"],)"
      R"("reason":"Client collapsed in the waiting room; we need the GP's number","start":"2025-06-01T12:00:00Z",)"
      R"("expiry":"2025-06-01T20:00:00Z","flagged":true})");
  put("consent_json", "break-glass-no-expiry.json",
      R"({"id":"g-2","partner":"ocmw-brussel","worker":"ocmw-sw","categories":["contact"],"reason":"x","start":"2025-06-01T12:00:00Z"})");
}

// ---- http_request ------------------------------------------------------------------------------

void http_request() {
  put("http_request", "get-healthz", "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "post-json",
      "POST /v1/clients HTTP/1.1\r\nHost: gateway.example.be:8443\r\nSluis-Worker: ocmw-sw\r\n"
      "Content-Type: application/json; charset=utf-8\r\nContent-Length: 58\r\n"
      "X-Request-Id: req-42\r\n\r\n"
      R"({"identifier":{"scheme":"case-number","value":"case-17"}})");
  put("http_request", "get-dossier-query",
      "GET /v1/clients/p1abcdefghijklmnopqrstuvwx/dossier?category=housing&lang=nl HTTP/1.1\r\n"
      "Host: gw\r\nSluis-Worker: caw-sw\r\nSluis-Purpose: care-coordination\r\n"
      "Accept: application/json\r\nAccept-Language: nl-BE, fr;q=0.8\r\n\r\n");
  put("http_request", "chunked",
      "POST /v1/links HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n");
  put("http_request", "percent-encoded",
      "GET /v1/clients/p1%61bc/consents/ab%2Dcd/receipt?lang=en&x=a%20b HTTP/1.1\r\nHost: "
      "gw\r\n\r\n");
  put("http_request", "encoded-slash", "GET /v1/a%2Fb HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "dot-segment", "GET /v1/%2e%2e/x HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "double-slash", "GET /v1//clients/ HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "duplicate-query", "GET /v1?a=1&a=2 HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "http10-no-host", "GET / HTTP/1.0\r\n\r\n");
  put("http_request", "http11-no-host", "GET / HTTP/1.1\r\n\r\n");
  put("http_request", "two-hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  put("http_request", "post-no-length", "POST /v1/clients HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "wrong-media-type",
      "POST /v1/clients HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
      "\r\n{}");
  put("http_request", "length-and-chunked",
      "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/json\r\n\r\n0\r\n\r\n");
  put("http_request", "duplicate-worker",
      "GET / HTTP/1.1\r\nHost: gw\r\nSluis-Worker: a\r\nsluis-worker: b\r\n\r\n");
  put("http_request", "bad-request-id",
      "GET / HTTP/1.1\r\nHost: gw\r\nX-Request-Id: has space\r\n\r\n");
  put("http_request", "body-too-large-tight",
      "POST /v1/x HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
      "\r\n" +
          std::string(100, ' '));
  put("http_request", "incomplete-body",
      "POST /v1/x HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
      "\r\n{}");
  put("http_request", "pipelined",
      "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\nGET /other HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "absolute-form", "GET http://gw/healthz HTTP/1.1\r\nHost: gw\r\n\r\n");
  put("http_request", "obs-fold", "GET / HTTP/1.1\r\nHost: gw\r\nAccept: a,\r\n b\r\n\r\n");
  put("http_request", "http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  put("http_request", "custom-method",
      "BREW /pot HTTP/1.1\r\nHost: gw\r\nContent-Type: application/problem+json\r\n"
      "Content-Length: 1\r\n\r\n1");
}

// ---- api_router --------------------------------------------------------------------------------

void api_router() {
  const std::string json_headers = "Content-Type: application/json\n";
  auto req = [&](std::string_view partner, std::string_view line, std::string_view worker,
                 std::string_view extra_headers, std::string_view body) {
    std::string s(partner);
    s.append("\n").append(line).append("\n");
    if (!worker.empty()) s.append("Sluis-Worker: ").append(worker).append("\n");
    s.append(extra_headers);
    s.append("\n").append(body);
    return s;
  };
  const std::string reg_case = R"({"identifier":{"scheme":"case-number","value":"case-99"}})";
  put("api_router", "healthz", req("ocmw-brussel", "GET /healthz", "", "", ""));
  put("api_router", "register-case-number",
      req("ocmw-brussel", "POST /v1/clients", "ocmw-sw", json_headers, reg_case));
  put("api_router", "register-national-register",
      req("caw-brussel", "POST /v1/clients", "caw-sw", json_headers,
          R"({"identifier":{"scheme":"national-register","value":"90010112395"}})"));
  put("api_router", "register-bis",
      req("caw-brussel", "POST /v1/clients", "caw-sw", json_headers,
          R"({"identifier":{"scheme":"bis","value":"90210112345"}})"));
  put("api_router", "register-anonymous",
      req("straat", "POST /v1/clients", "straat-sw", json_headers,
          R"({"service_pseudonym":"{sp1@straat}"})"));
  put("api_router", "register-anonymous-not-allowed",
      req("ocmw-brussel", "POST /v1/clients", "ocmw-sw", json_headers,
          R"({"service_pseudonym":"{sp1@ocmw-brussel}"})"));
  put("api_router", "add-fragment",
      req("ocmw-brussel", "POST /v1/clients/{c0}/fragments", "ocmw-sw", json_headers,
          R"({"category":"case-note","fields":{"note":"first visit","next":"2025-06-10"}})"));
  put("api_router", "supersede-fragment",
      req("ocmw-brussel", "POST /v1/clients/{c0}/fragments", "ocmw-sw", json_headers,
          R"({"category":"housing","fields":{"situation":"social housing"},"supersedes":"{fragment0}"})"));
  put("api_router", "identifying-on-anonymous",
      req("straat", "POST /v1/clients/{c2}/fragments", "straat-sw", json_headers,
          R"({"category":"identity","fields":{"name":"x"}})"));
  put("api_router", "read-dossier-own",
      req("ocmw-brussel", "GET /v1/clients/{c0}/dossier", "ocmw-sw",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "read-dossier-consented",
      req("caw-brussel", "GET /v1/clients/{c1}/dossier?category=income", "caw-sw",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "read-dossier-no-purpose",
      req("caw-brussel", "GET /v1/clients/{c1}/dossier", "caw-sw", "", ""));
  put("api_router", "read-dossier-stranger",
      req("caw-brussel", "GET /v1/clients/{c0}/dossier", "caw-sw",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "record-consent",
      req("ocmw-brussel", "POST /v1/clients/{c0}/consents", "ocmw-sw", json_headers,
          R"({"legal_basis":"consent","provisions":[{"grantee":{"partner_type":"caw","role":"social-worker"},)"
          R"("categories":["all-non-restricted"],"purposes":["care-coordination","referral"],)"
          R"("period":{"start":"2025-06-01T00:00:00Z","end":"2026-06-01T00:00:00Z"},)"
          R"("except":[{"category":"case-note"},{"partner":"caw-brussel","worker":"caw-nurse"}]}],)"
          R"("evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"ocmw-sw","role":"social-worker"},)"
          R"("channel":"other","channel_note":"<b>by phone</b> & letter","language":"en","recorded_at":"2025-06-01T11:00:00Z"},)"
          R"("representative":{"reference":"rep-1","relationship":"trusted-person"}})"));
  put("api_router", "record-consent-admin-refused",
      req("ocmw-brussel", "POST /v1/clients/{c0}/consents", "ocmw-admin", json_headers,
          R"({"legal_basis":"consent","provisions":[],"evidence":{"recorded_by":{"partner":"ocmw-brussel",)"
          R"("worker":"ocmw-admin","role":"admin"},"channel":"in-person","language":"nl","recorded_at":"2025-06-01T11:00:00Z"}})"));
  put("api_router", "list-consents",
      req("caw-brussel", "GET /v1/clients/{c1}/consents", "caw-sw",
          "Sluis-Purpose: administration\n", ""));
  put("api_router", "consent-receipt",
      req("ocmw-brussel", "GET /v1/clients/{c1}/consents/{consent0}/receipt?lang=fr", "ocmw-sw",
          "Sluis-Purpose: administration\n", ""));
  put("api_router", "consent-receipt-accept-language",
      req("caw-brussel", "GET /v1/clients/{c1}/consents/{consent0}/receipt", "caw-sw",
          "Sluis-Purpose: administration\nAccept-Language: en-GB, nl;q=0.5\n", ""));
  put("api_router", "revoke-consent",
      req("ocmw-brussel", "DELETE /v1/clients/{c1}/consents/{consent0}", "ocmw-sw", "", ""));
  put("api_router", "break-glass",
      req("ocmw-brussel", "POST /v1/clients/{c1}/break-glass", "ocmw-coord", json_headers,
          R"({"categories":["contact","appointment"],"reason":"Client unconscious at the office, need contacts","minutes":120})"));
  put("api_router", "break-glass-short-reason",
      req("caw-brussel", "POST /v1/clients/{c1}/break-glass", "caw-nurse", json_headers,
          R"({"categories":["health"],"reason":"urgent","minutes":480})"));
  put("api_router", "link-card",
      req("caw-brussel", "POST /v1/links", "caw-sw", json_headers,
          R"({"own_pseudonym":"{sp0@caw-brussel}","first_service":"straat",)"
          R"("first_pseudonym":"{sp0@straat}","consent_reference":"paper-form-2025-06-01"})"));
  put("api_router", "link-unknown-card",
      req("caw-brussel", "POST /v1/links", "caw-sw", json_headers,
          R"({"own_pseudonym":"{sp1@caw-brussel}","first_service":"straat",)"
          R"("first_pseudonym":"{sp1@straat}","consent_reference":"x"})"));
  put("api_router", "access-report",
      req("ocmw-brussel", "GET /v1/clients/{c1}/access-report?lang=nl", "ocmw-sw",
          "Sluis-Purpose: administration\n", ""));
  put("api_router", "erase-client",
      req("ocmw-brussel", "DELETE /v1/clients/{c0}", "ocmw-coord", "", ""));
  put("api_router", "erase-client-not-allowed",
      req("ocmw-brussel", "DELETE /v1/clients/{c0}", "ocmw-sw", "", ""));
  put("api_router", "unknown-partner",
      req("nobody", "POST /v1/clients", "x", json_headers, reg_case));
  put("api_router", "revoked-partner",
      req("thuiszorg", "GET /v1/clients/{c3}/dossier", "thuis-nurse",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "inactive-worker",
      req("ocmw-brussel", "GET /v1/clients/{c0}/dossier", "ocmw-old",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "unknown-role",
      req("ocmw-brussel", "GET /v1/clients/{c0}/dossier", "ocmw-janitor",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "no-worker",
      req("ocmw-brussel", "POST /v1/clients", "", json_headers, reg_case));
  put("api_router", "wrong-media-type",
      req("ocmw-brussel", "POST /v1/clients", "ocmw-sw", "Content-Type: text/plain\n", reg_case));
  put("api_router", "malformed-json",
      req("ocmw-brussel", "POST /v1/clients", "ocmw-sw", json_headers, R"({"identifier":)"));
  put("api_router", "duplicate-key",
      req("ocmw-brussel", "POST /v1/clients", "ocmw-sw", json_headers,
          R"({"identifier":{"scheme":"case-number","value":"a","value":"b"}})"));
  put("api_router", "not-an-object",
      req("ocmw-brussel", "POST /v1/clients/{c0}/fragments", "ocmw-sw", json_headers, "[1,2]"));
  put("api_router", "unknown-query",
      req("ocmw-brussel", "GET /v1/clients/{c0}/dossier?page=2", "ocmw-sw",
          "Sluis-Purpose: care-coordination\n", ""));
  put("api_router", "method-not-allowed",
      req("ocmw-brussel", "PUT /v1/clients/{c0}", "ocmw-sw", json_headers, "{}"));
  put("api_router", "not-found", req("ocmw-brussel", "GET /v1/clients", "ocmw-sw", "", ""));
  put("api_router", "client-request-id",
      req("ocmw-brussel", "GET /v1/clients/{c0}/consents", "ocmw-sw",
          "Sluis-Purpose: referral\nX-Request-Id: partner-req-1\n", ""));
}

}  // namespace

int main(int argc, char** argv) {
  g_root = argc > 1 ? fs::path(argv[1]) : fs::path(SLUIS_FUZZ_CORPUS_DIR);
  card_code();
  checkpoint();
  merkle_proof();
  audit_event();
  server_config();
  revocation_list();
  rule_pack();
  strict_json();
  consent_json();
  http_request();
  api_router();
  std::printf("wrote %zu seed files under %s\n", g_written, g_root.c_str());
  return 0;
}
