// Fuzz target: the console's WebAuthn parsers (strict CBOR, authenticatorData, clientDataJSON,
// COSE keys) on arbitrary bytes, checking what cbor.hpp and webauthn.hpp promise about what they
// accept — beyond "no crash": a decoded item re-encodes to bytes that decode to the same item, maps
// have unique integer/text keys, text is UTF-8, limits hold, and authenticatorData's parts match
// its flags.
//
// Input: any bytes; every parser sees the whole input (the seeds are attestation objects,
// authenticator data, client data and COSE keys from tests/vectors/webauthn/).
#include "sluis/console/cbor.hpp"
#include "sluis/console/utf8.hpp"
#include "sluis/console/webauthn.hpp"

#include "fuzz_support.hpp"

#include <vector>

namespace {

namespace sc = sluis::console;

// Shortest-form re-encoding (RFC 8949 §4.2.1 heads), definite lengths, entries in input order.
void head(std::vector<std::uint8_t>& out, unsigned major, std::uint64_t n) {
  const auto m = static_cast<std::uint8_t>(major << 5U);
  if (n < 24) {
    out.push_back(static_cast<std::uint8_t>(m | n));
    return;
  }
  unsigned bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x100000000ULL ? 4 : 8;
  out.push_back(static_cast<std::uint8_t>(m | (bytes == 1   ? 24
                                               : bytes == 2 ? 25
                                               : bytes == 4 ? 26
                                                            : 27)));
  for (unsigned i = bytes; i-- > 0;)
    out.push_back(static_cast<std::uint8_t>(n >> (8U * i)));
}

void encode(std::vector<std::uint8_t>& out, const sc::CborValue& v) {
  using K = sc::CborValue::Kind;
  switch (v.kind) {
  case K::integer:
    if (v.integer >= 0)
      head(out, 0, static_cast<std::uint64_t>(v.integer));
    else
      head(out, 1, static_cast<std::uint64_t>(-(v.integer + 1)));
    return;
  case K::bytes:
    head(out, 2, v.bytes.size());
    out.insert(out.end(), v.bytes.begin(), v.bytes.end());
    return;
  case K::text:
    head(out, 3, v.text.size());
    out.insert(out.end(), v.text.begin(), v.text.end());
    return;
  case K::array:
    head(out, 4, v.items.size());
    for (const auto& i : v.items)
      encode(out, i);
    return;
  case K::map:
    head(out, 5, v.entries.size());
    for (const auto& [k, x] : v.entries) {
      encode(out, k);
      encode(out, x);
    }
    return;
  case K::boolean: out.push_back(v.boolean ? 0xf5 : 0xf4); return;
  case K::null: out.push_back(0xf6); return;
  }
}

// Invariants of an accepted item, walked to `depth` (the top item is depth 1).
void check_item(const sc::CborValue& v, const sc::CborLimits& limits, std::size_t depth) {
  using K = sc::CborValue::Kind;
  if (v.kind == K::array || v.kind == K::map) SLUIS_FUZZ_CHECK(depth <= limits.max_depth);
  SLUIS_FUZZ_CHECK(v.bytes.size() <= limits.max_string_bytes);
  SLUIS_FUZZ_CHECK(v.text.size() <= limits.max_string_bytes);
  SLUIS_FUZZ_CHECK(v.items.size() <= limits.max_items);
  SLUIS_FUZZ_CHECK(v.entries.size() <= limits.max_items);
  if (v.kind == K::text) SLUIS_FUZZ_CHECK(sc::is_valid_utf8(v.text));
  for (const auto& i : v.items)
    check_item(i, limits, depth + 1);
  for (std::size_t a = 0; a < v.entries.size(); ++a) {
    const auto& key = v.entries[a].first;
    SLUIS_FUZZ_CHECK(key.kind == K::integer || key.kind == K::text);
    for (std::size_t b = 0; b < a; ++b)
      SLUIS_FUZZ_CHECK(!(v.entries[b].first == key));
    check_item(key, limits, depth + 1);
    check_item(v.entries[a].second, limits, depth + 1);
  }
}

void decode_with(std::span<const std::uint8_t> in, const sc::CborLimits& limits) {
  std::size_t used = 0;
  auto prefix = sc::cbor_decode_prefix(in, used, limits);
  auto whole = sc::cbor_decode(in, limits);
  if (!prefix) {
    SLUIS_FUZZ_CHECK(used == 0 && whole.has_error() && whole.error() == prefix.error());
    return;
  }
  SLUIS_FUZZ_CHECK(used >= 1 && used <= in.size());
  SLUIS_FUZZ_CHECK(whole.has_value() == (used == in.size()));
  if (whole) SLUIS_FUZZ_CHECK(*whole == *prefix);
  check_item(*prefix, limits, 1);
  std::vector<std::uint8_t> again;
  encode(again, *prefix);
  SLUIS_FUZZ_CHECK(again.size() <= used);  // shortest heads: never longer than the input
  auto redecoded = sc::cbor_decode(again, limits);
  SLUIS_FUZZ_CHECK(redecoded.has_value() && *redecoded == *prefix);
}

void check_auth_data(std::span<const std::uint8_t> in) {
  auto ad = sc::parse_authenticator_data(in);
  if (!ad) return;
  SLUIS_FUZZ_CHECK(in.size() >= 37);
  SLUIS_FUZZ_CHECK(ad->attested.has_value() == ad->flags.attested_credential_data);
  SLUIS_FUZZ_CHECK(ad->extensions.has_value() == ad->flags.extension_data);
  SLUIS_FUZZ_CHECK(!ad->flags.backup_state || ad->flags.backup_eligible);
  if (ad->attested) {
    SLUIS_FUZZ_CHECK(!ad->attested->credential_id.empty());
    SLUIS_FUZZ_CHECK(ad->attested->credential_id.size() <= sc::kMaxCredentialIdBytes);
    auto key = sc::cbor_decode(ad->attested->cose_key);
    SLUIS_FUZZ_CHECK(key.has_value() && key->kind == sc::CborValue::Kind::map);
    (void)sc::parse_cose_key(ad->attested->cose_key);
  }
  if (ad->extensions) SLUIS_FUZZ_CHECK(ad->extensions->kind == sc::CborValue::Kind::map);
}

void check_client_data(std::span<const std::uint8_t> in) {
  auto cd = sc::parse_client_data(in);
  if (!cd) return;
  SLUIS_FUZZ_CHECK(in.size() <= sc::kMaxClientDataBytes);
  for (const auto* s : {&cd->type, &cd->challenge, &cd->origin})
    SLUIS_FUZZ_CHECK(sc::is_valid_utf8(*s));
  if (cd->top_origin) SLUIS_FUZZ_CHECK(sc::is_valid_utf8(*cd->top_origin));
}

void check_cose_key(std::span<const std::uint8_t> in) {
  auto key = sc::parse_cose_key(in);
  if (!key) return;
  if (key->algorithm == sc::CoseAlgorithm::es256)
    SLUIS_FUZZ_CHECK(key->raw.size() == 65 && key->raw[0] == 0x04);
  else
    SLUIS_FUZZ_CHECK(key->algorithm == sc::CoseAlgorithm::eddsa && key->raw.size() == 32);
  // Any signature over any message: refused or accepted, never a crash or another error.
  const std::uint8_t junk[72] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
  auto v =
      sc::verify_signature(*key, in, {junk, key->algorithm == sc::CoseAlgorithm::es256 ? 8U : 64U});
  SLUIS_FUZZ_CHECK(v.has_error() && (v.error() == sc::WebauthnErrc::signature_invalid ||
                                     v.error() == sc::WebauthnErrc::signature_malformed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  decode_with(in, sc::CborLimits{});
  sc::CborLimits tight;
  tight.max_depth = 2;
  tight.max_string_bytes = 8;
  tight.max_items = 3;
  decode_with(in, tight);
  check_auth_data(in);
  check_client_data(in);
  check_cose_key(in);
  // Every leading part of the input as authenticator data: the optional parts end where they say.
  if (size > 37) check_auth_data(in.first(size - 1));
  return 0;
}
