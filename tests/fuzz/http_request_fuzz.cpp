// Fuzz target: raw HTTP/1.x request bytes through the server's own parser (parse_http_request)
// and request-targets through parse_target, checking what http.hpp promises about the results.
//
// Input: the bytes a client could send on a connection. Each input is parsed twice, under the
// default limits and under tight ones (so every limit's refusal path is reachable with short
// inputs); the first line alone is also parsed as a request-target.
#include "sluis/server/http.hpp"

#include "fuzz_support.hpp"

#include <algorithm>
#include <string>

namespace {

namespace gw = sluis::server;

bool printable(std::string_view s, bool allow_space) {
  return std::all_of(s.begin(), s.end(), [allow_space](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u > 0x20 && u < 0x7f) || (allow_space && (u == ' ' || u == '\t'));
  });
}

// A decoded path segment never carries a separator or an escape ('\\' is refused only when
// percent-encoded, as http.hpp documents), and is never "." or "..".
bool safe_segment(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && printable(s, false) &&
         s.find_first_of("/%") == std::string_view::npos;
}

// The promises of parse_target about a request it accepted (http.hpp).
void check_target(const gw::HttpRequest& r, const gw::RequestLimits& limits) {
  SLUIS_FUZZ_CHECK(!r.path.empty() && r.path.front() == '/');
  SLUIS_FUZZ_CHECK(r.path.size() <= limits.target_bytes);
  SLUIS_FUZZ_CHECK(printable(r.path, false));
  SLUIS_FUZZ_CHECK(r.path.find_first_of("?#") == std::string::npos);
  SLUIS_FUZZ_CHECK(r.segments.size() <= limits.max_segments);
  SLUIS_FUZZ_CHECK(r.segments.empty() == (r.path == "/"));
  for (const auto& s : r.segments) {
    SLUIS_FUZZ_CHECK(safe_segment(s));
    SLUIS_FUZZ_CHECK(s.size() <= limits.segment_bytes);
  }
  SLUIS_FUZZ_CHECK(r.query.size() <= limits.max_query_params);
  for (std::size_t i = 0; i < r.query.size(); ++i) {
    const auto& [key, value] = r.query[i];
    SLUIS_FUZZ_CHECK(!key.empty() && key.size() <= limits.segment_bytes && printable(key, false));
    SLUIS_FUZZ_CHECK(value.size() <= limits.header_value_bytes);
    SLUIS_FUZZ_CHECK(std::all_of(value.begin(), value.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u < 0x7f;
    }));
    for (std::size_t j = 0; j < i; ++j)
      SLUIS_FUZZ_CHECK(r.query[j].first != key);  // keys are unique
    SLUIS_FUZZ_CHECK(r.query_param(key) == std::string_view(value));
  }
  // The raw path alone parses again to the same segments (it is kept exactly as sent).
  gw::HttpRequest again;
  SLUIS_FUZZ_CHECK(gw::parse_target(r.path, limits, again).has_value());
  SLUIS_FUZZ_CHECK(again.path == r.path && again.segments == r.segments && again.query.empty());
}

// The promises of parse_http_request about a request it accepted.
void check_request(const gw::HttpRequest& r, const gw::RequestLimits& limits) {
  SLUIS_FUZZ_CHECK(!r.method.empty() && printable(r.method, false));
  check_target(r, limits);
  for (const auto* h : {&r.worker, &r.purpose, &r.content_type, &r.accept, &r.accept_language,
                        &r.client_request_id}) {
    if (!h->has_value()) continue;
    SLUIS_FUZZ_CHECK(!(*h)->empty() && (*h)->size() <= limits.header_value_bytes);
    SLUIS_FUZZ_CHECK(printable(**h, true));
  }
  if (r.client_request_id) SLUIS_FUZZ_CHECK(gw::is_safe_token(*r.client_request_id));
  SLUIS_FUZZ_CHECK(r.body.size() <= limits.body_bytes);
  // Filled by the server only, never from the bytes.
  SLUIS_FUZZ_CHECK(r.peer.partner_id.empty() && r.peer.serial_hex.empty() && r.request_id.empty());
}

void parse_with(std::string_view raw, const gw::RequestLimits& limits) {
  auto r = gw::parse_http_request(raw, limits);
  if (r) check_request(*r, limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw = sluis::fuzz::as_text(data, size);

  parse_with(raw, gw::RequestLimits{});

  gw::RequestLimits tight;
  tight.header_bytes = 256;
  tight.body_bytes = 64;
  tight.target_bytes = 64;
  tight.segment_bytes = 8;
  tight.max_segments = 4;
  tight.max_query_params = 2;
  tight.header_value_bytes = 16;
  parse_with(raw, tight);

  // The request-target alone: the request line's second word if there is one, else the line.
  std::string_view line = raw.substr(0, raw.find_first_of("\r\n"));
  if (const auto sp = line.find(' '); sp != std::string_view::npos) {
    line.remove_prefix(sp + 1);
    line = line.substr(0, line.find(' '));
  }
  gw::HttpRequest target;
  if (gw::parse_target(line, gw::RequestLimits{}, target))
    check_target(target, gw::RequestLimits{});
  (void)gw::is_safe_token(line);
  return 0;
}
