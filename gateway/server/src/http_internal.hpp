// Internal: the header checks and request building shared by the server and parse_http_request.
#pragma once

#include "sluis/server/http.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <optional>

namespace sluis::server::detail {

/// Everything Beast allocates for a request (header fields, body) is wiped before it is freed:
/// header values and bodies may carry identifiers, notes and plaintext fields.
using PlainAllocator = crypto::ZeroizingAllocator<char>;
using BeastBody =
    boost::beast::http::basic_string_body<char, std::char_traits<char>, PlainAllocator>;
using BeastFields = boost::beast::http::basic_fields<PlainAllocator>;
using BeastRequest = boost::beast::http::request<BeastBody, BeastFields>;
using BeastHeader = boost::beast::http::request_header<BeastFields>;
using BeastParser = boost::beast::http::request_parser<BeastBody, PlainAllocator>;

/// Checks a complete request header before its body is read: HTTP version, Host, framing
/// (Content-Length xor chunked; 411 for body methods without either), body size, content type
/// of a body, duplicated selected headers.
[[nodiscard]] ServerResult<void> check_request_header(const BeastHeader& header,
                                                      std::optional<std::uint64_t> content_length,
                                                      bool chunked, const RequestLimits& limits);

/// Turns a fully read request into an HttpRequest (target and selected headers validated).
/// Moves the body out of `message`.
[[nodiscard]] ServerResult<HttpRequest> build_request(BeastRequest& message,
                                                      const RequestLimits& limits);

/// Beast reports Content-Length as boost::optional; the checks take std::optional.
template <class BoostOptional>
[[nodiscard]] std::optional<std::uint64_t> to_std_optional(const BoostOptional& v) {
  return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
}

}  // namespace sluis::server::detail
