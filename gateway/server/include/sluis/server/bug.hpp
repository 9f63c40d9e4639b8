// SLUIS_BUG: the tier for states that must not happen — logged and counted, fatal in debug builds.
#pragma once

#include "sluis/server/log_literal.hpp"

#include <cstdint>

namespace sluis::server {

/// How many SLUIS_BUG events this process has seen (exported as sluis_bugs_total by every
/// server's metrics). Thread-safe.
[[nodiscard]] std::uint64_t bug_count() noexcept;

/// Tests only: whether SLUIS_BUG aborts (the default in debug builds, where NDEBUG is not
/// defined) or only logs and counts (the default in release builds). Returns the previous value.
bool set_bug_aborts_for_test(bool aborts) noexcept;

namespace detail {
/// What SLUIS_BUG expands to: counts the event, writes one error line `{"event":"bug",
/// "reason":what,"where":where}` to the log the server installed (stderr before one is), and
/// aborts when bugs abort. Never throws.
void report_bug(LogLiteral what, LogLiteral where) noexcept;
}  // namespace detail

}  // namespace sluis::server

#define SLUIS_BUG_STRINGIFY_(x) #x
#define SLUIS_BUG_LINE_(x) SLUIS_BUG_STRINGIFY_(x)
/// SLUIS_BUG("what_happened"): an impossible state was reached (Envoy's ENVOY_BUG). `what` is a
/// string literal naming it; the file and line are logged with it. In release builds the caller
/// then carries on with its documented fallback; in debug builds the process aborts, so tests
/// find the bug. For untrusted input or I/O failures use error codes, never this.
#define SLUIS_BUG(what)                                                                            \
  ::sluis::server::detail::report_bug(                                                            \
      ::sluis::server::LogLiteral(what),                                                          \
      ::sluis::server::LogLiteral(__FILE__ ":" SLUIS_BUG_LINE_(__LINE__)))
