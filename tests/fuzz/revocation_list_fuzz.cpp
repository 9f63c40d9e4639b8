// Fuzz target: the revocation list text format (RevocationList::parse) the operator edits and
// sluisd reloads, and the serial canonicalisation every certificate check goes through.
//
// Invariants (revocation.hpp): every serial of an accepted list is canonical (upper-case hex, no
// leading zeros, 1–40 digits) and contained; the list's own text form parses back to the same set;
// canonical_serial is idempotent and agrees with contains().
#include "sluis/server/revocation.hpp"

#include "fuzz_support.hpp"

#include <algorithm>
#include <string>

namespace {

namespace gw = sluis::server;

bool is_canonical(std::string_view s) {
  return !s.empty() && s.size() <= 40 && (s == "0" || s.front() != '0') &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  if (auto list = gw::RevocationList::parse(text)) {
    for (const auto& serial : list->serials()) {
      SLUIS_FUZZ_CHECK(is_canonical(serial));
      SLUIS_FUZZ_CHECK(list->contains(serial));
      SLUIS_FUZZ_CHECK(gw::RevocationList::canonical_serial(serial) == serial);
    }
    auto again = gw::RevocationList::parse(list->to_text());
    SLUIS_FUZZ_CHECK(again.has_value() && again->serials() == list->serials());
  }
  // The input as one serial.
  const std::string canonical = gw::RevocationList::canonical_serial(text);
  if (!canonical.empty()) {
    SLUIS_FUZZ_CHECK(is_canonical(canonical));
    SLUIS_FUZZ_CHECK(gw::RevocationList::canonical_serial(canonical) == canonical);
    gw::RevocationList one;
    SLUIS_FUZZ_CHECK(one.add(text).has_value());
    SLUIS_FUZZ_CHECK(one.contains(text) && one.contains(canonical) && one.size() == 1);
  } else {
    gw::RevocationList one;
    SLUIS_FUZZ_CHECK(!one.add(text).has_value());
  }
  return 0;
}
