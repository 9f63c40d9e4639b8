// The load driver: N keep-alive HTTPS/mTLS connections running one workload for a fixed time or
// request count, recording every response's latency.
#pragma once

#include "workload_file.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sluis::bench {

/// A setup problem (certificate unreadable, nothing to do, …); what() is a sentence for the person
/// running the tool.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What each request does.
enum class WorkloadKind {
  read,     ///< GET /v1/clients/{p}/dossier, purpose care-coordination; checks the fragment count
  write,    ///< POST /v1/clients/{p}/fragments (5 fields)
  consent,  ///< POST /v1/clients/{p}/consents then DELETE …/consents/{id}: two requests
  mix,      ///< 90 % read, 5 % write, 5 % consent grant+revoke
  static_file,  ///< GET of one path (nginx's baseline); client certificate from --cert/--key
};

/// The operation a recorded request belonged to.
enum class OpKind : std::uint8_t { read, write, consent_grant, consent_revoke, static_file };
inline constexpr std::size_t kOpKinds = 5;
[[nodiscard]] const char* to_string(OpKind k) noexcept;

/// Everything one run needs.
struct RunPlan {
  std::string host = "127.0.0.1";
  /// The server's ports (one or several nodes of one gateway). Connection i starts on port
  /// i mod n; a connection that fails (refused, reset, timed out) connects again on the next
  /// port, so the run goes on while a node is down.
  std::vector<std::uint16_t> ports;
  std::string server_name = "localhost";  ///< SNI and the name the server certificate must carry
  std::filesystem::path ca;               ///< the only trust anchor for the server certificate
  WorkloadKind kind = WorkloadKind::read;
  std::size_t connections = 64;
  std::optional<std::chrono::duration<double>> duration;  ///< measured time after warm-up
  std::optional<std::uint64_t> requests;                  ///< or: measured requests in all
  std::chrono::duration<double> warmup{1.0};
  double rate_per_connection = 0;  ///< requests/s per connection; 0 = as fast as responses come
  unsigned threads = 1;
  std::chrono::milliseconds timeout{10'000};  ///< per request, and per connect + handshake
  std::string static_path = "/";
  std::string static_worker;  ///< Sluis-Worker of the static workload's requests (none when empty)
  std::filesystem::path certificate, key;              ///< static workload's client credential
  Workload workload;                                   ///< sluis workloads
  std::optional<std::filesystem::path> save_response;  ///< first good response body goes here
  /// Acknowledge every received segment at once (TCP_QUICKACK before each read) instead of
  /// delaying ACKs like an ordinary client. A diagnostic: it shows a server's service time
  /// without the Nagle/delayed-ACK stall of a server that writes a response in two pieces
  /// without TCP_NODELAY.
  bool quick_ack = false;
  /// Processes whose CPU time (/proc) is sampled at the start and the end of the measured time,
  /// so that the report can give the server's CPU per request. Empty: not sampled.
  std::vector<pid_t> server_pids;
  /// Roots of multi-process database servers (PostgreSQL postmasters) whose CPU time, with every
  /// child's and every exited child's (process_tree_cpu_time), is sampled at the same moments and
  /// reported apart from the server's. Empty: not sampled.
  std::vector<pid_t> database_pids;
  /// When set, one tab-separated line per answered request goes here (format in
  /// docs/performance.md, "sluis-loadgen"): what a test needs to check every acknowledged write
  /// and every answered request's audit events afterwards.
  std::optional<std::filesystem::path> ack_log;
};

/// One recorded response: its latency and operation.
struct Sample {
  std::uint32_t micros = 0;
  OpKind op = OpKind::read;
};

/// What a run measured (after warm-up only).
struct RunResult {
  std::vector<Sample> samples;  ///< successful responses
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> error_kinds;
  std::uint64_t connects = 0;    ///< TLS sessions established in the whole run (warm-up too)
  std::uint64_t body_bytes = 0;  ///< response body bytes of the successful responses
  double seconds = 0;            ///< measured wall time
  /// CPU time the RunPlan::server_pids used during the measured time; nullopt when not asked for
  /// or when a process could not be read at either end.
  std::optional<std::chrono::microseconds> server_cpu;
  /// The same for the RunPlan::database_pids and their children.
  std::optional<std::chrono::microseconds> database_cpu;
};

/// Runs `plan`. Blocks until done; every connection is closed on return. Throws LoadError for a
/// plan that cannot start (unreadable credentials, no operation of the workload's kind).
[[nodiscard]] RunResult run_load(const RunPlan& plan);

}  // namespace sluis::bench
