// Error codes of the sluis server module (CA, TLS, transport, configuration) and its Result type.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace sluis::server {

/// Every way a server-module operation can fail. Values are stable (they may appear in logs as
/// numbers). Messages are fixed sentences: they never carry OpenSSL's error strings, paths of
/// secrets, key material, certificate contents or anything a peer sent.
enum class ServerErrc {
  openssl_failure = 1,            ///< an OpenSSL call failed (queue drained; detail withheld)
  invalid_argument = 2,           ///< a caller-supplied value is malformed or out of range
  io_failure = 3,                 ///< a file could not be read or written
  bad_pem = 4,                    ///< a PEM file did not contain the expected object
  key_mismatch = 5,               ///< a private key does not belong to the certificate
  not_a_partner_certificate = 6,  ///< the certificate carries no valid sluis partner identity
  malformed_request = 7,          ///< the HTTP request could not be parsed
  malformed_path = 8,             ///< the request target violates the strict path rules
  headers_too_large = 9,          ///< the request header exceeds the configured limit
  body_too_large = 10,            ///< the request body exceeds the configured limit
  length_required = 11,         ///< a body-carrying method without Content-Length or chunked coding
  unsupported_media_type = 12,  ///< a body whose Content-Type is not application/json
  incomplete_request = 13,      ///< the bytes end before the request does
  bad_revocation_list = 14,     ///< a revocation list file has a malformed line
};

/// The error category of the server module ("sluis.server").
[[nodiscard]] const boost::system::error_category& server_category() noexcept;

[[nodiscard]] boost::system::error_code make_error_code(ServerErrc e) noexcept;

/// Result of a fallible server-module operation. Must be checked.
template <class T> using ServerResult = boost::system::result<T>;

}  // namespace sluis::server

template <>
struct boost::system::is_error_code_enum<sluis::server::ServerErrc> : std::true_type {};
