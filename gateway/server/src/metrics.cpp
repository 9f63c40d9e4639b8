// Transport metrics and their Prometheus text exposition (format version 0.0.4).
#include "sluis/server/metrics.hpp"

#include "sluis/server/bug.hpp"

#include <cstdio>

namespace sluis::server {
namespace {

constexpr std::array<std::string_view, kHandshakeFailureKinds> kFailureNames = {
    "no_certificate", "untrusted", "revoked", "expired",
    "no_identity",    "protocol",  "timeout", "other"};
constexpr std::array<std::string_view, 2> kRejectionNames = {"over_limit", "draining"};

/// Escapes a label value per the exposition format (\\, \", \n).
std::string label(std::string_view v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

void Metrics::record_request(std::string_view route, int status, std::uint64_t latency_us) {
  const std::lock_guard lock(mutex_);
  const std::pair<std::string_view, int> key{route, status};
  auto it = requests_.find(key);
  if (it == requests_.end()) it = requests_.emplace(std::pair(std::string(route), status), 0).first;
  ++it->second;
  const double s = static_cast<double>(latency_us) / 1e6;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (s <= kLatencyBuckets[i]) ++buckets_[i];
  }
  ++latency_count_;
  latency_sum_us_ += latency_us;
}

void Metrics::record_handshake_failure(HandshakeFailure reason) noexcept {
  handshake_failures_[static_cast<std::size_t>(reason)].fetch_add(1);
}

void Metrics::record_rejected(ConnectionRejection reason) noexcept {
  rejected_[static_cast<std::size_t>(reason)].fetch_add(1);
}

std::uint64_t Metrics::handshake_failures(HandshakeFailure reason) const noexcept {
  return handshake_failures_[static_cast<std::size_t>(reason)].load();
}

std::uint64_t Metrics::rejected(ConnectionRejection reason) const noexcept {
  return rejected_[static_cast<std::size_t>(reason)].load();
}

std::uint64_t Metrics::requests(std::string_view route, int status) const {
  const std::lock_guard lock(mutex_);
  const auto it = requests_.find(std::pair<std::string_view, int>{route, status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render_prometheus() const {
  std::string out;
  out += "# HELP sluis_http_requests_total Requests answered, by route template and status.\n";
  out += "# TYPE sluis_http_requests_total counter\n";
  {
    const std::lock_guard lock(mutex_);
    for (const auto& [key, n] : requests_) {
      out += "sluis_http_requests_total{route=\"" + label(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
    out += "# HELP sluis_http_request_duration_seconds Time from header received to response "
           "written.\n";
    out += "# TYPE sluis_http_request_duration_seconds histogram\n";
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out += "sluis_http_request_duration_seconds_bucket{le=\"" + seconds(kLatencyBuckets[i]) +
             "\"} " + std::to_string(buckets_[i]) + "\n";
    }
    out += "sluis_http_request_duration_seconds_bucket{le=\"+Inf\"} " +
           std::to_string(latency_count_) + "\n";
    out += "sluis_http_request_duration_seconds_sum " +
           seconds(static_cast<double>(latency_sum_us_) / 1e6) + "\n";
    out += "sluis_http_request_duration_seconds_count " + std::to_string(latency_count_) + "\n";
  }
  out += "# HELP sluis_open_connections Client connections currently open.\n";
  out += "# TYPE sluis_open_connections gauge\n";
  out += "sluis_open_connections " + std::to_string(open_connections_.load()) + "\n";
  out += "# HELP sluis_tls_handshake_failures_total Failed TLS handshakes, by reason.\n";
  out += "# TYPE sluis_tls_handshake_failures_total counter\n";
  for (std::size_t i = 0; i < kHandshakeFailureKinds; ++i) {
    out += "sluis_tls_handshake_failures_total{reason=\"" + std::string(kFailureNames[i]) + "\"} " +
           std::to_string(handshake_failures_[i].load()) + "\n";
  }
  out += "# HELP sluis_rejected_connections_total Connections closed before TLS, by reason.\n";
  out += "# TYPE sluis_rejected_connections_total counter\n";
  for (std::size_t i = 0; i < kRejectionNames.size(); ++i) {
    out += "sluis_rejected_connections_total{reason=\"" + std::string(kRejectionNames[i]) + "\"} " +
           std::to_string(rejected_[i].load()) + "\n";
  }
  out += "# HELP sluis_bugs_total States that must not happen (SLUIS_BUG), since start.\n";
  out += "# TYPE sluis_bugs_total counter\n";
  out += "sluis_bugs_total " + std::to_string(bug_count()) + "\n";
  return out;
}

}  // namespace sluis::server
