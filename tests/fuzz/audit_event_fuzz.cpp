// Fuzz target: the canonical audit event encoding (decode_audit_event, encode_audit_event), what
// `sluisctl audit verify` and exports read back from an audit file that may have been tampered
// with.
//
// Every input is decoded as canonical bytes: an accepted encoding must be the one and only
// encoding of its event, so encoding the result gives back the input byte for byte.
// An input that does not start with '{' (so cannot be an encoding) also describes an event after
// that first byte: time u64, action u8, decision u8 (bit 7: break_glass), eight length-prefixed
// texts, a category count and length-prefixed categories. Whatever the encoder accepts, the
// decoder must read back to an equal event (the two agree on every byte the encoder produces).
#include "sluis/audit/event.hpp"

#include "fuzz_support.hpp"

#include <chrono>
#include <string>

namespace {

using sluis::fuzz::ByteReader;

void decode_mode(std::string_view canonical) {
  auto event = sluis::audit::decode_audit_event(canonical);
  if (!event) return;
  auto encoded = sluis::audit::encode_audit_event(*event);
  SLUIS_FUZZ_CHECK(encoded.has_value() && *encoded == canonical);
  SLUIS_FUZZ_CHECK(sluis::audit::parse_audit_action(sluis::audit::to_string(event->action)) == event->action);
  SLUIS_FUZZ_CHECK(sluis::audit::parse_audit_decision(sluis::audit::to_string(event->decision)) == event->decision);
}

void encode_mode(ByteReader& in) {
  sluis::audit::AuditEvent e;
  e.time = sluis::store::Instant(std::chrono::milliseconds(static_cast<std::int64_t>(in.u64())));
  e.action = static_cast<sluis::audit::AuditAction>(in.u8() % 24);
  const std::uint8_t decision = in.u8();
  e.decision = static_cast<sluis::audit::AuditDecision>(decision % 3);
  e.break_glass = (decision & 0x80U) != 0;
  for (auto* s : {&e.partner, &e.worker, &e.role, &e.client, &e.purpose, &e.rule, &e.request_id,
                  &e.owner_partner}) {
    *s = in.text(255);
  }
  const std::size_t categories = in.u8() % 70;
  for (std::size_t i = 0; i < categories && !in.empty(); ++i)
    e.categories.push_back(in.text(32));

  auto encoded = sluis::audit::encode_audit_event(e);
  if (!encoded) return;
  auto decoded = sluis::audit::decode_audit_event(*encoded);
  SLUIS_FUZZ_CHECK(decoded.has_value());
  SLUIS_FUZZ_CHECK(*decoded == e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decode_mode(sluis::fuzz::as_text(data, size));
  if (size > 0 && data[0] != '{') {
    ByteReader in(data + 1, size - 1);
    encode_mode(in);
  }
  return 0;
}
