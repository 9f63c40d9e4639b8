// The "sluis.crypto" error category.
#include "sluis/crypto/error.hpp"

#include <string>

namespace sluis::crypto {
namespace {

class CryptoCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.crypto"; }

  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::authentication_failed: return "authentication failed";
    case Errc::wrong_key_version: return "wrong key version";
    case Errc::unsupported_format: return "unsupported format version";
    case Errc::truncated: return "input truncated";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::key_not_found: return "key not found";
    case Errc::kdf_failed: return "key derivation failed";
    case Errc::io_error: return "key file input/output error";
    case Errc::bad_key_file: return "malformed or unsafe key file";
    case Errc::wrong_passphrase: return "wrong passphrase";
    case Errc::bad_card_code: return "not a card code";
    case Errc::bad_check_character: return "card code check character does not match";
    case Errc::bad_proof: return "proof does not verify";
    case Errc::bad_signature: return "signature does not verify";
    case Errc::malformed: return "malformed input";
    case Errc::out_of_memory: return "out of guarded memory";
    }
    return "unknown crypto error";
  }
};

}  // namespace

const boost::system::error_category& crypto_category() noexcept {
  static const CryptoCategory category;
  return category;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), crypto_category()};
}

}  // namespace sluis::crypto
