// Test support for the server tests: temp dirs, a CA with credentials, a bounded TLS client.
#pragma once

#include "sluis/server/ca.hpp"
#include "sluis/server/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sluis::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
namespace gw = sluis::server;

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("sluis-server-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The gateway CA, the server's TLS files and a config pointing at them (ports 0).
struct Pki {
  TempDir dir;
  gw::GatewayCa ca;
  gw::ServerConfig config;

  Pki() : ca(gw::GatewayCa::create("sluis test CA", std::chrono::hours(24)).value()) {
    auto server = ca.issue_server_certificate(
                        {"sluis gateway", {"localhost"}, {"127.0.0.1"}, std::chrono::hours(24)})
                      .value();
    const auto& d = dir.path();
    server.key.write_pem_file(d / "server.key").value();
    server.certificate.write_pem_file(d / "server.crt").value();
    ca.certificate().write_pem_file(d / "ca.crt").value();
    gw::RevocationList{}.save_file(d / "revoked.txt").value();
    config.listen_address = "127.0.0.1";
    config.port = 0;
    config.metrics_port = 0;
    config.io_threads = 2;
    config.handler_threads = 2;
    config.tls.certificate = d / "server.crt";
    config.tls.private_key = d / "server.key";
    config.tls.ca_certificate = d / "ca.crt";
    config.tls.revocation_list = d / "revoked.txt";
    config.limits.handshake_timeout = std::chrono::milliseconds(2000);
    config.limits.header_timeout = std::chrono::milliseconds(2000);
    config.limits.body_timeout = std::chrono::milliseconds(2000);
    config.limits.idle_timeout = std::chrono::milliseconds(3000);
    config.limits.drain_timeout = std::chrono::milliseconds(3000);
  }

  gw::Credential partner(const std::string& id) const {
    return ca.issue_partner_certificate({id, "Test org", std::chrono::hours(1)}).value();
  }
};

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
  std::string header(const std::string& name) const {
    return headers.count(name) ? headers.at(name) : "";
  }
  std::map<std::string, std::string> headers;
};

/// Client-side TLS options.
struct ClientOptions {
  const gw::Credential* credential = nullptr;  ///< null: no client certificate
  bool tls12_only = false;
};

/// A synchronous-looking TLS client whose every operation is bounded by a timeout.
class TlsClient {
 public:
  TlsClient(std::uint16_t port, const gw::Certificate& trust, ClientOptions options = {})
      : ctx_(ssl::context::tls_client), port_(port) {
    SSL_CTX* native = ctx_.native_handle();
    X509_STORE_add_cert(SSL_CTX_get_cert_store(native), trust.native_handle());
    ctx_.set_verify_mode(ssl::verify_peer);
    if (options.credential != nullptr) {
      SSL_CTX_use_certificate(native, options.credential->certificate.native_handle());
      SSL_CTX_use_PrivateKey(native, options.credential->key.native_handle());
    }
    if (options.tls12_only) {
      SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION);
    }
    stream_.emplace(ioc_, ctx_);
  }

  /// TCP connect + TLS handshake. Returns the error (empty on success).
  boost::system::error_code connect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    boost::system::error_code result;
    auto& layer = beast::get_lowest_layer(*stream_);
    layer.expires_after(timeout);
    layer.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
                        [&](boost::system::error_code ec) {
                          if (ec) {
                            result = ec;
                            return;
                          }
                          layer.expires_after(timeout);
                          stream_->async_handshake(
                              ssl::stream_base::client,
                              [&](boost::system::error_code hec) { result = hec; });
                        });
    run();
    return result;
  }

  /// Writes raw bytes (after the handshake).
  boost::system::error_code write_raw(const std::string& bytes,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    boost::system::error_code result;
    beast::get_lowest_layer(*stream_).expires_after(timeout);
    asio::async_write(*stream_, asio::buffer(bytes),
                      [&](boost::system::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  /// Reads one response; nullopt when the connection fails or times out.
  std::optional<Response>
  read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    http::response<http::string_body> res;
    boost::system::error_code result;
    beast::get_lowest_layer(*stream_).expires_after(timeout);
    http::async_read(*stream_, buffer_, res,
                     [&](boost::system::error_code ec, std::size_t) { result = ec; });
    run();
    if (result) return std::nullopt;
    Response out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    for (const auto& f : res)
      out.headers[std::string(f.name_string())] = std::string(f.value());
    return out;
  }

  /// Sends one request and reads the response.
  std::optional<Response>
  request(const std::string& method, const std::string& target, const std::string& body = {},
          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
    for (const auto& [k, v] : headers)
      raw += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
      raw += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    raw += "\r\n" + body;
    if (write_raw(raw)) return std::nullopt;
    return read_response();
  }

  [[nodiscard]] SSL* native() { return stream_->native_handle(); }
  void close() {
    boost::system::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().close(ignored);
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }
  asio::io_context ioc_;
  ssl::context ctx_;
  std::uint16_t port_;
  std::optional<ssl::stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

/// Plain-HTTP GET (metrics listener). Returns status and body, or nullopt.
inline std::optional<Response> plain_get(std::uint16_t port, const std::string& target) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  boost::system::error_code result;
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  stream.expires_after(std::chrono::seconds(5));
  stream.async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](boost::system::error_code ec) {
        if (ec) {
          result = ec;
          return;
        }
        http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
          if (wec) {
            result = wec;
            return;
          }
          http::async_read(stream, buffer, res,
                           [&](boost::system::error_code rec, std::size_t) { result = rec; });
        });
      });
  ioc.run();
  if (result) return std::nullopt;
  Response out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  return out;
}

/// Polls `pred` every 20 ms for up to `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace sluis::test
