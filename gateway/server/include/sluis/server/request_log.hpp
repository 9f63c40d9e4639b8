// Structured JSON-line logging whose fields are safe by type: no body, path, query or identifier.
#pragma once

#include "sluis/server/config.hpp"
#include "sluis/server/log_literal.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace sluis::server {

/// Everything a request log line may say. Types carry the redaction rules: ids are logged only
/// when they pass is_safe_token / is_valid_partner_id (else "<invalid>"); the route is the
/// registered template; no field holds a body, path, query, pseudonym or header value other than
/// the worker id.
struct RequestRecord {
  std::chrono::system_clock::time_point time;
  std::string_view request_id;  ///< gateway-generated 32 hex
  std::string_view partner_id;  ///< from the certificate ("" before authentication)
  std::string_view worker_id;   ///< Sluis-Worker as sent (checked by is_safe_token)
  std::string_view method;      ///< checked against the known method set
  LogLiteral route = "unmatched";
  int status = 0;
  std::uint64_t latency_us = 0;
  std::uint64_t bytes_in = 0;   ///< request body bytes
  std::uint64_t bytes_out = 0;  ///< response body bytes
  /// Why the gateway could not answer as asked (every 5xx has one; a partial answer may):
  /// HttpResponse::cause. Logged as "cause", and a 5xx line is logged at level error.
  LogLiteral cause = "";
};

/// A whole-number field of an event line, named by a literal: `{"old_size", 12}`.
struct LogNumber {
  LogLiteral name;
  std::uint64_t value = 0;
};

/// Where log lines go. Thread-safe: lines from many threads never interleave.
class LogSink {
 public:
  /// Writes to "stderr", "stdout", or appends to a file (created 0600). Throws ConfigError with a
  /// sentence when the file cannot be opened.
  static std::shared_ptr<LogSink> open(const std::string& destination, LogLevel level);
  /// Hands every line (without newline) to `fn` (tests, or an embedding program).
  static std::shared_ptr<LogSink> callback(std::function<void(std::string_view)> fn,
                                           LogLevel level);

  /// One JSON line for a finished request (level info).
  void request(const RequestRecord& r);
  /// One JSON line `{"time":…,"level":…,"event":…,"reason":…}`; reason omitted when empty.
  void event(LogLevel level, LogLiteral event, LogLiteral reason = "");
  /// The same with whole-number fields after reason, named by literals (sizes and counts carry no
  /// client data): `{…,"event":…,"reason":…,"old_size":12,"new_size":9}`.
  void event(LogLevel level, LogLiteral event, LogLiteral reason,
             std::initializer_list<LogNumber> numbers);
  /// The SLUIS_BUG line (level error): `{"time":…,"level":"error","event":"bug","reason":what,
  /// "where":file:line}`.
  void bug(LogLiteral what, LogLiteral where);
  [[nodiscard]] bool enabled(LogLevel level) const noexcept { return level >= level_; }

  LogSink(std::function<void(std::string_view)> write, LogLevel level)
      : write_(std::move(write)), level_(level) {}

 private:
  void emit(const std::string& line);
  std::mutex mutex_;
  std::function<void(std::string_view)> write_;
  LogLevel level_;
};

/// Where SLUIS_BUG lines go from now on (sluis/server/bug.hpp); until a sink is set, and after
/// set_bug_log(nullptr), they go to standard error. The server sets its own log at start().
void set_bug_log(std::shared_ptr<LogSink> sink) noexcept;

}  // namespace sluis::server
