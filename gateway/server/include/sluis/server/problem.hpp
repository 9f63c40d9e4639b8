// RFC 9457 problem details: stable `urn:sluis:problem:<code>` types and their JSON responses.
#pragma once

#include "sluis/server/http.hpp"

#include <string_view>

namespace sluis::server {

/// Media type of every error response.
inline constexpr std::string_view kProblemContentType = "application/problem+json";
/// Prefix of every problem `type`; the full type is this prefix + the stable code.
inline constexpr std::string_view kProblemTypePrefix = "urn:sluis:problem:";

/// Problems raised by the transport itself (docs/api/problems.md lists them).
enum class TransportProblem {
  malformed_request,       ///< 400 malformed-request
  malformed_path,          ///< 400 malformed-path
  not_found,               ///< 404 not-found
  method_not_allowed,      ///< 405 method-not-allowed
  request_timeout,         ///< 408 request-timeout
  length_required,         ///< 411 length-required
  payload_too_large,       ///< 413 payload-too-large
  unsupported_media_type,  ///< 415 unsupported-media-type
  headers_too_large,       ///< 431 headers-too-large
  certificate_revoked,     ///< 403 certificate-revoked
  internal_error,          ///< 500 internal-error
  draining,                ///< 503 draining
  overloaded,              ///< 503 overloaded
};

/// The stable code ("payload-too-large") of a transport problem.
[[nodiscard]] std::string_view problem_code(TransportProblem p) noexcept;
/// The HTTP status of a transport problem.
[[nodiscard]] int problem_status(TransportProblem p) noexcept;

/// Builds an `application/problem+json` response:
/// `{"type":"urn:sluis:problem:<code>","title":...,"status":...,"code":"<code>"}` plus `detail`
/// and `instance` when non-empty. `code` must be 1–64 of [a-z0-9-] (otherwise "internal-error"
/// with status 500 is produced: a programming error must not leak a malformed type).
/// `detail` is a fixed, human sentence chosen by the caller: never an exception text,
/// ec.message(), a path, an identifier or anything the client sent. `instance` should be
/// `urn:sluis:request:<request id>` (see problem_instance). Pure; thread-safe.
[[nodiscard]] HttpResponse make_problem(int status, std::string_view code, std::string_view title,
                                        std::string_view detail = {},
                                        std::string_view instance = {});

/// make_problem for a transport problem with its standard title.
[[nodiscard]] HttpResponse make_problem(TransportProblem p, std::string_view detail = {},
                                        std::string_view instance = {});

/// `urn:sluis:request:<request_id>` — the problem `instance` naming one request (never the path,
/// which carries pseudonyms).
[[nodiscard]] std::string problem_instance(std::string_view request_id);

}  // namespace sluis::server
