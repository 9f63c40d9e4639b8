// The transport's configuration (listener, TLS, limits, threads, metrics, request log); sluisd's
// file is parsed by gateway/main (sluis/daemon/config.hpp), the console fills it from its own.
#pragma once

#include "sluis/server/http.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluis::server {

/// A configuration problem, with a message of the form `file:line: sentence a person can act on`
/// (or `file: sentence` when no line applies).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Log severity, lowest first.
enum class LogLevel { debug, info, warn, error };

/// The TLS part of the configuration.
struct TlsConfig {
  std::filesystem::path certificate = "tls/server.crt";       ///< server certificate (PEM)
  std::filesystem::path private_key = "tls/server.key";       ///< server private key (PEM, 0600)
  std::filesystem::path ca_certificate = "tls/ca.crt";        ///< gateway CA, the only trust anchor
  std::filesystem::path revocation_list = "tls/revoked.txt";  ///< revoked serials (RevocationList)
  bool allow_tls12 = false;  ///< also accept TLS 1.2 with ECDHE + AEAD suites
};

/// Transport limits and timeouts.
struct LimitsConfig {
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds header_timeout{10'000};  ///< whole request header, first byte to end
  std::chrono::milliseconds body_timeout{30'000};    ///< whole body; also bounds the response write
  std::chrono::milliseconds idle_timeout{60'000};    ///< keep-alive wait for the next request
  std::chrono::milliseconds drain_timeout{15'000};   ///< graceful shutdown bound
  std::size_t header_limit_bytes = 16 * 1024;
  std::size_t body_limit_bytes = 1024 * 1024;
  std::size_t max_connections = 1024;
  std::size_t max_requests_per_connection = 1000;
};

/// Who a listener serves (sluisd always uses partner_mtls; its TOML file has no key for it).
enum class ListenerMode {
  partner_mtls,  ///< sluisd: mutual TLS, a partner certificate under the gateway CA required
  /// The web console: server-only TLS with tls.certificate / tls.private_key (tls.ca_certificate
  /// only completes the chain; no client certificate is asked for, no revocation list is read).
  browser_tls,
  /// The console's local demo and browser tests: plain HTTP, refused at start() unless
  /// listen_address is a loopback address (browsers treat http://localhost as a secure context).
  browser_plain_loopback,
};

/// The transport's configuration: listener, TLS, limits, threads, metrics and request log.
/// sluisd reads it from its file as part of daemon::DaemonConfig (gateway/main); the console
/// fills it from its own.
struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 8443;     ///< 0 = any free port (tests)
  /// Set by the embedding program, never by sluisd's file. Browser modes also select the
  /// headers a browser application needs and accept form bodies (RequestLimits::browser).
  ListenerMode mode = ListenerMode::partner_mtls;
  unsigned io_threads = 0;       ///< 0 = number of cores
  unsigned handler_threads = 0;  ///< 0 = 16 per core (handlers mostly wait for the audit fsync)
  bool metrics_enabled = true;
  std::string metrics_address = "127.0.0.1";  ///< must be a loopback address
  std::uint16_t metrics_port = 9464;          ///< 0 = any free port (tests)
  TlsConfig tls;
  LimitsConfig limits;
  std::string log_destination = "stderr";  ///< "stderr", "stdout" or a file path
  LogLevel log_level = LogLevel::info;

  /// The request-parsing limits derived from `limits`.
  [[nodiscard]] RequestLimits request_limits() const;
  /// io_threads with 0 replaced by the number of cores (at least 1), handler_threads with 0
  /// replaced by 16 per core (at most 256).
  [[nodiscard]] unsigned effective_io_threads() const;
  [[nodiscard]] unsigned effective_handler_threads() const;
};

/// True when `address` is a literal IPv4 127.0.0.0/8 or IPv6 ::1 address.
[[nodiscard]] bool is_loopback_address(std::string_view address) noexcept;

/// "debug" | "info" | "warn" | "error".
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;

}  // namespace sluis::server
