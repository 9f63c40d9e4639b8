// Error codes of the crypto module and the Result type every fallible operation returns.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace sluis::crypto {

/// Every way a crypto operation can fail. Values are stable (they may appear in logs as numbers).
enum class Errc {
  authentication_failed =
      1,                     ///< AEAD tag or signature did not verify (tampered, wrong key/context)
  wrong_key_version = 2,     ///< the ciphertext names a key version other than the one supplied
  unsupported_format = 3,    ///< unknown format version byte or file magic
  truncated = 4,             ///< input shorter than its format requires
  invalid_argument = 5,      ///< a caller-supplied value is out of its documented range
  key_not_found = 6,         ///< no key for that version / client (e.g. crypto-shredded)
  kdf_failed = 7,            ///< Argon2id could not run (limits too high for this machine)
  io_error = 8,              ///< a key file could not be read or written
  bad_key_file = 9,          ///< a key file is malformed or has unsafe permissions
  wrong_passphrase = 10,     ///< the sealed root key did not open under the passphrase
  bad_card_code = 11,        ///< a card code has a character outside the alphabet or wrong length
  bad_check_character = 12,  ///< a card code's check character does not match (typo)
  bad_proof = 13,            ///< a Merkle inclusion/consistency proof does not verify
  bad_signature = 14,        ///< a signed note / checkpoint signature does not verify
  malformed = 15,            ///< structured input (note, checkpoint, encoding) does not parse
  out_of_memory = 16,        ///< guarded allocation failed
};

/// The error category of sluis::crypto ("sluis.crypto").
[[nodiscard]] const boost::system::error_category& crypto_category() noexcept;

[[nodiscard]] boost::system::error_code make_error_code(Errc e) noexcept;

/// Result of a fallible crypto operation. Must be checked.
template <class T> using Result = boost::system::result<T>;

}  // namespace sluis::crypto

template <> struct boost::system::is_error_code_enum<sluis::crypto::Errc> : std::true_type {};
