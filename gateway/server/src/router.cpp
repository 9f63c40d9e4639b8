// Path-template routing with 404/405 problem responses and a per-handler exception barrier.
#include "sluis/server/router.hpp"

#include "sluis/server/problem.hpp"

#include <cstdint>
#include <stdexcept>

namespace sluis::server {
namespace {

constexpr std::size_t kMaxTemplateSegments = 64;  // one bit each in match()'s literal mask

bool is_placeholder(std::string_view part) noexcept {
  return part.size() > 2 && part.front() == '{' && part.back() == '}';
}

}  // namespace

std::optional<std::string_view> PathParams::get(std::string_view name) const {
  for (const auto& [k, v] : values_) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view PathParams::at(std::string_view name) const {
  return get(name).value_or(std::string_view{});
}

void Router::add(std::string_view method, std::string_view path_template, Handler handler) {
  if (method.empty() || !handler || path_template.empty() || path_template.front() != '/') {
    throw std::invalid_argument("Router::add: bad method, handler or template");
  }
  Route route{std::string(method), std::string(path_template), {}, std::move(handler)};
  if (path_template != "/") {
    std::string_view rest = path_template.substr(1);
    while (true) {
      const std::size_t slash = rest.find('/');
      const std::string_view part = rest.substr(0, slash);
      if (part.empty()) throw std::invalid_argument("Router::add: empty template segment");
      if (part.find_first_of("{}") != std::string_view::npos && !is_placeholder(part)) {
        throw std::invalid_argument("Router::add: malformed placeholder");
      }
      route.parts.emplace_back(part);
      if (route.parts.size() > kMaxTemplateSegments) {
        throw std::invalid_argument("Router::add: more than 64 template segments");
      }
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
  }
  for (const auto& r : routes_) {
    if (r.method == route.method && r.parts.size() == route.parts.size()) {
      bool same = true;
      for (std::size_t i = 0; i < r.parts.size() && same; ++i) {
        same = r.parts[i] == route.parts[i] ||
               (is_placeholder(r.parts[i]) && is_placeholder(route.parts[i]));
      }
      if (same) throw std::invalid_argument("Router::add: duplicate route");
    }
  }
  routes_.push_back(std::move(route));
}

RouteMatch Router::match(const HttpRequest& request) const {
  // Every template matching the path; among those with the request's method the one with
  // literals at the earliest positions wins (a literal beats a placeholder). Path matches with
  // other methods only make up the 405 Allow list. A template's literal positions are a bit
  // mask, first segment in the highest bit, so "earliest literals" is the larger number (and
  // matching allocates nothing).
  RouteMatch out;
  const Route* best = nullptr;
  std::uint64_t best_literals = 0;
  bool any_path = false;
  for (const auto& r : routes_) {
    if (r.parts.size() != request.segments.size()) continue;
    bool ok = true;
    std::uint64_t literals = 0;
    for (std::size_t i = 0; i < r.parts.size() && ok; ++i) {
      if (is_placeholder(r.parts[i])) continue;
      literals |= std::uint64_t{1} << (kMaxTemplateSegments - 1 - i);
      ok = r.parts[i] == request.segments[i];
    }
    if (!ok) continue;
    if (!any_path) out.route_template = r.path_template;
    any_path = true;
    if (r.method != request.method) {
      if (out.allow.find(r.method) == std::string::npos) {
        out.allow += (out.allow.empty() ? "" : ", ") + r.method;
      }
      continue;
    }
    if (best == nullptr || literals > best_literals) {
      best = &r;
      best_literals = literals;
    }
  }
  if (best == nullptr) return out;  // 404 (no path) or 405 (allow filled)
  out.handler = &best->handler;
  out.route_template = best->path_template;
  out.allow.clear();
  for (std::size_t i = 0; i < best->parts.size(); ++i) {
    if (is_placeholder(best->parts[i])) {
      out.params.add(best->parts[i].substr(1, best->parts[i].size() - 2), request.segments[i]);
    }
  }
  return out;
}

HttpResponse Router::dispatch(const HttpRequest& request, std::string_view& route_template) const {
  RouteMatch m = match(request);
  route_template = m.route_template;
  if (m.route_template.empty()) {
    return make_problem(TransportProblem::not_found, {}, problem_instance(request.request_id));
  }
  if (m.handler == nullptr) {
    HttpResponse r = make_problem(TransportProblem::method_not_allowed, {},
                                  problem_instance(request.request_id));
    r.headers.emplace_back("Allow", m.allow);
    return r;
  }
  try {
    return (*m.handler)(request, m.params);
  } catch (...) {
    // The exception's text may carry anything (SQL, values): it is deliberately not used.
    HttpResponse r = make_problem(TransportProblem::internal_error, {},
                                  problem_instance(request.request_id));
    r.cause = "handler_exception";
    return r;
  }
}

}  // namespace sluis::server
