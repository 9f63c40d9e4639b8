// Maps method + path template (`/v1/clients/{client}/fragments`) to handler functions.
#pragma once

#include "sluis/server/http.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluis::server {

/// Values bound to `{name}` placeholders of the matched template (decoded segments).
class PathParams {
 public:
  /// The value bound to `name`, or nullopt.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  /// Like get() but returns "" when absent (for templates that guarantee the name).
  [[nodiscard]] std::string_view at(std::string_view name) const;
  void add(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
  }
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& all() const noexcept {
    return values_;
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

/// A request handler. Runs on one of the server's threads, inline in its connection's coroutine
/// (HttpsServer: the pool has handler_threads threads beyond the I/O ones for this), so it may
/// block (SQLite). Called concurrently from several threads: it must be thread-safe.
/// Exceptions it throws become a 500 internal-error problem (their text is never sent).
using Handler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

/// Outcome of routing one request.
struct RouteMatch {
  const Handler* handler = nullptr;  ///< null: 404 (no template matched) or 405 (see allow)
  PathParams params;
  std::string_view route_template;  ///< "" when no template matched (logged as "unmatched")
  std::string allow;                ///< for 405: comma-separated methods of the template
};

/// Method + path-template routing table.
///
/// Templates are absolute paths whose segments are literals (matched exactly, case-sensitive,
/// against decoded segments) or `{name}` placeholders (one whole segment). A literal beats a
/// placeholder at the same position. Build the router completely before handing it to the
/// server; afterwards it is read-only and safe to use from many threads.
class Router {
 public:
  /// Registers `handler` for `method` ("GET", "POST", …) and `path_template`.
  /// Throws std::invalid_argument for a malformed template or a duplicate method+template
  /// (a start-up programming error).
  void add(std::string_view method, std::string_view path_template, Handler handler);

  /// Finds the route for `request` (uses request.method and request.segments).
  [[nodiscard]] RouteMatch match(const HttpRequest& request) const;

  /// Routes and runs the handler: 404/405 problem+json when nothing matches; a handler exception
  /// becomes 500 internal-error. Sets `route_template` to the matched template or "".
  /// Thread-safe (const).
  [[nodiscard]] HttpResponse dispatch(const HttpRequest& request,
                                      std::string_view& route_template) const;

 private:
  struct Route {
    std::string method;
    std::string path_template;
    std::vector<std::string> parts;  // literal, or "{name}"
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace sluis::server
