// C2SP signed notes and tlog-checkpoints: known answers, round trips and strict rejection.
#include "sluis/crypto/encoding.hpp"
#include "sluis/crypto/note.hpp"

#include "vectors.hpp"

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace sluis::crypto;

namespace {

std::vector<std::uint8_t> hex(const std::string& s) {
  if (s.empty()) return {};  // encoding.cpp's from_hex("") trips UBSan (reported); avoid it
  auto r = from_hex(s);
  REQUIRE(r);
  return *r;
}

std::string text_hex(const std::string& s) {
  const auto b = hex(s);
  return {b.begin(), b.end()};
}

SigningKey key_from_seed_hex(const std::string& s) {
  const auto b = hex(s);
  REQUIRE(b.size() == 32);
  return SigningKey::from_seed(
      SecretBytes<32>::copy_of(std::span<const std::uint8_t, 32>(b.data(), 32)));
}

Errc errc_named(const std::string& name) {
  if (name == "bad_signature") return Errc::bad_signature;
  if (name == "malformed") return Errc::malformed;
  if (name == "authentication_failed") return Errc::authentication_failed;
  FAIL("unknown expected error '" << name << "'");
  return Errc::malformed;
}

constexpr std::string_view kOrigin = "sluis.example/audit";

Hash some_root() {
  return leaf_hash(std::string_view("some root"));
}

}  // namespace

TEST_CASE("checkpoint, note and verifier-key known answers (checkpoint_v1.vec)", "[note]") {
  std::map<std::string, int> seen;
  for (const auto& rec : sluis::test::load_vectors("checkpoint_v1.vec")) {
    const std::string& kind = rec.at("kind");
    if (kind == "ed25519") continue;  // sign_test.cpp
    INFO("record " << rec.at("name") << " at line " << rec.line);
    const std::string& expect = rec.at("expect");
    ++seen[kind + ":" + (expect == "ok" ? "ok" : "neg")];
    if (kind == "verifier_key") {
      const std::string text = text_hex(rec.at("text"));
      auto vk = parse_verifier_key(text);
      if (expect == "ok") {
        REQUIRE(vk);
        CHECK(format_verifier_key(*vk) == text);
      } else {
        REQUIRE_FALSE(vk);
        CHECK(vk.error() == make_error_code(errc_named(expect)));
      }
    } else if (kind == "note") {
      auto vk = parse_verifier_key(rec.at("verifier_key"));
      REQUIRE(vk);
      const std::string note = text_hex(rec.at("note"));
      auto opened = open_note(note, *vk);
      if (expect == "ok") {
        REQUIRE(opened);
        CHECK(*opened == text_hex(rec.at("text")));
        // Ed25519 is deterministic: signing the text again gives the published note exactly.
        const auto signer = key_from_seed_hex(rec.at("seed"));
        CHECK(signer.verifying_key() == vk->key);
        CHECK(sign_note(*opened, signer, vk->name).value() == note);
      } else {
        REQUIRE_FALSE(opened);
        CHECK(opened.error() == make_error_code(errc_named(expect)));
      }
    } else if (kind == "checkpoint") {
      const auto key = key_from_seed_hex(rec.at("seed"));
      const std::string note = text_hex(rec.at("note"));
      auto cp = verify_checkpoint(note, key.verifying_key(), rec.at("key_name"), rec.at("origin"));
      if (expect == "ok") {
        REQUIRE(cp);
        CHECK(cp->origin == rec.at("origin"));
        CHECK(std::to_string(cp->size) == rec.at("size"));
        CHECK(to_hex(cp->root) == rec.at("root"));
        std::vector<std::string> ext;
        std::stringstream ss(rec.at("extensions"));
        for (std::string item; std::getline(ss, item, ',');)
          ext.push_back(text_hex(item));
        CHECK(cp->extensions == ext);
        // Records signed by the log key alone must be reproduced byte for byte.
        const auto mine =
            sign_checkpoint(cp->origin, cp->size, cp->root, key, rec.at("key_name"), ext);
        REQUIRE(mine);
        if (rec.at("name").find("witness") == std::string::npos) CHECK(*mine == note);
      } else {
        REQUIRE_FALSE(cp);
        CHECK(cp.error() == make_error_code(errc_named(expect)));
      }
    } else {
      FAIL("unknown kind " << kind);
    }
  }
  CHECK(seen["note:ok"] == 1);
  CHECK(seen["verifier_key:ok"] == 1);
  CHECK(seen["verifier_key:neg"] >= 5);
  CHECK(seen["checkpoint:ok"] >= 5);
  CHECK(seen["checkpoint:neg"] >= 30);
}

TEST_CASE("checkpoint round trip", "[note]") {
  const auto key = SigningKey::generate();
  const Hash root = some_root();
  const auto note = sign_checkpoint(kOrigin, 1234567, root, key, kOrigin);
  REQUIRE(note);
  const std::string expected_body = std::string(kOrigin) + "\n1234567\n" + to_base64(root) +
                                    "\n\n\xE2\x80\x94 " + std::string(kOrigin) + " ";
  CHECK(note->starts_with(expected_body));
  CHECK(note->ends_with("\n"));

  const auto cp = verify_checkpoint(*note, key.verifying_key(), kOrigin, kOrigin);
  REQUIRE(cp);
  CHECK(cp->origin == kOrigin);
  CHECK(cp->size == 1234567);
  CHECK(cp->root == root);
  CHECK(cp->extensions.empty());

  const std::vector<std::string> ext{"ext-a", "ext b"};
  const auto with_ext = sign_checkpoint(kOrigin, 0, empty_root(), key, kOrigin, ext);
  REQUIRE(with_ext);
  CHECK(verify_checkpoint(*with_ext, key.verifying_key(), kOrigin, kOrigin).value().extensions ==
        ext);
}

TEST_CASE("checkpoint rejects: wrong key, origin, name; tampered size and root", "[note]") {
  const auto key = SigningKey::generate();
  const auto other = SigningKey::generate();
  const Hash root = some_root();
  const std::string note = sign_checkpoint(kOrigin, 42, root, key, kOrigin).value();
  const auto& vk = key.verifying_key();

  CHECK(verify_checkpoint(note, other.verifying_key(), kOrigin, kOrigin).error() ==
        make_error_code(Errc::bad_signature));
  CHECK(verify_checkpoint(note, vk, "other.example/audit", kOrigin).error() ==
        make_error_code(Errc::bad_signature));
  CHECK(verify_checkpoint(note, vk, kOrigin, "other.example/audit").error() ==
        make_error_code(Errc::authentication_failed));
  CHECK(verify_checkpoint(note, vk, "bad name", kOrigin).error() ==
        make_error_code(Errc::invalid_argument));

  // Every single-bit change anywhere in the note is rejected.
  for (std::size_t i = 0; i < note.size(); ++i) {
    for (unsigned b = 0; b < 8; ++b) {
      std::string bad = note;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ (1U << b));
      INFO("byte " << i << " bit " << b);
      CHECK_FALSE(verify_checkpoint(bad, vk, kOrigin, kOrigin));
    }
  }
  // Every truncation and every single appended byte is rejected.
  for (std::size_t n = 0; n < note.size(); ++n) {
    CHECK_FALSE(verify_checkpoint(note.substr(0, n), vk, kOrigin, kOrigin));
  }
  for (int c = 0; c < 256; ++c) {
    CHECK_FALSE(verify_checkpoint(note + static_cast<char>(c), vk, kOrigin, kOrigin));
  }
}

TEST_CASE("checkpoint rejects malformed notes", "[note]") {
  const auto key = SigningKey::generate();
  const auto& vk = key.verifying_key();
  const std::string body = std::string(kOrigin) + "\n7\n" + to_base64(some_root()) + "\n";
  const std::string note = sign_note(body, key, kOrigin).value();
  const std::string sig_line = note.substr(body.size() + 1);
  auto rejects = [&](const std::string& text, Errc e) {
    INFO(text);
    const auto r = verify_checkpoint(text, vk, kOrigin, kOrigin);
    REQUIRE_FALSE(r);
    CHECK(r.error() == make_error_code(e));
  };
  REQUIRE(verify_checkpoint(note, vk, kOrigin, kOrigin));

  rejects("", Errc::malformed);
  rejects(body, Errc::malformed);                             // no signatures at all
  rejects(body + "\n", Errc::malformed);                      // blank line, no signatures
  rejects(body + sig_line, Errc::malformed);                  // no blank line
  rejects(note + "\n", Errc::malformed);                      // trailing blank line
  rejects(note + "junk\n", Errc::malformed);                  // trailing non-signature line
  rejects(note.substr(0, note.size() - 1), Errc::malformed);  // no final newline
  std::string crlf;
  for (char c : note)
    crlf += (c == '\n') ? std::string("\r\n") : std::string(1, c);
  rejects(crlf, Errc::malformed);
  rejects(std::string(kMaxNoteSize + 1, 'a'), Errc::malformed);
  // More signature lines than kMaxNoteSignatures (unknown signers, so only the count objects).
  std::string too_many = body + "\n" + sig_line;
  const std::string unknown_line =
      "\xE2\x80\x94 w.example " + sig_line.substr(sig_line.rfind(' ') + 1);
  for (std::size_t i = 0; i < kMaxNoteSignatures; ++i)
    too_many += unknown_line;
  rejects(too_many, Errc::malformed);
  // A second copy of our own signature is refused rather than counted twice.
  rejects(note + sig_line, Errc::bad_signature);
  // Signed, but not a checkpoint body.
  rejects(sign_note("only one line\n", key, kOrigin).value(), Errc::malformed);
  rejects(sign_note(std::string(kOrigin) + "\n007\n" + to_base64(some_root()) + "\n", key, kOrigin)
              .value(),
          Errc::malformed);
  rejects(
      sign_note(std::string(kOrigin) + "\n18446744073709551616\n" + to_base64(some_root()) + "\n",
                key, kOrigin)
          .value(),
      Errc::malformed);
  CHECK(verify_checkpoint(sign_note(std::string(kOrigin) + "\n18446744073709551615\n" +
                                        to_base64(some_root()) + "\n",
                                    key, kOrigin)
                              .value(),
                          vk, kOrigin, kOrigin)
            .value()
            .size == 18446744073709551615ULL);
}

TEST_CASE("unknown signers are ignored; one valid signature from the key is required", "[note]") {
  const auto log = SigningKey::generate();
  const auto witness = SigningKey::generate();
  const std::string body = std::string(kOrigin) + "\n9\n" + to_base64(some_root()) + "\n";
  const std::string by_log = sign_note(body, log, kOrigin).value();
  const std::string by_witness = sign_note(body, witness, "witness.example").value();
  const std::string witness_line = by_witness.substr(body.size() + 1);
  const std::string log_line = by_log.substr(body.size() + 1);

  CHECK(verify_checkpoint(by_log + witness_line, log.verifying_key(), kOrigin, kOrigin));
  CHECK(verify_checkpoint(body + "\n" + witness_line + log_line, log.verifying_key(), kOrigin,
                          kOrigin));
  CHECK(verify_checkpoint(by_witness, log.verifying_key(), kOrigin, kOrigin).error() ==
        make_error_code(Errc::bad_signature));
  // The witness's note verifies under the witness's own key and name.
  auto wk = make_verifier_key("witness.example", witness.verifying_key());
  REQUIRE(wk);
  CHECK(open_note(by_log + witness_line, *wk).value() == body);
  // Same name, different key (key ID differs): ignored, so the log signature still decides.
  const std::string impostor = sign_note(body, witness, kOrigin).value().substr(body.size() + 1);
  CHECK(verify_checkpoint(by_log + impostor, log.verifying_key(), kOrigin, kOrigin));
  CHECK(verify_checkpoint(body + "\n" + impostor, log.verifying_key(), kOrigin, kOrigin).error() ==
        make_error_code(Errc::bad_signature));
}

TEST_CASE("verifier keys: format, parse, key id", "[note]") {
  const auto key = SigningKey::generate();
  const auto vk = make_verifier_key(kOrigin, key.verifying_key());
  REQUIRE(vk);
  CHECK(vk->id == note_key_id(kOrigin, key.verifying_key()));
  const std::string text = format_verifier_key(*vk);
  CHECK(text.starts_with(std::string(kOrigin) + "+"));
  const auto parsed = parse_verifier_key(text);
  REQUIRE(parsed);
  CHECK(parsed->name == vk->name);
  CHECK(parsed->id == vk->id);
  CHECK(parsed->key == vk->key);
  CHECK_FALSE(parse_verifier_key(text + "A"));
  CHECK_FALSE(parse_verifier_key(" " + text));
  CHECK_FALSE(make_verifier_key("", key.verifying_key()));
  CHECK_FALSE(make_verifier_key("a+b", key.verifying_key()));
  CHECK_FALSE(make_verifier_key("a b", key.verifying_key()));
  CHECK_FALSE(make_verifier_key("a\xC2\xA0"
                                "b",
                                key.verifying_key()));  // U+00A0
  CHECK_FALSE(make_verifier_key("a\xE3\x80\x80"
                                "b",
                                key.verifying_key()));                         // U+3000
  CHECK_FALSE(make_verifier_key("a\xC0\xAF", key.verifying_key()));            // overlong '/'
  CHECK(make_verifier_key("gemeente.example/\xC3\xA9", key.verifying_key()));  // é is fine
}

TEST_CASE("signing refuses texts and names that would not verify", "[note]") {
  const auto key = SigningKey::generate();
  CHECK(sign_note("", key, kOrigin).error() == make_error_code(Errc::invalid_argument));
  CHECK_FALSE(sign_note("no final newline", key, kOrigin));
  CHECK_FALSE(sign_note("carriage\r\n", key, kOrigin));
  CHECK_FALSE(sign_note("tab\t\n", key, kOrigin));
  CHECK_FALSE(sign_note("ok\n", key, "two words"));
  CHECK(sign_note("empty lines\n\nare allowed\n", key, kOrigin));
  const auto multi = sign_note("a\n\nb\n", key, kOrigin).value();
  CHECK(open_note(multi, make_verifier_key(kOrigin, key.verifying_key()).value()).value() ==
        "a\n\nb\n");
  CHECK_FALSE(sign_checkpoint("", 1, some_root(), key, kOrigin));
  CHECK_FALSE(sign_checkpoint("two\nlines", 1, some_root(), key, kOrigin));
  const std::vector<std::string> empty_ext{""};
  CHECK(sign_checkpoint(kOrigin, 1, some_root(), key, kOrigin, empty_ext).error() ==
        make_error_code(Errc::invalid_argument));
}
