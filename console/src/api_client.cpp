// The /v1 client (api_client.hpp) on Boost.Beast over Asio's OpenSSL stream. Every phase of a
// call has a deadline (beast::tcp_stream::expires_after) and the answer a size limit, as the
// server side does; the TLS context trusts the gateway CA alone and checks sluisd's name.
#include "sluis/console/api_client.hpp"

#include "sluis/gateway/http.hpp"

#include <boost/asio/connect.hpp>
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

#include <algorithm>
#include <stdexcept>

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
  if (r.worker.empty() || r.worker.size() > 128 || !sluis::gateway::is_safe_token(r.worker))
    return false;
  if (r.purpose && (r.purpose->empty() || !sluis::gateway::is_safe_token(*r.purpose))) return false;
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

struct ApiClient::Impl {
  ApiClientOptions options;
  asio::ip::address address;
  ssl::context tls{ssl::context::tls_client};
};

ApiClient::ApiClient(ApiClientOptions options, const sluis::gateway::Certificate& gateway_ca,
                     const sluis::gateway::Credential& partner)
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

boost::system::result<ApiResponse> ApiClient::call(const ApiRequest& request) const {
  if (!valid_request(request)) return ApiClientErrc::invalid_request;
  const auto& o = impl_->options;
  asio::io_context io;
  ssl::stream<beast::tcp_stream> stream(io, impl_->tls);
  SSL* ssl_handle = stream.native_handle();
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

  // One phase at a time, each with its own deadline; the handlers only record the outcome.
  auto run = [&io]() {
    io.restart();
    io.run();
  };
  auto& layer = beast::get_lowest_layer(stream);
  boost::system::error_code result;
  layer.expires_after(o.timeout);
  layer.async_connect(tcp::endpoint(impl_->address, o.port),
                      [&](boost::system::error_code e) { result = e; });
  run();
  if (result == beast::error::timeout) return ApiClientErrc::timeout;
  if (result) return ApiClientErrc::connect_failed;

  layer.expires_after(o.timeout);
  stream.async_handshake(ssl::stream_base::client,
                         [&](boost::system::error_code e) { result = e; });
  run();
  ERR_clear_error();
  if (result == beast::error::timeout) return ApiClientErrc::timeout;
  if (result) return ApiClientErrc::tls_failed;

  http::request<http::string_body> req;
  req.version(11);
  req.method_string(request.method);
  req.target(request.target);
  req.set(http::field::host, o.server_name);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  req.set("Sluis-Worker", request.worker);
  if (request.purpose) req.set("Sluis-Purpose", *request.purpose);
  if (request.accept_language) req.set(http::field::accept_language, *request.accept_language);
  if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH" ||
      !request.body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = request.body;
    req.prepare_payload();
  }
  layer.expires_after(o.timeout);
  http::async_write(stream, req, [&](boost::system::error_code e, std::size_t) { result = e; });
  run();
  if (result == beast::error::timeout) return ApiClientErrc::timeout;
  if (result) return ApiClientErrc::transport_failed;

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxResponseHeaderBytes));
  parser.body_limit(o.max_response_bytes);
  layer.expires_after(o.timeout);
  http::async_read(stream, buffer, parser,
                   [&](boost::system::error_code e, std::size_t) { result = e; });
  run();
  if (result == beast::error::timeout) return ApiClientErrc::timeout;
  if (result == http::error::header_limit || result == http::error::body_limit)
    return ApiClientErrc::response_too_large;
  if (result && result.category() == make_error_code(http::error::end_of_stream).category())
    return ApiClientErrc::bad_response;
  if (result) return ApiClientErrc::transport_failed;

  // Connection: close was asked for; the TLS shutdown is best effort (sluisd closes too).
  layer.expires_after(o.timeout);
  stream.async_shutdown([](boost::system::error_code) {});
  run();
  ERR_clear_error();

  auto res = parser.release();
  ApiResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  return out;
}

}  // namespace sluis::console
