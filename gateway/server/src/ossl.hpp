// Internal OpenSSL helpers shared by the CA and the TLS context: owners, error-queue draining.
#pragma once

#include "sluis/server/server_error.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>

namespace sluis::server::detail {

/// True when every block OpenSSL frees is wiped first (ossl_memory.cpp: its memory functions,
/// installed during static initialisation; false if OpenSSL had allocated before that).
[[nodiscard]] bool openssl_frees_wiped() noexcept;

template <class T, void (*F)(T*)> struct OsslFree {
  void operator()(T* p) const noexcept { F(p); }
};
using BioPtr = std::unique_ptr<BIO, OsslFree<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, OsslFree<BIGNUM, BN_free>>;
using X509Ptr = std::unique_ptr<X509, OsslFree<X509, X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OsslFree<X509_NAME, X509_NAME_free>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, OsslFree<X509_EXTENSION, X509_EXTENSION_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, OsslFree<X509_CRL, X509_CRL_free>>;
using Asn1IntPtr = std::unique_ptr<ASN1_INTEGER, OsslFree<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OsslFree<ASN1_TIME, ASN1_TIME_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OsslFree<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using GenNamesPtr = std::unique_ptr<GENERAL_NAMES, OsslFree<GENERAL_NAMES, GENERAL_NAMES_free>>;

/// Drains OpenSSL's thread-local error queue (its strings may name files or parse positions and
/// are never shown to anyone) and returns openssl_failure.
[[nodiscard]] inline boost::system::error_code ossl_failure() noexcept {
  ERR_clear_error();
  return make_error_code(ServerErrc::openssl_failure);
}

/// Drains the queue and returns `e` (for failures that have a more precise meaning).
[[nodiscard]] inline boost::system::error_code ossl_failure(ServerErrc e) noexcept {
  ERR_clear_error();
  return make_error_code(e);
}

/// Canonical serial (upper-case hex, no leading zeros) of `cert`; empty on failure.
[[nodiscard]] std::string serial_hex_of(const X509* cert);

/// The partner id in the single `urn:sluis:partner:<id>` SAN URI of `cert`, or nullopt.
[[nodiscard]] std::optional<std::string> partner_id_of(const X509* cert);

}  // namespace sluis::server::detail
