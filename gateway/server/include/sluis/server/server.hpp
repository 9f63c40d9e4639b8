// The HTTPS gateway server: mTLS with the gateway CA, strict limits, graceful drain, metrics.
#pragma once

#include "sluis/server/config.hpp"
#include "sluis/server/metrics.hpp"
#include "sluis/server/request_log.hpp"
#include "sluis/server/revocation.hpp"
#include "sluis/server/router.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace sluis::server {

/// The server could not start; the message is a sentence an operator can act on.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The revocation list currently in force, shared by the TLS verify callback and every request.
///
/// Readers get an immutable snapshot through an atomic shared_ptr, so a reload takes effect for
/// the next handshake and the next request on every open connection, without locks on the
/// request path. All members are thread-safe.
class RevocationStore {
 public:
  /// `file` is read by reload(); nothing is read yet (the initial snapshot is empty).
  explicit RevocationStore(std::filesystem::path file);

  /// Re-reads the file. On failure the previous snapshot stays in force and the error is
  /// returned (io_failure, bad_revocation_list): a broken file never un-revokes anyone. Serials
  /// put in force by revoke_now() stay revoked whatever the file says.
  [[nodiscard]] ServerResult<void> reload();
  /// Refuses `serial_hex` from the moment it returns, for every new handshake and for the next
  /// request of every open connection: re-reads the file (where sluisctl has just added the
  /// serial, so that other changes made with it come in too) and keeps the serial revoked even
  /// when the file cannot be read or does not list it, across later reloads, for the life of
  /// this store. The operator channel calls it before it answers `partner revoke`, so revocation
  /// does not wait for change detection. invalid_argument (and nothing changes) when
  /// `serial_hex` is not a certificate serial; a file that does not reload is not an error here
  /// (the serial is in force regardless; reload() reports it).
  [[nodiscard]] ServerResult<void> revoke_now(std::string_view serial_hex);
  /// As revoke_now() for every serial of `list`, without re-reading the file: each is refused
  /// from the moment this returns and stays refused for the life of this store. sluisd on
  /// PostgreSQL feeds it the serials every node stored (docs/store.md "Several nodes").
  void revoke_all_now(const RevocationList& list);
  /// Replaces the snapshot directly (tests, or a caller that already holds the list).
  void replace(RevocationList list);
  /// True when `serial_hex` is revoked in the current snapshot.
  [[nodiscard]] bool is_revoked(std::string_view serial_hex) const;
  /// Cheap change detection, called before every request: at most once per second it stat()s
  /// the file and reloads when inode, size or modification time changed. Never blocks on a
  /// concurrent reload.
  void refresh_if_changed() noexcept;
  [[nodiscard]] std::shared_ptr<const RevocationList> snapshot() const;

 private:
  struct FileStamp {
    unsigned long long inode = 0, size = 0;
    long long mtime_ns = -1;
    bool operator==(const FileStamp&) const = default;
  };
  std::filesystem::path file_;
  std::atomic<std::shared_ptr<const RevocationList>> current_;
  /// Re-reads the file and publishes it with pinned_ merged in; reload_mutex_ held.
  ServerResult<void> reload_locked();

  std::mutex reload_mutex_;
  FileStamp stamp_;         // guarded by reload_mutex_
  RevocationList pinned_;   // guarded by reload_mutex_: serials revoked through revoke_now()
  std::atomic<std::int64_t> last_check_ms_{0};
};

/// What the embedding program (sluisd's main) supplies besides configuration and routes.
struct ServerHooks {
  /// Called by reload() after the revocation list was re-read (rule pack etc.). On SIGHUP it runs
  /// on one of the server's threads; it may block; exceptions are caught and logged as "reload_failed".
  std::function<void()> on_reload;
  /// Log destination; null → LogSink::open(config.log_destination, config.log_level).
  std::shared_ptr<LogSink> log;
};

/// The HTTPS server.
///
/// Threads: `io_threads + handler_threads` event loops, one thread each. A connection is pinned
/// at accept to the loop with the fewest connections and runs there as a C++20 coroutine; its
/// Router handlers run inline in it: a request is read, handled and answered on one thread,
/// without a hand-off to another thread and back. Handlers may block (the store, the audit
/// log's group commit): a blocked handler holds up only the other connections of its loop, so
/// up to io_threads + handler_threads handlers can block at once. The listeners and signals
/// live on loop 0. A slow client only ever occupies its own coroutine, bounded by the
/// configured timeouts.
/// Memory: request and response bodies, Beast's header fields and the connection's buffers are
/// wiped before they are freed (HttpBody, crypto::ZeroizingAllocator), and OpenSSL wipes a
/// record's plaintext once it has been read (SSL_OP_CLEANSE_PLAINTEXT).
/// Impossible states (an exception escaping a connection) are SLUIS_BUG events (bug.hpp).
/// Per connection: TLS handshake (mTLS, gateway CA only, revocation checked) → HTTP/1.1
/// keep-alive loop with header/body/idle timeouts, header/body limits and a request cap. Before
/// every request the certificate serial is checked against the current revocation snapshot.
/// Transport errors are answered with problem+json (problem.hpp) where the connection still
/// allows a response; timeouts close the connection.
class HttpsServer {
 public:
  /// Stores configuration and routes; opens nothing yet. `router` must be complete.
  HttpsServer(ServerConfig config, Router router, ServerHooks hooks = {});
  /// Calls shutdown() when still running.
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  /// Loads the TLS material and revocation list, binds both listeners and starts the threads.
  /// Throws StartupError with an actionable sentence (unreadable key or certificate, key not
  /// matching certificate, bad revocation list, non-loopback metrics address, port in use, …).
  /// Call once.
  void start();

  /// The bound HTTPS port (useful with port 0). Valid after start().
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The bound metrics port, or 0 when metrics are disabled. Valid after start().
  [[nodiscard]] std::uint16_t metrics_port() const noexcept;

  /// Graceful shutdown; blocks until done. Stops accepting; closes idle keep-alive connections;
  /// lets in-flight requests finish (their responses carry Connection: close) for at most
  /// drain_timeout, then closes what is left; waits for running handlers; stops the threads.
  /// Idempotent and thread-safe; must not be called from a handler.
  void shutdown();

  /// Blocks until SIGTERM or SIGINT, then shutdown(). SIGHUP calls reload() and keeps running.
  /// The signals are handled only while this runs. Call after start(), from one thread.
  void run_until_signalled();

  /// Re-reads the revocation list (keeping the old one if the file is broken) and calls
  /// hooks.on_reload, on the calling thread. Thread-safe (on_reload must tolerate concurrency
  /// with requests). Valid after start().
  void reload();

  [[nodiscard]] RevocationStore& revocations() noexcept;
  [[nodiscard]] Metrics& metrics() noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluis::server
