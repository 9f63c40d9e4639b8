// LogLiteral: the only kind of text a log line may carry besides checked ids.
#pragma once

#include <cstddef>
#include <string_view>

namespace sluis::server {

/// A string that may appear in a log line because it is a compile-time literal written by us
/// (event names, route templates registered in code, reasons). There is deliberately no
/// constructor from std::string: run-time text cannot be logged by accident.
class LogLiteral {
 public:
  template <std::size_t N>
  consteval LogLiteral(const char (&s)[N]) noexcept : value_(s, N - 1) {}  // NOLINT(implicit)
  /// A route template as registered with the Router (code-defined, never the raw path).
  [[nodiscard]] static LogLiteral route_template(std::string_view registered) noexcept {
    return LogLiteral(registered, 0);
  }
  [[nodiscard]] std::string_view view() const noexcept { return value_; }

 private:
  LogLiteral(std::string_view v, int) noexcept : value_(v) {}
  std::string_view value_;
};

}  // namespace sluis::server
