// The "sluis.server" error category: stable codes with fixed messages that leak nothing.
#include "sluis/server/server_error.hpp"

#include <string>

namespace sluis::server {
namespace {

class ServerCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluis.server"; }
  std::string message(int ev) const override {
    switch (static_cast<ServerErrc>(ev)) {
    case ServerErrc::openssl_failure: return "a cryptographic library operation failed";
    case ServerErrc::invalid_argument: return "invalid argument";
    case ServerErrc::io_failure: return "a file could not be read or written";
    case ServerErrc::bad_pem: return "the file does not contain the expected PEM object";
    case ServerErrc::key_mismatch: return "the private key does not match the certificate";
    case ServerErrc::not_a_partner_certificate:
      return "the certificate carries no valid sluis partner identity";
    case ServerErrc::malformed_request: return "malformed HTTP request";
    case ServerErrc::malformed_path: return "the request path is not acceptable";
    case ServerErrc::headers_too_large: return "the request header is too large";
    case ServerErrc::body_too_large: return "the request body is too large";
    case ServerErrc::length_required: return "a request body needs a Content-Length";
    case ServerErrc::unsupported_media_type: return "the request body must be application/json";
    case ServerErrc::incomplete_request: return "the request is incomplete";
    case ServerErrc::bad_revocation_list: return "the revocation list has a malformed line";
    }
    return "unknown server error";
  }
};

}  // namespace

const boost::system::error_category& server_category() noexcept {
  static const ServerCategory kCategory;
  return kCategory;
}

boost::system::error_code make_error_code(ServerErrc e) noexcept {
  return {static_cast<int>(e), server_category()};
}

}  // namespace sluis::server
