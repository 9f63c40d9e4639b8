// The /v1 client (api_client.hpp) on Boost.Beast over Asio's OpenSSL stream, synchronously: a
// call runs on its caller's thread, and every wait for the socket is a poll(2) bounded by the
// phase's deadline (connect, handshake, the exchange), after which the connection is dropped;
// the answer has a size limit, as the server side does; the TLS context trusts the gateway CA
// alone and checks sluisd's name. Connections are kept alive and reused (a mutual-TLS handshake
// costs both sides more than a dossier read): a few idle ones are pooled, each used by one call
// at a time.
#include "sluis/console/api_client.hpp"

#include "sluis/crypto/secret.hpp"
#include "sluis/server/http.hpp"

#include <boost/asio/write.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace sluis::console {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// The suites sluisd offers (gateway/server/src/server.cpp): AEAD only, ECDHE for TLS 1.2.
constexpr const char* kTls13Suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
constexpr const char* kTls12Ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
                                      "ECDHE-ECDSA-AES128-GCM-SHA256";
constexpr std::size_t kMaxResponseHeaderBytes = 16 * 1024;
// Idle connections kept for reuse, and how long one may wait: well under sluisd's keep-alive
// idle timeout (60 s by default), so that a kept connection is rarely closed under a call.
constexpr std::size_t kMaxIdleConnections = 8;
constexpr std::chrono::seconds kMaxIdle{20};

class ApiClientCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.console.api"; }
  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<ApiClientErrc>(ev)) {
    case ApiClientErrc::invalid_request:
      return "request not sent: invalid method, target or header";
    case ApiClientErrc::connect_failed: return "cannot connect to the gateway";
    case ApiClientErrc::tls_failed: return "TLS handshake with the gateway failed";
    case ApiClientErrc::timeout: return "the gateway did not answer in time";
    case ApiClientErrc::transport_failed: return "the connection to the gateway broke";
    case ApiClientErrc::response_too_large: return "the gateway's answer is too large";
    case ApiClientErrc::bad_response: return "the gateway's answer cannot be read";
    }
    return "unknown API client error";
  }
};

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

bool printable_with_spaces(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

bool valid_request(const ApiRequest& r) {
  static const std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (std::find(std::begin(kMethods), std::end(kMethods), r.method) == std::end(kMethods))
    return false;
  if (r.target.rfind("/v1/", 0) != 0 || r.target.size() > 2048 || !printable(r.target))
    return false;
  if (r.worker.empty() || r.worker.size() > 128 || !sluis::server::is_safe_token(r.worker))
    return false;
  if (r.purpose && (r.purpose->empty() || !sluis::server::is_safe_token(*r.purpose))) return false;
  if (r.accept_language &&
      (r.accept_language->size() > 256 || !printable_with_spaces(*r.accept_language)))
    return false;
  return true;
}

[[noreturn]] void setup_failure(const char* what) {
  ERR_clear_error();
  throw std::runtime_error(std::string("console API client: ") + what);
}

}  // namespace

const boost::system::error_category& api_client_category() noexcept {
  static const ApiClientCategory category;
  return category;
}

boost::system::error_code make_error_code(ApiClientErrc e) noexcept {
  return {static_cast<int>(e), api_client_category()};
}

/// A TCP socket read and written synchronously (non-blocking underneath), every wait for it a
/// poll(2) bounded by `deadline`: the next layer of the TLS stream. Asio's own blocking reads
/// wait without a bound, and running an event loop per call costs a trip through its scheduler
/// (an epoll_wait) for every step of TLS and HTTP parsing.
class DeadlineSocket {
 public:
  using lowest_layer_type = tcp::socket;
  using executor_type = tcp::socket::executor_type;

  explicit DeadlineSocket(asio::io_context& io) : socket_(io) {}

  [[nodiscard]] lowest_layer_type& lowest_layer() noexcept { return socket_; }
  [[nodiscard]] executor_type get_executor() noexcept { return socket_.get_executor(); }

  /// Until when the next reads and writes may wait.
  std::chrono::steady_clock::time_point deadline{};

  /// Connects to `to`. Errors: timed_out, or the connect's own error.
  void connect(const tcp::endpoint& to, boost::system::error_code& ec) {
    socket_.open(to.protocol(), ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) return;
    socket_.connect(to, ec);
    if (ec != asio::error::in_progress && ec != asio::error::would_block) return;
    if (!wait(POLLOUT, ec)) return;
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &size) != 0)
      error = errno;
    ec = error != 0 ? boost::system::error_code(error, boost::system::system_category())
                    : boost::system::error_code();
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    for (;;) {
      const std::size_t n = socket_.read_some(buffers, ec);
      if (ec != asio::error::would_block) return n;
      if (!wait(POLLIN, ec)) return 0;
    }
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    for (;;) {
      const std::size_t n = socket_.write_some(buffers, ec);
      if (ec != asio::error::would_block) return n;
      if (!wait(POLLOUT, ec)) return 0;
    }
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  /// Waits until the socket is ready for `events` or the deadline passes (timed_out).
  bool wait(short events, boost::system::error_code& ec) {
    for (;;) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ec = asio::error::timed_out;
        return false;
      }
      pollfd p{socket_.native_handle(), events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
      if (r > 0) {
        ec = {};
        return true;
      }
      if (r < 0 && errno != EINTR) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return false;
      }
    }
  }
  tcp::socket socket_;
};

/// One TLS connection to sluisd, used by one call at a time on the calling thread. Its
/// io_context is never run: it only owns the socket's registration.
struct Connection {
  explicit Connection(ssl::context& tls) : stream(io, tls) {}
  asio::io_context io{1};
  ssl::stream<DeadlineSocket> stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;

  void set_deadline(std::chrono::milliseconds timeout) {
    stream.next_layer().deadline = std::chrono::steady_clock::now() + timeout;
  }
};

struct ApiClient::Impl {
  ApiClientOptions options;
  asio::ip::address address;
  ssl::context tls{ssl::context::tls_client};
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;  ///< oldest first

  /// A kept connection that has not waited too long, or nothing.
  std::unique_ptr<Connection> take_idle() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (now - c->idle_since < kMaxIdle) return c;
    }
    return nullptr;
  }
  void keep(std::unique_ptr<Connection> c) {
    c->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    if (idle.size() >= kMaxIdleConnections) idle.erase(idle.begin());
    idle.push_back(std::move(c));
  }
};

ApiClient::ApiClient(ApiClientOptions options, const sluis::server::Certificate& gateway_ca,
                     const sluis::server::Credential& partner)
    : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  impl_->address = asio::ip::make_address(options.address, ec);
  if (ec)
    throw std::runtime_error("console API client: '" + options.address + "' is not an IP address");
  if (options.server_name.empty() || !printable(options.server_name))
    throw std::runtime_error(
        "console API client: the gateway's server name is empty or not printable");
  impl_->options = std::move(options);
  SSL_CTX* native = impl_->tls.native_handle();
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
    setup_failure("the TLS library refused the cipher configuration");
  // Trust the gateway CA and nothing else.
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr || X509_STORE_add_cert(store, gateway_ca.native_handle()) != 1) {
    X509_STORE_free(store);
    setup_failure("cannot build the trust store from the gateway CA certificate");
  }
  SSL_CTX_set_cert_store(native, store);  // takes ownership
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_use_certificate(native, partner.certificate.native_handle()) != 1 ||
      SSL_CTX_use_PrivateKey(native, partner.key.native_handle()) != 1 ||
      SSL_CTX_check_private_key(native) != 1)
    setup_failure("the partner key does not belong to the partner certificate");
}

ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

namespace {

/// What one attempt on one connection ended in.
struct Attempt {
  boost::system::result<ApiResponse> answer = ApiClientErrc::transport_failed;
  bool reusable = false;      ///< the connection may carry another call
  bool nothing_read = false;  ///< failed before any byte of an answer (a kept connection closed)
};

/// Connects and handshakes a new connection. Errors: timeout, connect_failed, tls_failed,
/// invalid_request (the server name cannot be set).
boost::system::result<std::unique_ptr<Connection>>
open_connection(ssl::context& tls, const ApiClientOptions& o, const asio::ip::address& address) {
  auto c = std::make_unique<Connection>(tls);
  SSL* ssl_handle = c->stream.native_handle();
  // The name sluisd's certificate must carry: an IP SAN for a literal, else a DNS SAN (+ SNI).
  boost::system::error_code ec;
  (void)asio::ip::make_address(o.server_name, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
  const bool names_ok =
      // SSL_set_tlsext_host_name, spelled out: the macro uses a C cast.
      ec ? (SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(o.server_name.c_str())) == 1 &&
            SSL_set1_host(ssl_handle, o.server_name.c_str()) == 1)
         : X509_VERIFY_PARAM_set1_ip_asc(param, o.server_name.c_str()) == 1;
  if (!names_ok) {
    ERR_clear_error();
    return ApiClientErrc::invalid_request;
  }
  auto& socket = c->stream.next_layer();
  boost::system::error_code result;
  c->set_deadline(o.timeout);
  socket.connect(tcp::endpoint(address, o.port), result);
  if (result == asio::error::timed_out) return ApiClientErrc::timeout;
  if (result) return ApiClientErrc::connect_failed;
  boost::system::error_code nodelay_ec;  // the request leaves in one write; no Nagle wait
  socket.lowest_layer().set_option(tcp::no_delay(true), nodelay_ec);
  c->set_deadline(o.timeout);
  c->stream.handshake(ssl::stream_base::client, result);
  ERR_clear_error();
  if (result == asio::error::timed_out) return ApiClientErrc::timeout;
  if (result) return ApiClientErrc::tls_failed;
  return c;
}

/// The request's bytes, head and body in one buffer (one TLS record, one send). Every value in
/// the head passed valid_request (tokens and printable text, no line breaks).
std::string format_request(const ApiClientOptions& o, const ApiRequest& request) {
  const bool has_body = request.method == "POST" || request.method == "PUT" ||
                        request.method == "PATCH" || !request.body.empty();
  std::string out;
  out.reserve(256 + request.target.size() + request.body.size());
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(o.server_name).append("\r\n");
  out.append("Accept: application/json\r\n");
  out.append("Sluis-Worker: ").append(request.worker).append("\r\n");
  if (request.purpose) out.append("Sluis-Purpose: ").append(*request.purpose).append("\r\n");
  if (request.accept_language)
    out.append("Accept-Language: ").append(*request.accept_language).append("\r\n");
  if (has_body) {
    out.append("Content-Type: application/json\r\n");
    out.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  }
  out.append("\r\n");
  if (has_body) out.append(request.body);
  return out;
}

/// Wipes a request's bytes (a registration carries the client's identifier) when it goes.
struct WipedText {
  explicit WipedText(std::string t) : text(std::move(t)) {}
  WipedText(const WipedText&) = delete;
  WipedText& operator=(const WipedText&) = delete;
  ~WipedText() { sluis::crypto::wipe(std::span<char>(text.data(), text.size())); }
  std::string text;
};

/// Sends `request` on `c` and reads the whole answer.
Attempt exchange(Connection& c, const ApiClientOptions& o, const ApiRequest& request) {
  Attempt out;
  // The request is written and the answer read under one deadline for the whole exchange.
  boost::system::error_code written, result;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxResponseHeaderBytes));
  parser.body_limit(o.max_response_bytes);
  const WipedText req(format_request(o, request));
  c.set_deadline(o.timeout);
  asio::write(c.stream, asio::buffer(req.text), written);
  if (written) {
    ERR_clear_error();
    out.nothing_read = true;
    out.answer =
        written == asio::error::timed_out ? ApiClientErrc::timeout : ApiClientErrc::transport_failed;
    return out;
  }
  const std::size_t read = http::read(c.stream, c.buffer, parser, result);
  ERR_clear_error();
  if (result) {
    out.nothing_read = read == 0 && !parser.got_some();
    if (result == asio::error::timed_out) {
      out.answer = ApiClientErrc::timeout;
    } else if (result == http::error::header_limit || result == http::error::body_limit) {
      out.answer = ApiClientErrc::response_too_large;
    } else if (result.category() == make_error_code(http::error::end_of_stream).category()) {
      out.answer = ApiClientErrc::bad_response;
    } else {
      out.answer = ApiClientErrc::transport_failed;
    }
    return out;
  }
  auto res = parser.release();
  out.reusable = res.keep_alive();
  ApiResponse answer;
  answer.status = static_cast<int>(res.result_int());
  answer.content_type = std::string(res[http::field::content_type]);
  answer.body = std::move(res.body());
  out.answer = std::move(answer);
  return out;
}

}  // namespace

boost::system::result<ApiResponse> ApiClient::call(const ApiRequest& request) const {
  if (!valid_request(request)) return ApiClientErrc::invalid_request;
  const auto& o = impl_->options;
  // A kept connection first. sluisd may have closed it meanwhile: when the call then fails
  // before any answer arrived, it is made again on a new connection — but only a GET, which
  // changes nothing; a change is never sent twice (its caller sees transport_failed instead).
  if (auto kept = impl_->take_idle()) {
    Attempt a = exchange(*kept, o, request);
    if (a.answer) {
      if (a.reusable) impl_->keep(std::move(kept));
      return std::move(a.answer);
    }
    if (!(a.nothing_read && request.method == "GET")) return a.answer.error();
  }
  auto fresh = open_connection(impl_->tls, o, impl_->address);
  if (!fresh) return fresh.error();
  Attempt a = exchange(**fresh, o, request);
  if (a.answer && a.reusable) impl_->keep(std::move(*fresh));
  return std::move(a.answer);
}

}  // namespace sluis::console
