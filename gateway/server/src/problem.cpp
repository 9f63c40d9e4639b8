// RFC 9457 problem+json responses with stable `urn:sluis:problem:<code>` types.
#include "sluis/server/problem.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace sluis::server {
namespace {

struct ProblemInfo {
  std::string_view code;
  int status;
  std::string_view title;
};

ProblemInfo info(TransportProblem p) noexcept {
  switch (p) {
  case TransportProblem::malformed_request:
    return {"malformed-request", 400, "The request is not well-formed HTTP"};
  case TransportProblem::malformed_path:
    return {"malformed-path", 400, "The request path is not acceptable"};
  case TransportProblem::not_found: return {"not-found", 404, "No such resource"};
  case TransportProblem::method_not_allowed:
    return {"method-not-allowed", 405, "This method is not allowed on this resource"};
  case TransportProblem::request_timeout:
    return {"request-timeout", 408, "The request was not received in time"};
  case TransportProblem::length_required:
    return {"length-required", 411, "A request body needs a Content-Length"};
  case TransportProblem::payload_too_large:
    return {"payload-too-large", 413, "The request body is too large"};
  case TransportProblem::unsupported_media_type:
    return {"unsupported-media-type", 415, "The request body must be application/json"};
  case TransportProblem::headers_too_large:
    return {"headers-too-large", 431, "The request header fields are too large"};
  case TransportProblem::certificate_revoked:
    return {"certificate-revoked", 403, "The client certificate has been revoked"};
  case TransportProblem::internal_error:
    return {"internal-error", 500, "The gateway could not complete the request"};
  case TransportProblem::draining: return {"draining", 503, "The gateway is shutting down"};
  case TransportProblem::overloaded: return {"overloaded", 503, "The gateway is overloaded"};
  }
  return {"internal-error", 500, "The gateway could not complete the request"};
}

bool valid_code(std::string_view code) noexcept {
  if (code.empty() || code.size() > 64) return false;
  for (const char c : code) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

/// The log cause of a 5xx problem that no caller named more precisely: its code, as a literal.
LogLiteral cause_of(std::string_view code) noexcept {
  if (code == "audit-unavailable") return "audit_unavailable";
  if (code == "storage-unavailable") return "storage_unavailable";
  if (code == "draining") return "draining";
  if (code == "overloaded") return "overloaded";
  if (code == "internal-error") return "internal_error";
  return "server_problem";
}

}  // namespace

std::string_view problem_code(TransportProblem p) noexcept {
  return info(p).code;
}
int problem_status(TransportProblem p) noexcept {
  return info(p).status;
}

HttpResponse make_problem(int status, std::string_view code, std::string_view title,
                          std::string_view detail, std::string_view instance) {
  if (!valid_code(code) || status < 400 || status > 599) {
    const auto fallback = info(TransportProblem::internal_error);
    return make_problem(fallback.status, fallback.code, fallback.title, {}, instance);
  }
  boost::json::object o;
  o["type"] = std::string(kProblemTypePrefix) + std::string(code);
  o["title"] = title;
  o["status"] = status;
  if (!detail.empty()) o["detail"] = detail;
  if (!instance.empty()) o["instance"] = instance;
  o["code"] = code;
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kProblemContentType);
  r.body = boost::json::serialize(o);
  if (status >= 500) r.cause = cause_of(code);
  return r;
}

HttpResponse make_problem(TransportProblem p, std::string_view detail, std::string_view instance) {
  const auto i = info(p);
  return make_problem(i.status, i.code, i.title, detail, instance);
}

std::string problem_instance(std::string_view request_id) {
  return "urn:sluis:request:" + std::string(request_id);
}

}  // namespace sluis::server
