// Prometheus counters and histograms of the transport, rendered in the text exposition format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace sluis::server {

/// Why a TLS handshake failed (label values of sluis_tls_handshake_failures_total).
enum class HandshakeFailure {
  no_certificate,  ///< client sent no certificate
  untrusted,       ///< certificate not issued by the gateway CA, or otherwise unverifiable
  revoked,         ///< certificate serial is in the revocation list
  expired,         ///< certificate outside its validity period
  no_identity,     ///< verified certificate without a sluis partner URI
  protocol,        ///< version or cipher negotiation failed (e.g. TLS 1.2 when not allowed)
  timeout,         ///< handshake did not finish within handshake_timeout
  other,           ///< anything else (peer reset, garbage)
};
inline constexpr std::size_t kHandshakeFailureKinds = 8;

/// Why a connection was refused before TLS (label values of sluis_rejected_connections_total).
enum class ConnectionRejection { over_limit, draining };

/// Transport metrics. All members are thread-safe; counters only grow.
class Metrics {
 public:
  /// Upper bounds (seconds) of the latency histogram buckets.
  static constexpr std::array<double, 12> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  /// Counts one finished request. `route` must be a registered template or "unmatched".
  void record_request(std::string_view route, int status, std::uint64_t latency_us);
  void record_handshake_failure(HandshakeFailure reason) noexcept;
  void record_rejected(ConnectionRejection reason) noexcept;
  void connection_opened() noexcept { open_connections_.fetch_add(1); }
  void connection_closed() noexcept { open_connections_.fetch_sub(1); }

  [[nodiscard]] std::int64_t open_connections() const noexcept { return open_connections_.load(); }
  [[nodiscard]] std::uint64_t handshake_failures(HandshakeFailure reason) const noexcept;
  [[nodiscard]] std::uint64_t rejected(ConnectionRejection reason) const noexcept;
  /// Requests counted for `route` × `status`.
  [[nodiscard]] std::uint64_t requests(std::string_view route, int status) const;

  /// The Prometheus text exposition (version 0.0.4) of every metric.
  [[nodiscard]] std::string render_prometheus() const;

 private:
  /// Orders (route, status) keys and looks them up by string_view, so counting a request
  /// allocates nothing once its key exists.
  struct RouteStatusLess {
    using is_transparent = void;
    template <class A, class B> bool operator()(const A& a, const B& b) const noexcept {
      const std::string_view ra = a.first, rb = b.first;
      return ra != rb ? ra < rb : a.second < b.second;
    }
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t, RouteStatusLess> requests_;
  std::array<std::uint64_t, kLatencyBuckets.size()> buckets_{};
  std::uint64_t latency_count_ = 0;
  std::uint64_t latency_sum_us_ = 0;
  std::atomic<std::int64_t> open_connections_{0};
  std::array<std::atomic<std::uint64_t>, kHandshakeFailureKinds> handshake_failures_{};
  std::array<std::atomic<std::uint64_t>, 2> rejected_{};
};

}  // namespace sluis::server
