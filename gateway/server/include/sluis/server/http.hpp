// The transport/handler seam: plain request and response values, free of Asio and Beast types.
#pragma once

#include "sluis/crypto/secret.hpp"
#include "sluis/server/log_literal.hpp"
#include "sluis/server/server_error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::server {

/// The bytes of a request or response body: a string whose memory is wiped before it is freed
/// (crypto::ZeroizingAllocator), because bodies carry plaintext fields, notes and identifiers.
///
/// It is a std::basic_string with that allocator, plus conversions from std::string for callers
/// that still build text there: constructing or assigning from a std::string copies its bytes
/// and, when the std::string is an rvalue, wipes the source's whole buffer before it is freed,
/// so an answer handed over by move leaves no copy behind. Read it as a std::string_view (the
/// implicit conversion) rather than copying it into a std::string. Moving an HttpBody moves the
/// buffer (the allocator is stateless), so the transport hands bodies to and from Beast without
/// copying them.
class HttpBody : public std::basic_string<char, std::char_traits<char>,
                                          crypto::ZeroizingAllocator<char>> {
 public:
  using Base = std::basic_string<char, std::char_traits<char>, crypto::ZeroizingAllocator<char>>;
  using Base::Base;
  using Base::operator=;
  HttpBody() noexcept = default;
  HttpBody(const Base& s) : Base(s) {}                 // NOLINT(google-explicit-constructor)
  HttpBody(Base&& s) noexcept : Base(std::move(s)) {}  // NOLINT(google-explicit-constructor)
  HttpBody(const std::string& s) : Base(s.data(), s.size()) {}  // NOLINT(google-explicit-*)
  HttpBody(std::string&& s) : Base(s.data(), s.size()) { wipe_source(s); }  // NOLINT
  HttpBody& operator=(const std::string& s) {
    assign(s.data(), s.size());
    return *this;
  }
  HttpBody& operator=(std::string&& s) {
    assign(s.data(), s.size());
    wipe_source(s);
    return *this;
  }
  /// Wipes the whole buffer (up to its capacity) and leaves the body empty; the memory stays
  /// allocated for reuse.
  void wipe() noexcept;

 private:
  static void wipe_source(std::string& s) noexcept;
};

/// Who is calling, as proven by the TLS client certificate (verified against the gateway CA,
/// not revoked at handshake time and re-checked before every request).
struct PeerIdentity {
  std::string partner_id;  ///< from the SAN URI `urn:sluis:partner:<id>`
  std::string serial_hex;  ///< certificate serial, canonical upper-case hex
};

/// Limits applied when turning bytes into an HttpRequest. Defaults match ServerConfig's.
struct RequestLimits {
  std::size_t header_bytes = 16 * 1024;  ///< whole request line + header fields
  std::size_t body_bytes = 1024 * 1024;  ///< request body after de-chunking
  std::size_t target_bytes = 2048;       ///< request-target as sent
  std::size_t segment_bytes = 128;       ///< one decoded path segment
  std::size_t max_segments = 16;
  std::size_t max_query_params = 32;
  std::size_t header_value_bytes = 512;  ///< each selected header's value
  /// Browser mode (the web console, ListenerMode::browser_*): also select Cookie (up to
  /// cookie_bytes), Origin, Sec-Fetch-Site and Host, and accept
  /// application/x-www-form-urlencoded bodies besides JSON. Off for sluisd.
  bool browser = false;
  std::size_t cookie_bytes = 8 * 1024;
};

/// A validated HTTP request as handlers see it. Every string is printable ASCII.
struct HttpRequest {
  std::string method;                 ///< e.g. "GET" (as sent; token characters only)
  std::string path;                   ///< raw path (percent-encoded as sent, no query)
  std::vector<std::string> segments;  ///< decoded path segments ("/" → empty)
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, unique keys, in order
  // Selected headers; absent when not sent. Any other header is not passed to handlers.
  std::optional<std::string> worker;             ///< Sluis-Worker
  std::optional<std::string> purpose;            ///< Sluis-Purpose
  std::optional<std::string> content_type;       ///< Content-Type
  std::optional<std::string> accept;             ///< Accept
  std::optional<std::string> accept_language;    ///< Accept-Language
  std::optional<std::string> client_request_id;  ///< X-Request-Id as sent (validated token)
  // Browser mode only (RequestLimits::browser); always absent for sluisd.
  std::optional<std::string> cookie;          ///< Cookie (one header line; a second is refused)
  std::optional<std::string> origin;          ///< Origin
  std::optional<std::string> sec_fetch_site;  ///< Sec-Fetch-Site
  std::optional<std::string> host;            ///< Host
  HttpBody body;            ///< wiped when freed (see HttpBody)
  PeerIdentity peer;       ///< filled by the server (empty in parse_http_request results)
  std::string request_id;  ///< gateway-generated id (32 hex), also in the response's X-Request-Id

  /// The value of query parameter `key`, if present.
  [[nodiscard]] std::optional<std::string_view> query_param(std::string_view key) const;
};

/// A response produced by a handler. The server adds Content-Length, Cache-Control: no-store,
/// X-Content-Type-Options: nosniff, X-Request-Id and Connection; header lines containing CR, LF
/// or NUL, or naming one of those managed headers, are dropped.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  HttpBody body;  ///< moved (not copied) into the connection's output; wiped when freed
  /// Why the answer is not what was asked for, for sluisd's request log line (never sent): set
  /// on every 5xx (make_problem sets one from the problem code; callers that know more name the
  /// error), and on a partial answer.
  LogLiteral cause = "";

  /// A JSON response with `status`. Pass the text by move (an HttpBody is taken over as it is; a
  /// std::string is copied and its buffer wiped).
  [[nodiscard]] static HttpResponse json(int status, HttpBody body);
};

/// Strictly validates and decodes a request-target (origin-form only: `/path?query`).
///
/// Rules (violations → malformed_path): starts with '/'; at most limits.target_bytes; only
/// printable ASCII (0x21–0x7E); no '#'; no empty segment (so no "//" and no trailing '/'),
/// except the bare root "/"; percent escapes must be `%XX` hex and may not decode to '/', '\\',
/// '%', a control character, a space or a non-ASCII byte; no segment "." or ".." before or after
/// decoding; each decoded segment ≤ limits.segment_bytes; ≤ limits.max_segments segments.
/// Query: `k=v` pairs separated by '&'; keys percent-decoded with the same byte rules, values
/// with the same rules except that they may also decode to '%', '/', '\\' and the space (a value
/// is data, not structure: a worker id may hold them); non-empty unique keys,
/// ≤ limits.max_query_params pairs. '+' is kept literally.
/// On success fills `out.path`, `out.segments` and `out.query`. Pure; thread-safe.
[[nodiscard]] ServerResult<void> parse_target(std::string_view target, const RequestLimits& limits,
                                              HttpRequest& out);

/// Parses one complete HTTP/1.x request from `raw` (request line, headers, body) with the same
/// parser, limits and validation the server uses, so a fuzzer can drive it without sockets.
///
/// Errors: malformed_request, malformed_path, headers_too_large, body_too_large,
/// length_required, unsupported_media_type, incomplete_request (bytes end early). Extra bytes
/// after the request (pipelining) are ignored. `peer` and `request_id` are left empty.
/// Pure; thread-safe; never throws on any input (std::bad_alloc aside).
[[nodiscard]] ServerResult<HttpRequest> parse_http_request(std::string_view raw,
                                                           const RequestLimits& limits = {});

/// True when `value` is a token suitable for ids in headers and logs: 1–64 characters of
/// [A-Za-z0-9._:@-].
[[nodiscard]] bool is_safe_token(std::string_view value) noexcept;

/// The reason phrase for `status` ("Not Found"), or "Unknown".
[[nodiscard]] std::string_view status_reason(int status) noexcept;

}  // namespace sluis::server
