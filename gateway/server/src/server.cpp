// The HTTPS server: TLS context, accept loop, per-connection coroutines, drain, metrics listener.
#include "sluis/server/server.hpp"

#include "http_internal.hpp"
#include "ossl.hpp"
#include "sluis/server/bug.hpp"
#include "sluis/server/ca.hpp"
#include "sluis/server/problem.hpp"
#include "sluis/crypto/secret.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <openssl/ssl.h>

#include <sys/stat.h>

#include <array>
#include <condition_variable>
#include <cstring>
#include <csignal>
#include <future>
#include <new>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sluis::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Stream = ssl::stream<beast::tcp_stream>;
/// ListenerMode::browser_plain_loopback: the console's local demo, plain HTTP on loopback.
using PlainStream = beast::tcp_stream;
template <class S>
constexpr bool kIsTls = !std::is_same_v<S, PlainStream>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxDiscardBytes = 256 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr auto kCloseNotifyTime = std::chrono::milliseconds(500);
constexpr auto kMetricsTimeout = std::chrono::seconds(5);

// TLS 1.3 suites (all AEAD), strongest first.
constexpr const char* kTls13Suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
// TLS 1.2 (only when allowed): ECDHE key exchange with AEAD ciphers, nothing else.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

/// SSL_CTX ex-data slot holding the RevocationStore for the verify callback. Asio itself uses
/// the "app data" slot of SSL_CTX and SSL, so we take our own index.
int revocation_index() {
  static const int kIndex = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return kIndex;
}

/// Runs after OpenSSL's chain verification for each certificate; at the leaf it also requires a
/// sluis partner identity and refuses revoked serials, so a revoked partner never completes a
/// handshake.
int verify_peer(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (preverify_ok != 1) return 0;
  if (X509_STORE_CTX_get_error_depth(store_ctx) != 0) return 1;
  const X509* cert = X509_STORE_CTX_get_current_cert(store_ctx);
  if (!detail::partner_id_of(cert)) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  auto* ssl_handle = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl_handle == nullptr) return 0;
  const auto* store = static_cast<const RevocationStore*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_handle), revocation_index()));
  if (store == nullptr || store->is_revoked(detail::serial_hex_of(cert))) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REVOKED);
    return 0;
  }
  return 1;
}

[[noreturn]] void startup_failure(const std::string& sentence) {
  ERR_clear_error();
  throw StartupError(sentence);
}

ssl::context finish_browser_tls_context(ssl::context& ctx, const TlsConfig& cfg,
                                        const Certificate& cert, const PrivateKey& key);

ssl::context make_tls_context(const TlsConfig& cfg, RevocationStore& revocations,
                              ListenerMode mode) {
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  // SSL_OP_CLEANSE_PLAINTEXT: OpenSSL decrypts records in place in its read buffer and would
  // keep a request's plaintext there until the next record overwrites it; this wipes it as
  // soon as it has been handed to us (OpenSSL 3.0+).
  const long options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
                       SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE |
                       SSL_OP_CLEANSE_PLAINTEXT;
  SSL_CTX_set_options(native, static_cast<std::uint64_t>(options));
  if (SSL_CTX_set_min_proto_version(native, cfg.allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION) !=
          1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(native, kGroups) != 1) {
    startup_failure("the TLS library refused the cipher configuration; check the OpenSSL build");
  }
  // No resumption at all: every connection proves its certificate afresh against the current
  // revocation list (keep-alive amortises the handshake cost), and no ticket key needs rotating.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);

  auto cert = Certificate::load_pem_file(cfg.certificate);
  if (!cert) {
    startup_failure(cfg.certificate.string() +
                    ": cannot read the server certificate (PEM); fix [tls] certificate");
  }
  auto key = PrivateKey::load_pem_file(cfg.private_key);
  if (!key) {
    startup_failure(cfg.private_key.string() +
                    ": cannot read the server private key (unencrypted PEM); fix [tls] "
                    "private_key and check that sluisd may read it");
  }
  if (mode == ListenerMode::browser_tls) return finish_browser_tls_context(ctx, cfg, *cert, *key);
  auto ca = Certificate::load_pem_file(cfg.ca_certificate);
  if (!ca) {
    startup_failure(cfg.ca_certificate.string() +
                    ": cannot read the gateway CA certificate (PEM); fix [tls] ca_certificate");
  }
  if (SSL_CTX_use_certificate(native, cert->native_handle()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key->native_handle()) != 1 ||
      SSL_CTX_check_private_key(native) != 1) {
    startup_failure(cfg.private_key.string() + ": this private key does not belong to " +
                    cfg.certificate.string() + "; install the matching pair");
  }
  // The server certificate chain: include the CA so partners can build the path.
  if (SSL_CTX_add1_chain_cert(native, ca->native_handle()) != 1) {
    startup_failure("cannot attach the CA certificate to the server chain");
  }
  // Trust exactly one anchor: the gateway CA. No system store, no intermediates.
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr || X509_STORE_add_cert(store, ca->native_handle()) != 1) {
    X509_STORE_free(store);
    startup_failure("cannot build the TLS trust store from the gateway CA certificate");
  }
  X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
  SSL_CTX_set_cert_store(native, store);  // takes ownership
  if (SSL_CTX_add_client_CA(native, ca->native_handle()) != 1 ||
      SSL_CTX_set_purpose(native, X509_PURPOSE_SSL_CLIENT) != 1 ||
      SSL_CTX_set_ex_data(native, revocation_index(), &revocations) != 1) {
    startup_failure("cannot configure client-certificate verification");
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer);
  SSL_CTX_set_verify_depth(native, 1);  // partner certificate directly under the gateway CA
  ERR_clear_error();
  return ctx;
}

/// Browser mode (the web console): the server certificate and key only, no client certificate
/// requested; ca_certificate, when set, is sent as the chain so browsers can build the path.
ssl::context finish_browser_tls_context(ssl::context& ctx, const TlsConfig& cfg,
                                        const Certificate& cert, const PrivateKey& key) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_use_certificate(native, cert.native_handle()) != 1 ||
      SSL_CTX_use_PrivateKey(native, key.native_handle()) != 1 ||
      SSL_CTX_check_private_key(native) != 1) {
    startup_failure(cfg.private_key.string() + ": this private key does not belong to " +
                    cfg.certificate.string() + "; install the matching pair");
  }
  if (!cfg.ca_certificate.empty()) {
    auto ca = Certificate::load_pem_file(cfg.ca_certificate);
    if (!ca || SSL_CTX_add1_chain_cert(native, ca->native_handle()) != 1) {
      startup_failure(cfg.ca_certificate.string() +
                      ": cannot read the issuing CA certificate (PEM) to send with the server "
                      "certificate; fix the path or leave it empty");
    }
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  ERR_clear_error();
  return std::move(ctx);
}

HandshakeFailure classify_handshake(const boost::system::error_code& ec, SSL* handle) {
  if (ec == beast::error::timeout) return HandshakeFailure::timeout;
  switch (SSL_get_verify_result(handle)) {
  case X509_V_OK: break;
  case X509_V_ERR_CERT_REVOKED: return HandshakeFailure::revoked;
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID: return HandshakeFailure::expired;
  case X509_V_ERR_APPLICATION_VERIFICATION: return HandshakeFailure::no_identity;
  default: return HandshakeFailure::untrusted;
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return HandshakeFailure::no_certificate;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_GROUPS: return HandshakeFailure::protocol;
    default: break;
    }
  }
  return HandshakeFailure::other;
}

/// A fresh request id: 128 random bits in hex. Not a secret (uniqueness is what matters, and not
/// telling one partner how many requests others made): taken from a per-thread pool refilled from
/// the CSPRNG 256 ids at a time, since OpenSSL's RAND_bytes per request cost a few per cent of a
/// small request's CPU.
std::string new_request_id() {
  constexpr std::size_t kId = 16;
  thread_local std::array<std::uint8_t, kId * 256> pool{};
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    crypto::random_bytes(pool);
    used = 0;
  }
  unsigned char raw[kId];
  std::memcpy(raw, pool.data() + used, kId);
  crypto::wipe(std::span<std::uint8_t>(pool.data() + used, kId));
  used += kId;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t i = 0; i < sizeof raw; ++i) {
    id[2 * i] = kHex[raw[i] >> 4];
    id[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return id;
}

bool header_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (const char c : n) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  for (const std::string_view managed :
       {"content-length", "content-type", "connection", "transfer-encoding", "x-request-id",
        "cache-control", "x-content-type-options"}) {
    if (n.size() == managed.size() &&
        std::equal(n.begin(), n.end(), managed.begin(), [](char a, char b) {
          return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b;
        })) {
      return false;
    }
  }
  return true;
}

bool header_value_ok(std::string_view v) {
  return std::none_of(v.begin(), v.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

TransportProblem problem_for(const boost::system::error_code& ec) {
  if (ec == ServerErrc::headers_too_large) return TransportProblem::headers_too_large;
  if (ec == ServerErrc::body_too_large) return TransportProblem::payload_too_large;
  if (ec == ServerErrc::length_required) return TransportProblem::length_required;
  if (ec == ServerErrc::unsupported_media_type) return TransportProblem::unsupported_media_type;
  if (ec == ServerErrc::malformed_path) return TransportProblem::malformed_path;
  return TransportProblem::malformed_request;
}

/// True for read errors that mean "the peer went away or time ran out": no response possible.
bool is_disconnect(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::error::bad_descriptor ||
         ec == ssl::error::stream_truncated || ec.category() == asio::error::get_ssl_category() ||
         ec == http::error::partial_message;
}

/// Live connections, so that shutdown can close idle ones and wait for the rest.
struct ConnectionSlot {
  asio::any_io_executor strand;
  beast::tcp_stream* tcp = nullptr;  // strand-only
  bool idle = false;                 // strand-only
};

class ConnectionRegistry {
 public:
  std::uint64_t add(std::shared_ptr<ConnectionSlot> slot) {
    const std::lock_guard lock(mutex_);
    const std::uint64_t id = next_++;
    slots_.emplace(id, std::move(slot));
    return id;
  }
  void remove(std::uint64_t id) {
    {
      const std::lock_guard lock(mutex_);
      slots_.erase(id);
    }
    cv_.notify_all();
  }
  /// Posts `fn(slot)` to every connection's strand.
  void for_each(const std::function<void(ConnectionSlot&)>& fn) {
    const std::lock_guard lock(mutex_);
    for (auto& [id, slot] : slots_) {
      asio::post(slot->strand, [slot, fn] { fn(*slot); });
    }
  }
  bool wait_empty_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, deadline, [this] { return slots_.empty(); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, std::shared_ptr<ConnectionSlot>> slots_;
  std::uint64_t next_ = 0;
};

/// One event loop: an io_context that exactly one thread runs (concurrency hint 1, so Asio's
/// scheduler neither wakes nor locks out other threads for it), and the connections pinned to
/// it for their whole life. A request's handler runs inline on its connection's loop; when it
/// blocks (the store, the audit log's group commit) it holds up only that loop's other
/// connections, and the other loops go on.
struct EventLoop {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::atomic<std::size_t> connections{0};
};

struct Dispatched {
  HttpResponse response;
  std::string_view route;
};

/// What a connection reads into: Beast's buffer with the zeroising allocator, so a request's
/// bytes (plaintext fields, identifiers) are wiped when it grows or is freed.
using InputBuffer = beast::basic_flat_buffer<detail::PlainAllocator>;
/// What a connection writes from: one answer, status line to body.
using ResponseBytes = std::vector<char, detail::PlainAllocator>;
/// Answers up to this size reuse the connection's output buffer; larger ones free it after
/// sending (see write_response).
constexpr std::size_t kKeptOutputBytes = 4096;

/// A connection's state across its requests: who it is and the buffers every request reuses.
template <class S>
struct Connection {
  S& stream;
  ConnectionSlot& slot;
  PeerIdentity peer;
  InputBuffer input;
  ResponseBytes output;
  std::size_t served = 0;
};

/// One request and its answer: the log record and the strings it points into (so it is
/// neither copied nor moved).
struct Exchange {
  Exchange() = default;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  std::string request_id = new_request_id();
  std::string method;
  std::string worker;
  RequestRecord record;
  Clock::time_point started{};
};

/// Wipes what the input buffer held once a request has been consumed from it (bytes of a
/// pipelined next request stay, to be read next and wiped after it).
void wipe_spent_input(InputBuffer& input) noexcept {
  if (input.size() != 0) return;
  const auto spare = input.prepare(input.capacity());  // size 0: the whole storage, no growth
  crypto::wipe(std::span<char>(static_cast<char*>(spare.data()), spare.size()));
}

void append(ResponseBytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

void append_header(ResponseBytes& out, std::string_view name, std::string_view value) {
  append(out, name);
  append(out, ": ");
  append(out, value);
  append(out, "\r\n");
}

/// HTTP/1.x framing of `response` into `out` (cleared first): status line, the managed headers
/// (Content-Type, Cache-Control, X-Content-Type-Options, X-Request-Id), the handler's headers
/// that pass header_name_ok/header_value_ok, Connection as `keep_alive` and `version` require,
/// Content-Length, and the body (none for 204 and 304).
void format_response(ResponseBytes& out, const HttpResponse& response,
                     std::string_view request_id, bool keep_alive, unsigned version) {
  int status = response.status;
  if (status < 200 || status > 599) status = 500;
  const bool bodyless = status == 204 || status == 304;
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.clear();
  out.reserve(512 + (bodyless ? 0 : response.body.size()));
  append(out, version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append(out, std::to_string(status));
  append(out, " ");
  append(out, std::string_view(reason.data(), reason.size()));
  append(out, "\r\n");
  append_header(out, "Content-Type",
                header_value_ok(response.content_type) && !response.content_type.empty()
                    ? std::string_view(response.content_type)
                    : std::string_view("application/octet-stream"));
  append_header(out, "Cache-Control", "no-store");
  append_header(out, "X-Content-Type-Options", "nosniff");
  append_header(out, "X-Request-Id", request_id);
  for (const auto& [name, value] : response.headers) {
    if (header_name_ok(name) && header_value_ok(value)) append_header(out, name, value);
  }
  if (version == 10 && keep_alive) append_header(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_header(out, "Connection", "close");
  if (!bodyless) append_header(out, "Content-Length", std::to_string(response.body.size()));
  append(out, "\r\n");
  if (!bodyless) append(out, response.body);
}

}  // namespace

// --- RevocationStore ----------------------------------------------------------------------------

RevocationStore::RevocationStore(std::filesystem::path file)
    : file_(std::move(file)), current_(std::make_shared<const RevocationList>()) {}

ServerResult<void> RevocationStore::reload() {
  const std::lock_guard lock(reload_mutex_);
  return reload_locked();
}

ServerResult<void> RevocationStore::revoke_now(std::string_view serial_hex) {
  if (RevocationList::canonical_serial(serial_hex).empty()) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  const std::lock_guard lock(reload_mutex_);
  if (auto added = pinned_.add(serial_hex); !added) return added.error();
  if (reload_locked()) return {};
  // The file does not read: the serial goes into force on top of the current snapshot.
  RevocationList next = *current_.load();
  for (const auto& s : pinned_.serials())
    (void)next.add(s);
  current_.store(std::make_shared<const RevocationList>(std::move(next)));
  return {};
}

void RevocationStore::revoke_all_now(const RevocationList& list) {
  const std::lock_guard lock(reload_mutex_);
  bool added = false;
  for (const auto& serial : list.serials()) {
    if (pinned_.contains(serial)) continue;
    (void)pinned_.add(serial);  // canonical already: RevocationList holds only valid serials
    added = true;
  }
  if (!added) return;
  RevocationList next = *current_.load();
  for (const auto& serial : pinned_.serials())
    (void)next.add(serial);
  current_.store(std::make_shared<const RevocationList>(std::move(next)));
}

ServerResult<void> RevocationStore::reload_locked() {
  struct stat st{};
  FileStamp stamp;
  if (::stat(file_.c_str(), &st) == 0) {
    stamp = {static_cast<unsigned long long>(st.st_ino),
             static_cast<unsigned long long>(st.st_size),
             static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec};
  }
  auto list = RevocationList::load_file(file_);
  if (!list) return list.error();
  for (const auto& s : pinned_.serials())
    (void)list->add(s);
  current_.store(std::make_shared<const RevocationList>(std::move(*list)));
  stamp_ = stamp;
  return {};
}

void RevocationStore::replace(RevocationList list) {
  current_.store(std::make_shared<const RevocationList>(std::move(list)));
}

bool RevocationStore::is_revoked(std::string_view serial_hex) const {
  return current_.load()->contains(serial_hex);
}

std::shared_ptr<const RevocationList> RevocationStore::snapshot() const {
  return current_.load();
}

void RevocationStore::refresh_if_changed() noexcept {
  try {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count();
    std::int64_t last = last_check_ms_.load();
    if (now - last < 1000 || !last_check_ms_.compare_exchange_strong(last, now)) return;
    std::unique_lock lock(reload_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    struct stat st{};
    if (::stat(file_.c_str(), &st) != 0) return;  // keep the current list
    const FileStamp stamp{
        static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(st.st_size),
        static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec};
    if (stamp == stamp_) return;
    lock.unlock();
    (void)reload();
  } catch (const std::bad_alloc&) {
    // Out of memory while reloading: the old snapshot stays in force (nothing is un-revoked),
    // and the next request tries again instead of waiting for the next second.
    last_check_ms_.store(0);
  } catch (...) {
    SLUIS_BUG("revocation_refresh_threw");  // reload() reports failures as error codes
  }
}

// --- HttpsServer::Impl --------------------------------------------------------------------------

class HttpsServer::Impl final {
 public:
  Impl(ServerConfig config, Router router, ServerHooks hooks)
      : config_(std::move(config)), limits_(config_.request_limits()), router_(std::move(router)),
        hooks_(std::move(hooks)), revocations_(config_.tls.revocation_list) {
    const unsigned n = config_.effective_io_threads() + config_.effective_handler_threads();
    for (unsigned i = 0; i < n; ++i)
      loops_.push_back(std::make_unique<EventLoop>());
  }

  ~Impl() { shutdown(); }

  void start();
  void shutdown();
  void run_until_signalled();
  void reload();

  ServerConfig config_;
  RequestLimits limits_;
  Router router_;
  ServerHooks hooks_;
  std::shared_ptr<LogSink> log_;
  Metrics metrics_;
  RevocationStore revocations_;
  ConnectionRegistry registry_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> draining_{false};
  std::optional<ssl::context> tls_;
  std::uint16_t port_ = 0;
  std::uint16_t metrics_port_ = 0;
  std::mutex lifecycle_mutex_;
  bool started_ = false;
  bool stopped_ = false;
  // Destroyed before the members above (reverse order): coroutine frames owned by the
  // event loops reference the registry, metrics and TLS context.
  std::vector<std::unique_ptr<EventLoop>> loops_;  // made in the constructor, never resized
  std::size_t next_loop_ = 0;                      // the accept loop's (loop 0's) only
  std::optional<tcp::acceptor> acceptor_;
  std::optional<tcp::acceptor> metrics_acceptor_;
  std::vector<std::thread> threads_;  // one per loop; joined before the loops go away

 private:
  /// What reading a request gave: the request, or the refusal to send, or neither (the client
  /// went away or time ran out).
  struct ReadOutcome {
    std::optional<HttpRequest> request;
    std::optional<HttpResponse> refusal;
    unsigned version = 11;
    bool keep_alive = false;
  };
  enum class Admission { admitted, revoked, draining };

  tcp::acceptor open_listener(const std::string& address, std::uint16_t port,
                              std::string_view what);
  static void run_loop(EventLoop& loop);
  EventLoop& pick_loop();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> metrics_loop();
  asio::awaitable<void> metrics_session(tcp::socket socket);
  asio::awaitable<void> session(tcp::socket socket, std::shared_ptr<ConnectionSlot> slot,
                                EventLoop& loop);
  // Each phase is a template on the stream: Stream (TLS: partner mTLS or browser TLS) or
  // PlainStream (the console's loopback demo).
  template <class S>
  asio::awaitable<void> serve(S& stream, ConnectionSlot& slot);
  /// The TLS handshake and the caller's identity: a partner certificate (partner_mtls), nobody
  /// (browser modes). nullopt: the connection is to be dropped (failure counted).
  template <class S>
  asio::awaitable<std::optional<PeerIdentity>> handshake(S& stream);
  template <class S>
  asio::awaitable<bool> await_request(Connection<S>& conn);
  template <class S>
  asio::awaitable<bool> exchange(Connection<S>& conn);
  template <class S>
  asio::awaitable<ReadOutcome> read_request(Connection<S>& conn, Exchange& ex);
  template <class S>
  Admission admit(const Connection<S>& conn);
  Dispatched dispatch(const HttpRequest& request);
  template <class S>
  asio::awaitable<bool> respond(Connection<S>& conn, Exchange& ex, HttpResponse& response,
                                bool keep_alive, unsigned version);
  template <class S>
  asio::awaitable<bool> write_response(Connection<S>& conn, const HttpResponse& response,
                                       std::string_view request_id, bool keep_alive,
                                       unsigned version);
  template <class S>
  asio::awaitable<void> close_connection(S& stream, bool unread_input);
  template <class S>
  asio::awaitable<void> refuse(Connection<S>& conn, Exchange& ex, HttpResponse response);
  void finish_request(const RequestRecord& record);
};

tcp::acceptor HttpsServer::Impl::open_listener(const std::string& address, std::uint16_t port,
                                               std::string_view what) {
  const std::string where = std::string(what) + " " + address + ":" + std::to_string(port);
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) startup_failure("cannot listen on " + where + ": not a numeric IP address");
  tcp::acceptor acceptor(loops_.front()->ioc);  // the listeners live on loop 0
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    startup_failure("cannot listen on " + where +
                    ": the port is already in use by another program; stop that program or "
                    "choose another port in the configuration");
  }
  if (ec == asio::error::access_denied) {
    startup_failure("cannot listen on " + where +
                    ": permission denied (ports below 1024 need privileges); choose a port "
                    "from 1024 up in the configuration");
  }
  if (ec == boost::system::errc::address_not_available) {
    startup_failure("cannot listen on " + where +
                    ": this machine has no such address; use one of its own addresses");
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) startup_failure("cannot listen on " + where + ": the operating system refused");
  return acceptor;
}

void HttpsServer::Impl::start() {
  const std::lock_guard lock(lifecycle_mutex_);
  if (started_) throw StartupError("the server was already started");
  log_ = hooks_.log ? hooks_.log : LogSink::open(config_.log_destination, config_.log_level);
  if (config_.metrics_enabled && !is_loopback_address(config_.metrics_address)) {
    startup_failure("refusing to serve metrics on " + config_.metrics_address +
                    ": the metrics listener must use a loopback address (127.0.0.1 or ::1)");
  }
  if (config_.mode == ListenerMode::browser_plain_loopback &&
      !is_loopback_address(config_.listen_address)) {
    startup_failure("refusing plain HTTP on " + config_.listen_address +
                    ": without TLS the console may listen only on a loopback address (127.0.0.1 "
                    "or ::1); configure a certificate to serve other addresses");
  }
  if (config_.mode == ListenerMode::partner_mtls) {
    if (auto r = revocations_.reload(); !r) {
      startup_failure(config_.tls.revocation_list.string() +
                      (r.error() == ServerErrc::io_failure
                           ? ": cannot read the revocation list; create it (an empty file is a "
                             "valid list) or fix [tls] revocation_list"
                           : ": the revocation list has a malformed line; each line must be one "
                             "hexadecimal certificate serial"));
    }
  }
  if (config_.mode != ListenerMode::browser_plain_loopback) {
    tls_.emplace(make_tls_context(config_.tls, revocations_, config_.mode));
  }
  acceptor_.emplace(open_listener(config_.listen_address, config_.port, "HTTPS"));
  port_ = acceptor_->local_endpoint().port();
  if (config_.metrics_enabled) {
    metrics_acceptor_.emplace(
        open_listener(config_.metrics_address, config_.metrics_port, "metrics"));
    metrics_port_ = metrics_acceptor_->local_endpoint().port();
  }
  set_bug_log(log_);
  if (!detail::openssl_frees_wiped()) {
    // Something in this program used OpenSSL before static initialisation ended: its freed
    // record buffers may keep plaintext (docs/threat-model.md).
    log_->event(LogLevel::warn, "openssl_memory_not_wiped");
  }
  asio::co_spawn(acceptor_->get_executor(), accept_loop(), [](const std::exception_ptr& e) {
    if (e) SLUIS_BUG("accept_loop_threw");
  });
  if (metrics_acceptor_) {
    asio::co_spawn(metrics_acceptor_->get_executor(), metrics_loop(),
                   [](const std::exception_ptr& e) {
                     if (e) SLUIS_BUG("metrics_loop_threw");
                   });
  }
  // One thread per event loop, as many loops as the I/O and the handler threads configured:
  // a connection's I/O and its handlers run on its loop (see dispatch), so up to that many
  // handlers can block at once and no request is handed from one thread to another.
  for (auto& loop : loops_) {
    threads_.emplace_back([&loop = *loop] { run_loop(loop); });
  }
  started_ = true;
  log_->event(LogLevel::info, "listening");
}

void HttpsServer::Impl::run_loop(EventLoop& loop) {
  for (;;) {
    try {
      loop.ioc.run();
      return;
    } catch (...) {
      // Completion handlers never throw by design (every coroutine has its own barrier): a
      // bug. The thread keeps serving.
      SLUIS_BUG("io_thread_threw");
    }
  }
}

/// The loop a new connection is pinned to: the one with the fewest connections, ties going
/// round the loops (so that short connections do not all land on loop 0).
EventLoop& HttpsServer::Impl::pick_loop() {
  const std::size_t n = loops_.size();
  std::size_t best = next_loop_++ % n;
  std::size_t fewest = loops_[best]->connections.load(std::memory_order_relaxed);
  for (std::size_t i = 1; i < n && fewest != 0; ++i) {
    const std::size_t k = (best + i) % n;
    const std::size_t c = loops_[k]->connections.load(std::memory_order_relaxed);
    if (c < fewest) {
      best = k;
      fewest = c;
    }
  }
  return *loops_[best];
}

asio::awaitable<void> HttpsServer::Impl::accept_loop() {
  for (;;) {
    EventLoop& loop = pick_loop();
    auto [ec, socket] = co_await acceptor_->async_accept(loop.ioc, kAwait);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      // Out of file descriptors or similar: back off instead of spinning.
      asio::steady_timer pause(acceptor_->get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kAwait);
      continue;
    }
    if (draining_.load()) {
      metrics_.record_rejected(ConnectionRejection::draining);
      continue;  // socket closes as it goes out of scope
    }
    if (connections_.load() >= config_.limits.max_connections) {
      // Refused before any TLS work: costs one accept and one close.
      metrics_.record_rejected(ConnectionRejection::over_limit);
      continue;
    }
    // A response leaves in more than one segment (TLS records, header then body): without
    // TCP_NODELAY the second waits for the client's delayed ACK, ~40 ms per answer.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    connections_.fetch_add(1);
    loop.connections.fetch_add(1, std::memory_order_relaxed);
    metrics_.connection_opened();
    auto slot = std::make_shared<ConnectionSlot>();
    slot->strand = socket.get_executor();  // the loop's: one thread, so an implicit strand
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket), std::move(slot), loop),
                   [](const std::exception_ptr& e) {
                     if (e) SLUIS_BUG("session_escaped");  // session() catches everything
                   });
  }
}

asio::awaitable<void> HttpsServer::Impl::session(tcp::socket socket,
                                                 std::shared_ptr<ConnectionSlot> slot,
                                                 EventLoop& loop) {
  const std::uint64_t id = registry_.add(slot);
  struct Release {
    Impl& self;
    ConnectionSlot& slot;
    EventLoop& loop;
    std::uint64_t id;
    ~Release() {
      slot.tcp = nullptr;
      loop.connections.fetch_sub(1, std::memory_order_relaxed);
      self.connections_.fetch_sub(1);
      self.metrics_.connection_closed();
      self.registry_.remove(id);
    }
  } release{*this, *slot, loop, id};
  try {
    if (config_.mode == ListenerMode::browser_plain_loopback) {
      PlainStream stream(std::move(socket));
      slot->tcp = &stream;
      co_await serve(stream, *slot);
    } else {
      Stream stream(std::move(socket), *tls_);
      slot->tcp = &beast::get_lowest_layer(stream);
      co_await serve(stream, *slot);
    }
    slot->tcp = nullptr;
  } catch (const std::bad_alloc&) {
    // Top-level barrier: nothing escapes a connection. Out of memory closes this one only.
    slot->tcp = nullptr;
    log_->event(LogLevel::error, "session_failed", "out_of_memory");
  } catch (...) {
    // Nothing else on this path throws by design (Beast and Asio report through error codes,
    // handlers' exceptions stop at the router): whatever arrives here is a bug.
    slot->tcp = nullptr;
    SLUIS_BUG("session_threw");
    log_->event(LogLevel::error, "session_failed");
  }
}

// A connection reads top to bottom: handshake, then one exchange per request until the client,
// the request cap, a refusal or a drain ends it.
template <class S>
asio::awaitable<void> HttpsServer::Impl::serve(S& stream, ConnectionSlot& slot) {
  std::optional<PeerIdentity> peer = co_await handshake(stream);
  if (!peer) co_return;
  Connection<S> conn{stream, slot, std::move(*peer), {}, {}};
  while (!draining_.load()) {
    if (!co_await await_request(conn)) break;
    if (!co_await exchange(conn)) co_return;  // the exchange closed the connection
  }
  if (beast::get_lowest_layer(stream).socket().is_open()) {
    co_await close_connection(stream, false);
  }
}

// Phase 1: the TLS handshake (mTLS against the gateway CA, revocation checked by the verify
// callback) and the partner identity from the certificate; in the browser modes nobody is
// identified here (the console's sessions do that), and plain HTTP has no handshake.
template <class S>
asio::awaitable<std::optional<PeerIdentity>> HttpsServer::Impl::handshake(S& stream) {
  if constexpr (!kIsTls<S>) {
    co_return PeerIdentity{};  // browser_plain_loopback: nobody to prove, nothing to encrypt
  } else {
    auto& transport = beast::get_lowest_layer(stream);
    transport.expires_after(config_.limits.handshake_timeout);
    auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::server, kAwait);
    if (hs_ec) {
      metrics_.record_handshake_failure(classify_handshake(hs_ec, stream.native_handle()));
      log_->event(LogLevel::debug, "handshake_failed");
      co_return std::nullopt;
    }
    if (config_.mode == ListenerMode::browser_tls) co_return PeerIdentity{};
    const X509* peer_cert = SSL_get0_peer_certificate(stream.native_handle());
    std::optional<std::string> partner = detail::partner_id_of(peer_cert);
    if (peer_cert == nullptr || SSL_get_verify_result(stream.native_handle()) != X509_V_OK ||
        !partner) {
      metrics_.record_handshake_failure(HandshakeFailure::no_identity);
      co_return std::nullopt;  // unreachable with the verify callback; kept as a second lock
    }
    co_return PeerIdentity{std::move(*partner), detail::serial_hex_of(peer_cert)};
  }
}

// Phase 2: waiting for a request's first byte. Before the first request and between requests
// the connection is idle (a partner's connection pool keeps it open): the idle timeout applies,
// and a drain may close it. The header timeout runs from the request's first byte. False when
// the connection ended while idle.
template <class S>
asio::awaitable<bool> HttpsServer::Impl::await_request(Connection<S>& conn) {
  if (conn.input.size() != 0) co_return true;  // a pipelined request is already here
  auto& transport = beast::get_lowest_layer(conn.stream);
  conn.slot.idle = true;
  transport.expires_after(config_.limits.idle_timeout);
  auto [ec, n] = co_await conn.stream.async_read_some(conn.input.prepare(4096), kAwait);
  conn.slot.idle = false;
  if (ec) co_return false;
  conn.input.commit(n);
  co_return true;
}

// Phases 3–6 of one request: read it, admit and dispatch it, write the answer, log it. True
// when the connection stays open for the next request.
template <class S>
asio::awaitable<bool> HttpsServer::Impl::exchange(Connection<S>& conn) {
  Exchange ex;
  ex.record.request_id = ex.request_id;
  ex.record.partner_id = conn.peer.partner_id;
  ReadOutcome read = co_await read_request(conn, ex);
  if (read.refusal) {
    co_await refuse(conn, ex, std::move(*read.refusal));
    co_return false;
  }
  if (!read.request) co_return false;  // timeouts and disconnects: nobody to answer
  HttpRequest& request = *read.request;
  request.peer = conn.peer;
  request.request_id = ex.request_id;
  // Worker id only as a checked token; the header value itself is the partner's claim.
  ex.worker = request.worker && is_safe_token(*request.worker)
                  ? *request.worker
                  : (request.worker ? "<invalid>" : "");
  ex.record.worker_id = ex.worker;

  const Admission admission = admit(conn);
  Dispatched result;
  if (admission == Admission::revoked) {
    result.response = make_problem(TransportProblem::certificate_revoked, {},
                                   problem_instance(ex.request_id));
  } else if (admission == Admission::draining) {
    result.response =
        make_problem(TransportProblem::draining, {}, problem_instance(ex.request_id));
  } else {
    result = dispatch(request);
  }
  ++conn.served;
  const bool keep_alive = read.keep_alive && admission == Admission::admitted &&
                          !draining_.load() &&
                          conn.served < config_.limits.max_requests_per_connection;
  ex.record.route =
      result.route.empty() ? LogLiteral("unmatched") : LogLiteral::route_template(result.route);
  const bool written = co_await respond(conn, ex, result.response, keep_alive, read.version);
  wipe_spent_input(conn.input);
  if (!written) co_return false;
  if (!keep_alive) {
    co_await close_connection(conn.stream, false);
    co_return false;
  }
  co_return true;
}

// Phase 3: the request's header (limits, framing, selected headers), an interim 100 Continue
// when asked for, and the body, parsed into zeroising buffers. A request that breaks a rule
// comes back as the refusal to send.
template <class S>
asio::awaitable<HttpsServer::Impl::ReadOutcome> HttpsServer::Impl::read_request(
    Connection<S>& conn, Exchange& ex) {
  const auto& lim = config_.limits;
  auto& transport = beast::get_lowest_layer(conn.stream);
  ReadOutcome out;
  auto refusal = [&](TransportProblem p) {
    out.refusal = make_problem(p, {}, problem_instance(ex.request_id));
    return std::move(out);
  };
  detail::BeastParser parser;
  parser.header_limit(static_cast<std::uint32_t>(lim.header_limit_bytes));
  parser.body_limit(static_cast<std::uint64_t>(lim.body_limit_bytes));
  transport.expires_after(lim.header_timeout);
  auto [h_ec, h_n] = co_await http::async_read_header(conn.stream, conn.input, parser, kAwait);
  ex.started = Clock::now();
  ex.record.time = std::chrono::system_clock::now();
  if (h_ec) {
    if (h_ec == http::error::header_limit) co_return refusal(TransportProblem::headers_too_large);
    // Beast compares a declared Content-Length with the limit as soon as the header ends.
    if (h_ec == http::error::body_limit) co_return refusal(TransportProblem::payload_too_large);
    if (!is_disconnect(h_ec)) co_return refusal(TransportProblem::malformed_request);
    co_return out;
  }
  const auto& header = parser.get();
  const auto method = header.method_string();
  ex.method.assign(method.data(), method.size());
  ex.record.method = ex.method;
  if (auto ok = detail::check_request_header(header.base(),
                                             detail::to_std_optional(parser.content_length()),
                                             parser.chunked(), limits_);
      !ok) {
    co_return refusal(problem_for(ok.error()));
  }
  const auto expect = header[http::field::expect];
  if (expect.size() == 12 && beast::iequals(expect, "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, header.version()};
    transport.expires_after(lim.body_timeout);
    auto [c_ec, c_n] = co_await http::async_write(conn.stream, cont, kAwait);
    if (c_ec) co_return out;
  }
  transport.expires_after(lim.body_timeout);
  auto [b_ec, b_n] = co_await http::async_read(conn.stream, conn.input, parser, kAwait);
  if (b_ec) {
    if (b_ec == http::error::body_limit) co_return refusal(TransportProblem::payload_too_large);
    if (!is_disconnect(b_ec)) co_return refusal(TransportProblem::malformed_request);
    co_return out;
  }
  detail::BeastRequest message = parser.release();
  out.version = message.version();
  out.keep_alive = message.keep_alive();
  ex.record.bytes_in = message.body().size();
  auto built = detail::build_request(message, limits_);  // moves the body, does not copy it
  if (!built) co_return refusal(problem_for(built.error()));
  out.request.emplace(std::move(*built));
  co_return out;
}

// Phase 4a: the certificate is checked against the current revocation list before every
// request (a revocation reaches open connections at their next request), and a drain refuses
// new work.
template <class S>
HttpsServer::Impl::Admission HttpsServer::Impl::admit(const Connection<S>& conn) {
  if (config_.mode == ListenerMode::partner_mtls) {  // browsers carry no certificate
    revocations_.refresh_if_changed();
    if (revocations_.is_revoked(conn.peer.serial_hex)) return Admission::revoked;
  }
  if (draining_.load()) return Admission::draining;
  return Admission::admitted;
}

// Phase 4b: the handler runs here, on this connection's thread, without a hand-off to another
// pool and back: the server runs io_threads + handler_threads threads, so that many handlers may
// block (the store, the audit log's group commit) while the other threads keep serving I/O.
Dispatched HttpsServer::Impl::dispatch(const HttpRequest& request) {
  Dispatched d;
  d.response = router_.dispatch(request, d.route);
  return d;
}

// Phase 5 and 6: the answer in one TLS record and the request's log line and metrics.
template <class S>
asio::awaitable<bool> HttpsServer::Impl::respond(Connection<S>& conn, Exchange& ex,
                                                 HttpResponse& response, bool keep_alive,
                                                 unsigned version) {
  ex.record.status = response.status;
  ex.record.cause = response.cause;
  ex.record.bytes_out = response.body.size();
  beast::get_lowest_layer(conn.stream).expires_after(config_.limits.body_timeout);
  const bool written =
      co_await write_response(conn, response, ex.request_id, keep_alive, version);
  ex.record.latency_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ex.started).count());
  finish_request(ex.record);
  co_return written;
}

// An error response followed by closing the connection. The rest of the request is unread, so
// the close lingers (see close_connection).
template <class S>
asio::awaitable<void> HttpsServer::Impl::refuse(Connection<S>& conn, Exchange& ex,
                                                HttpResponse response) {
  if (ex.started == Clock::time_point{}) {
    ex.started = Clock::now();
    ex.record.time = std::chrono::system_clock::now();
  }
  co_await respond(conn, ex, response, false, 11);
  wipe_spent_input(conn.input);
  co_await close_connection(conn.stream, true);
}

// The status line, the headers and the body go out as one buffer, so one TLS record and one
// send carry a whole answer (Beast's serializer wrote the header and the body as two records
// and two sends). The buffer is the connection's, zeroising; it is wiped once sent.
template <class S>
asio::awaitable<bool> HttpsServer::Impl::write_response(Connection<S>& conn,
                                                        const HttpResponse& response,
                                                        std::string_view request_id,
                                                        bool keep_alive, unsigned version) {
  format_response(conn.output, response, request_id, keep_alive, version);
  auto [ec, n] =
      co_await asio::async_write(conn.stream, asio::buffer(conn.output), kAwait);
  crypto::wipe(std::span<char>(conn.output.data(), conn.output.size()));
  conn.output.clear();
  // Small answers reuse the buffer; a large one (a dossier) gives its memory back, so that a
  // thousand idle connections do not each keep the size of their largest answer.
  if (conn.output.capacity() > kKeptOutputBytes) ResponseBytes().swap(conn.output);
  co_return !ec;
}

template <class S>
asio::awaitable<void> HttpsServer::Impl::close_connection(S& stream, bool unread_input) {
  auto& transport = beast::get_lowest_layer(stream);
  if (!transport.socket().is_open()) co_return;
  if (!unread_input) {
    if constexpr (kIsTls<S>) {
      // Orderly TLS close: send close_notify, wait briefly for the peer's.
      transport.expires_after(kCloseNotifyTime);
      co_await stream.async_shutdown(kAwait);
    } else {
      boost::system::error_code ignored;
      transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  } else {
    // The client may still be sending the request we refused. Closing now would make the kernel
    // answer with RST, which can destroy our response before the client reads it; so stop
    // sending, discard input for a bounded time, then close ("lingering close", RFC 9112 §9.6).
    boost::system::error_code ignored;
    transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
    transport.expires_after(kLingerTime);
    std::array<char, 4096> sink{};
    std::size_t total = 0;
    while (total < kMaxDiscardBytes) {
      auto [ec, n] = co_await transport.async_read_some(asio::buffer(sink), kAwait);
      if (ec) break;
      total += n;
    }
  }
  transport.close();
}

void HttpsServer::Impl::finish_request(const RequestRecord& record) {
  metrics_.record_request(record.route.view(), record.status, record.latency_us);
  log_->request(record);
}

asio::awaitable<void> HttpsServer::Impl::metrics_loop() {
  for (;;) {
    auto [ec, socket] = co_await metrics_acceptor_->async_accept(kAwait);  // on loop 0
    if (ec) {
      if (ec == asio::error::operation_aborted || !metrics_acceptor_->is_open()) co_return;
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, metrics_session(std::move(socket)), [](const std::exception_ptr& e) {
      if (e) SLUIS_BUG("metrics_session_escaped");  // metrics_session() catches everything
    });
  }
}

asio::awaitable<void> HttpsServer::Impl::metrics_session(tcp::socket socket) {
  try {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(4096);
    parser.body_limit(0);
    stream.expires_after(kMetricsTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    if (ec) co_return;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(11);
    res.keep_alive(false);
    if (req.method() == http::verb::get && req.target() == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics_.render_prometheus();
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "not found\n";
    }
    res.prepare_payload();
    co_await http::async_write(stream, res, kAwait);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::bad_alloc&) {
    log_->event(LogLevel::error, "metrics_session_failed", "out_of_memory");
  } catch (...) {
    SLUIS_BUG("metrics_session_threw");
    log_->event(LogLevel::error, "metrics_session_failed");
  }
}

void HttpsServer::Impl::shutdown() {
  const std::lock_guard lock(lifecycle_mutex_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  draining_.store(true);
  log_->event(LogLevel::info, "draining");
  // 1. Stop accepting (on the acceptors' strands, where their operations run).
  std::promise<void> closed;
  asio::post(acceptor_->get_executor(), [this, &closed] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  if (metrics_acceptor_) {
    std::promise<void> metrics_closed;
    asio::post(metrics_acceptor_->get_executor(), [this, &metrics_closed] {
      boost::system::error_code ignored;
      metrics_acceptor_->close(ignored);
      metrics_closed.set_value();
    });
    metrics_closed.get_future().wait();
  }
  // 2. Close idle keep-alive connections; busy ones finish their request and then close.
  registry_.for_each([](ConnectionSlot& s) {
    if (s.idle && s.tcp != nullptr) s.tcp->close();
  });
  // 3. Bounded drain, then close whatever is left.
  if (!registry_.wait_empty_until(Clock::now() + config_.limits.drain_timeout)) {
    log_->event(LogLevel::warn, "drain_timeout");
    registry_.for_each([](ConnectionSlot& s) {
      if (s.tcp != nullptr) s.tcp->close();
    });
    (void)registry_.wait_empty_until(Clock::now() + std::chrono::seconds(2));
  }
  // 4. Handlers run inside their sessions, so none is left running; the loops stop.
  for (auto& loop : loops_) {
    loop->work.reset();
    loop->ioc.stop();
  }
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  log_->event(LogLevel::info, "stopped");
}

void HttpsServer::Impl::reload() {
  if (auto r = revocations_.reload(); !r) {
    log_->event(LogLevel::error, "revocation_reload_failed",
                r.error() == ServerErrc::io_failure ? LogLiteral("unreadable")
                                                    : LogLiteral("malformed"));
  } else {
    log_->event(LogLevel::info, "revocations_reloaded");
  }
  if (hooks_.on_reload) {
    try {
      hooks_.on_reload();
    } catch (...) {
      log_->event(LogLevel::error, "reload_failed");
    }
  }
}

void HttpsServer::Impl::run_until_signalled() {
  auto strand = loops_.front()->ioc.get_executor();  // loop 0: one thread, an implicit strand
  asio::signal_set signals(strand, SIGINT, SIGTERM, SIGHUP);
  std::promise<void> stop;
  std::function<void()> arm;
  arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      if (signal_number == SIGHUP) {
        asio::post(strand, [this] { reload(); });  // holds up loop 0 while it reloads
        arm();
        return;
      }
      stop.set_value();
    });
  };
  asio::post(strand, [&] { arm(); });
  stop.get_future().wait();
  std::promise<void> cancelled;
  asio::post(strand, [&] {
    boost::system::error_code ignored;
    signals.cancel(ignored);
    asio::post(strand, [&] { cancelled.set_value(); });
  });
  cancelled.get_future().wait();
  shutdown();
}

// --- HttpsServer --------------------------------------------------------------------------------

HttpsServer::HttpsServer(ServerConfig config, Router router, ServerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(router), std::move(hooks))) {}

HttpsServer::~HttpsServer() = default;

void HttpsServer::start() {
  impl_->start();
}
std::uint16_t HttpsServer::port() const noexcept {
  return impl_->port_;
}
std::uint16_t HttpsServer::metrics_port() const noexcept {
  return impl_->metrics_port_;
}
void HttpsServer::shutdown() {
  impl_->shutdown();
}
void HttpsServer::run_until_signalled() {
  impl_->run_until_signalled();
}
void HttpsServer::reload() {
  impl_->reload();
}
RevocationStore& HttpsServer::revocations() noexcept {
  return impl_->revocations_;
}
Metrics& HttpsServer::metrics() noexcept {
  return impl_->metrics_;
}

}  // namespace sluis::server
