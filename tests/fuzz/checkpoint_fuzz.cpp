// Fuzz target: C2SP signed notes and tlog-checkpoints (verify_checkpoint, open_note,
// parse_checkpoint_body) and verifier keys (parse_verifier_key): what a witness or a DPO's tool
// reads from outside.
//
// Every input goes to all four parsers. The notes are checked against a fixed log key (seed
// 0x01 × 32, name "sluis.example/audit"), the key the seed corpus was signed with
// (tools/make_corpus.cpp), so valid signatures and their near misses are in reach.
// Invariants (note.hpp): the parsers are strict, so one value has one spelling — a parsed
// checkpoint body formats back to the same bytes, a parsed verifier key formats back to the same
// text; a verified checkpoint is exactly the body of the opened note; a note that verifies under
// the key and origin opens under the key's verifier.
#include "sluis/crypto/note.hpp"

#include "fuzz_support.hpp"

#include <array>
#include <string>

namespace {

namespace crypto = sluis::crypto;

constexpr std::string_view kOrigin = "sluis.example/audit";

const crypto::VerifyingKey& log_key() {
  static const crypto::VerifyingKey key = [] {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(0x01);
    return crypto::SigningKey::from_seed(crypto::SecretBytes<32>::copy_of(seed)).verifying_key();
  }();
  return key;
}

const crypto::NoteVerifierKey& log_verifier() {
  static const crypto::NoteVerifierKey verifier = [] {
    auto v = crypto::make_verifier_key(kOrigin, log_key());
    if (!v) sluis::fuzz::invariant_failed("the log's verifier key builds", __FILE__, __LINE__);
    return *v;
  }();
  return verifier;
}

bool same_checkpoint(const crypto::Checkpoint& a, const crypto::Checkpoint& b) {
  return a.origin == b.origin && a.size == b.size && a.root == b.root &&
         a.extensions == b.extensions;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);

  // The body alone, as a checkpoint text.
  if (auto body = crypto::parse_checkpoint_body(text)) {
    auto formatted = crypto::format_checkpoint_body(*body);
    SLUIS_FUZZ_CHECK(formatted.has_value() && *formatted == text);
  }

  // The whole note under the log's key.
  auto opened = crypto::open_note(text, log_verifier());
  auto verified = crypto::verify_checkpoint(text, log_key(), kOrigin, kOrigin);
  if (verified) {
    SLUIS_FUZZ_CHECK(opened.has_value());
    auto body = crypto::parse_checkpoint_body(*opened);
    SLUIS_FUZZ_CHECK(body.has_value() && same_checkpoint(*body, *verified));
    SLUIS_FUZZ_CHECK(verified->origin == kOrigin);
  } else if (opened) {
    // Signed by the log but not a checkpoint of this log: the text is what fails.
    SLUIS_FUZZ_CHECK(opened->size() < text.size() && text.starts_with(*opened));
    auto body = crypto::parse_checkpoint_body(*opened);
    SLUIS_FUZZ_CHECK(!body || body->origin != kOrigin);
  }
  // Expecting another log's origin, a checkpoint of this log is refused as another log's.
  auto other = crypto::verify_checkpoint(text, log_key(), kOrigin, "other.example/audit");
  if (verified) {
    SLUIS_FUZZ_CHECK(!other.has_value() && other.error() == crypto::Errc::authentication_failed);
  }
  if (other) SLUIS_FUZZ_CHECK(other->origin == "other.example/audit");

  // A verifier key line.
  if (auto verifier = crypto::parse_verifier_key(text)) {
    SLUIS_FUZZ_CHECK(crypto::format_verifier_key(*verifier) == text);
    SLUIS_FUZZ_CHECK(crypto::is_valid_key_name(verifier->name));
    SLUIS_FUZZ_CHECK(verifier->id == crypto::note_key_id(verifier->name, verifier->key));
  }
  (void)crypto::is_valid_key_name(text);
  return 0;
}
