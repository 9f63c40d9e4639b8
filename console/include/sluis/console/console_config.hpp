// sluis-console's configuration: one TOML file (like sluisd's), refused loudly when wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

/// A configuration problem: `file:line: sentence a person can act on` (or `file: sentence`).
class ConsoleConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How browsers reach the console.
enum class ConsoleTransport {
  https,          ///< server-only TLS with [tls] certificate and private_key (production)
  http_loopback,  ///< plain HTTP, only on a loopback address (the local demo and tests)
};

/// One partner the console serves: its client certificate for sluisd's /v1 API and where
/// sluisd listens. Every console account belongs to exactly one of these.
struct ServedPartner {
  std::string id;  ///< sluisd's partner id (the certificate's urn:sluis:partner:<id>)
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path gateway_ca;  ///< the gateway CA: the only anchor trusted for sluisd
  std::string gateway_address = "127.0.0.1";
  std::uint16_t gateway_port = 8443;
  std::string gateway_server_name = "localhost";
};

/// The log witness's timer ([witness] in console.toml; docs/console.md "The log's health").
struct WitnessSettings {
  static constexpr std::chrono::seconds kDefaultInterval{300};
  static constexpr std::chrono::seconds kMinInterval{1};
  static constexpr std::chrono::seconds kMaxInterval{86400};  ///< a day: rarer is no witness
  /// Time between two rounds (from the end of one to the start of the next).
  std::chrono::seconds interval = kDefaultInterval;
  /// The served partner whose certificate calls GET /v1/audit/checkpoint and
  /// /v1/audit/proofs/consistency; empty = the first [[partner]] table.
  std::string partner;
  /// Sent as Sluis-Worker on those calls. sluisd does not check a worker on the audit routes
  /// (a partner's certificate is enough), but names it in its request log: this says the calls
  /// are the console's witness.
  std::string worker = "console-witness";
};

/// The whole configuration. Relative paths are resolved against the file's directory.
struct ConsoleConfig {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 8080;
  ConsoleTransport transport = ConsoleTransport::http_loopback;
  /// The exact origin browsers use ("https://console.example.org", "http://localhost:8080"):
  /// checked in every WebAuthn ceremony, against Origin on unsafe requests and against Host.
  std::string origin = "http://localhost:8080";
  std::string rp_id = "localhost";  ///< WebAuthn RP ID: the origin's host or a parent domain
  std::filesystem::path tls_certificate = "tls/console.crt";
  std::filesystem::path tls_private_key = "tls/console.key";
  std::filesystem::path root_key_file = "keys/root.key";  ///< raw root key (mode 0600)
  std::filesystem::path database = "data/console.db";     ///< the console's SQLCipher file
  std::filesystem::path web_root;  ///< templates/, static/, i18n/; empty = the built-in path
  std::string log_destination = "stderr";
  /// Threads serving browsers (2..64): each page waiting for sluisd holds one.
  unsigned threads = 2;
  std::vector<ServedPartner> partners;
  /// sluisd's audit-log verifier key as `sluisctl audit checkpoint` prints it ("Verifier key"),
  /// pinned for the witness (the timer and the DPO's log-health page); empty = the console does
  /// not witness the log.
  std::string audit_verifier_key;
  WitnessSettings witness;

  /// The origin's host[:port] as browsers send it in Host.
  [[nodiscard]] std::string origin_authority() const;
  [[nodiscard]] const ServedPartner* partner(std::string_view id) const noexcept;
  /// The partner the witness's timer calls sluisd as ([witness] partner, else the first
  /// [[partner]]); null when the console serves none.
  [[nodiscard]] const ServedPartner* witness_partner() const noexcept;
};

/// Parses configuration text; ConsoleConfigError naming file and line for unknown keys, wrong
/// types, an origin that is not scheme://host[:port], an RP ID that is not the origin's host or
/// a parent of it, http_loopback on a non-loopback address or an https origin with http, a
/// partner twice, an audit_verifier_key that is not a verifier key, a [witness] interval_seconds
/// outside 1..86400, a [witness] partner that is not served or a worker that is not a plain
/// token. Pure (no file access).
[[nodiscard]] ConsoleConfig parse_console_config(std::string_view text,
                                                 std::string_view source_name,
                                                 const std::filesystem::path& base_dir);

/// Reads and parses `path`.
[[nodiscard]] ConsoleConfig load_console_config(const std::filesystem::path& path);

/// The text of a configuration file for `config` (what `sluis-console init` writes), every key
/// with a comment. Paths are written as given.
[[nodiscard]] std::string render_console_config(const ConsoleConfig& config);

}  // namespace sluis::console
