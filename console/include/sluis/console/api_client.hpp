// The console's HTTPS client of sluisd's /v1 API: mutual TLS with one partner's certificate and
// the signed-in worker named on every call (Sluis-Worker), as a partner's case system calls it.
#pragma once

#include "sluis/server/ca.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace sluis::console {

enum class ApiClientErrc {
  invalid_request = 1,     ///< a method, target, worker or header value the client will not send
  connect_failed = 2,      ///< no TCP connection to sluisd
  tls_failed = 3,          ///< the handshake failed (certificate not trusted, name mismatch, ...)
  timeout = 4,             ///< connecting, the handshake or the exchange took longer than the timeout
  transport_failed = 5,    ///< the connection broke while sending or reading
  response_too_large = 6,  ///< the answer's header or body is over the limit
  bad_response = 7,        ///< the answer is not HTTP/1.1 the client can read
};
[[nodiscard]] const boost::system::error_category& api_client_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(ApiClientErrc e) noexcept;

struct ApiClientOptions {
  std::string address = "127.0.0.1";  ///< sluisd's IP address (v4 or v6 literal)
  std::uint16_t port = 0;
  std::string server_name = "localhost";    ///< the DNS name or IP its certificate must carry
  std::chrono::milliseconds timeout{5000};  ///< for each of: connect, handshake, the exchange
  std::size_t max_response_bytes = 4 * 1024 * 1024;
};

/// One call. `worker` is required (sluisd refuses /v1 calls without one); `purpose` is sent as
/// Sluis-Purpose when set.
struct ApiRequest {
  std::string method = "GET";  ///< GET, POST, PUT, PATCH or DELETE
  std::string target;          ///< "/v1/..." (path and query, printable ASCII, no spaces)
  std::string worker;
  std::optional<std::string> purpose;
  std::optional<std::string> accept_language;
  std::string body;  ///< JSON; sent with Content-Type application/json for POST/PUT/PATCH
};

struct ApiResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// A client for one partner. Each call opens its own connection (no state shared between
/// calls but the TLS context), so call() may run on several threads at once.
class ApiClient final {
 public:
  /// Trusts only `gateway_ca` (no system roots), presents `partner`'s certificate, TLS 1.2 or 1.3
  /// with AEAD suites. Throws std::runtime_error when the TLS library refuses the set-up (a
  /// start-up error: the key does not match the certificate, ...).
  ApiClient(ApiClientOptions options, const sluis::server::Certificate& gateway_ca,
            const sluis::server::Credential& partner);
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ~ApiClient();

  /// Sends `request` and reads the whole answer (any HTTP status is a value, not an error).
  [[nodiscard]] boost::system::result<ApiResponse> call(const ApiRequest& request) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::console

template <>
struct boost::system::is_error_code_enum<sluis::console::ApiClientErrc> : std::true_type {};
