// The gateway's own certificate authority: P-256 keys, server and partner certificates, PKCS#12,
// CRLs.
#pragma once

#include "sluis/server/revocation.hpp"
#include "sluis/server/server_error.hpp"

#include <openssl/types.h>  // opaque forward declarations only (EVP_PKEY, X509)

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::server {

/// Prefix of the SAN URI that carries a partner's identity: `urn:sluis:partner:<id>`.
inline constexpr std::string_view kPartnerUriPrefix = "urn:sluis:partner:";
/// Longest partner id (characters).
inline constexpr std::size_t kMaxPartnerIdLength = 64;
/// PBKDF2 iterations for PKCS#12 key/certificate encryption and its MAC.
inline constexpr int kPkcs12Iterations = 100'000;

/// True for a well-formed partner id: 1–64 characters of [a-z0-9-], starting with [a-z0-9].
/// The restriction keeps ids safe in URIs, file names, log lines and metrics labels.
[[nodiscard]] bool is_valid_partner_id(std::string_view id) noexcept;

/// A private key. The key material lives only inside an OpenSSL EVP_PKEY (freed with
/// EVP_PKEY_free, which cleanses it); this class never copies it into a std::string.
/// Move-only. An empty (default or moved-from) key is falsy.
class PrivateKey {
 public:
  PrivateKey() = default;
  /// Takes ownership of `key` (may be nullptr).
  explicit PrivateKey(EVP_PKEY* key) noexcept : key_(key) {}

  /// Generates a fresh ECDSA P-256 key (prime256v1/secp256r1).
  [[nodiscard]] static ServerResult<PrivateKey> generate();
  /// Reads an unencrypted PEM private key (PKCS#8 or traditional). Encrypted PEM is refused
  /// (bad_pem) rather than prompting on a terminal.
  [[nodiscard]] static ServerResult<PrivateKey> load_pem_file(const std::filesystem::path& path);
  /// Writes the key as unencrypted PKCS#8 PEM straight from OpenSSL to the file descriptor
  /// (no intermediate copy). The file is created or truncated with mode 0600 (and chmod'ed to
  /// 0600 if it existed), and fsync'ed. Symbolic links at `path` are refused.
  [[nodiscard]] ServerResult<void> write_pem_file(const std::filesystem::path& path) const;

  /// The OpenSSL handle; ownership stays here. nullptr when empty.
  [[nodiscard]] EVP_PKEY* native_handle() const noexcept { return key_.get(); }
  explicit operator bool() const noexcept { return key_ != nullptr; }

 private:
  struct Free {
    void operator()(EVP_PKEY* p) const noexcept;
  };
  std::unique_ptr<EVP_PKEY, Free> key_;
};

/// An X.509 certificate. Copying shares the immutable OpenSSL object (reference counted).
class Certificate {
 public:
  Certificate() = default;
  /// Takes ownership of one reference to `cert` (may be nullptr).
  explicit Certificate(X509* cert) noexcept : cert_(cert) {}
  Certificate(const Certificate& other) noexcept;
  Certificate& operator=(const Certificate& other) noexcept;
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;
  ~Certificate() = default;

  /// Parses the first PEM certificate in `pem`.
  [[nodiscard]] static ServerResult<Certificate> from_pem(std::string_view pem);
  /// Reads the first PEM certificate of a file.
  [[nodiscard]] static ServerResult<Certificate> load_pem_file(const std::filesystem::path& path);

  [[nodiscard]] ServerResult<std::string> to_pem() const;
  /// Writes the certificate as PEM (mode 0644; certificates are public).
  [[nodiscard]] ServerResult<void> write_pem_file(const std::filesystem::path& path) const;

  /// Serial number in canonical form (upper-case hex, no leading zeros). Empty when empty.
  [[nodiscard]] std::string serial_hex() const;
  /// The subject's commonName (UTF-8), or empty.
  [[nodiscard]] std::string subject_common_name() const;
  /// The partner id from the single `urn:sluis:partner:<id>` SAN URI; nullopt when absent,
  /// duplicated or malformed. The subject CN is deliberately not consulted (see tls docs).
  [[nodiscard]] std::optional<std::string> partner_id() const;
  /// End of validity.
  [[nodiscard]] std::chrono::system_clock::time_point not_after() const;

  /// The OpenSSL handle; ownership stays here. nullptr when empty.
  [[nodiscard]] X509* native_handle() const noexcept { return cert_.get(); }
  explicit operator bool() const noexcept { return cert_ != nullptr; }

 private:
  struct Free {
    void operator()(X509* p) const noexcept;
  };
  std::unique_ptr<X509, Free> cert_;
};

/// A private key with its certificate (what a server or partner presents in TLS).
struct Credential {
  PrivateKey key;
  Certificate certificate;
};

/// What goes into the gateway's server certificate.
struct ServerCertificateRequest {
  std::string common_name = "sluis gateway";
  std::vector<std::string> dns_names;     ///< e.g. {"gateway.example.be", "localhost"}
  std::vector<std::string> ip_addresses;  ///< e.g. {"127.0.0.1", "::1"}
  std::chrono::seconds validity = std::chrono::hours(24 * 397);
};

/// What goes into a partner's client certificate.
struct PartnerCertificateRequest {
  std::string partner_id;    ///< must satisfy is_valid_partner_id
  std::string organisation;  ///< optional subject O (UTF-8, ≤ 64 bytes, no control characters)
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
};

/// The gateway's certificate authority.
///
/// Keys are ECDSA P-256 with SHA-256 signatures: unlike Ed25519, P-256 certificates are accepted
/// by every TLS stack a partner's case-management system is likely to run (Java, .NET/SChannel,
/// older OpenSSL/NSS builds, HSMs and smart cards), for both TLS 1.2 and 1.3.
/// Serials are 128 random bits. The CA is `CA:TRUE, pathlen:0` and signs leaf certificates only.
/// Thread-safety: const member functions may be called concurrently.
class GatewayCa {
 public:
  /// Creates a new self-signed CA named `common_name`, valid for `validity` from now.
  [[nodiscard]] static ServerResult<GatewayCa> create(std::string_view common_name,
                                                      std::chrono::seconds validity);
  /// Loads a CA from its PEM certificate and PEM private key; fails with key_mismatch when the
  /// key does not belong to the certificate.
  [[nodiscard]] static ServerResult<GatewayCa> load(const std::filesystem::path& certificate_pem,
                                                    const std::filesystem::path& key_pem);
  /// Writes the certificate (0644) and the private key (0600).
  [[nodiscard]] ServerResult<void> save(const std::filesystem::path& certificate_pem,
                                        const std::filesystem::path& key_pem) const;

  [[nodiscard]] const Certificate& certificate() const noexcept { return certificate_; }

  /// Issues the gateway's TLS server certificate: fresh P-256 key, SAN DNS/IP entries (at least
  /// one), EKU serverAuth, KU digitalSignature. Bad names → invalid_argument.
  [[nodiscard]] ServerResult<Credential>
  issue_server_certificate(const ServerCertificateRequest& request) const;

  /// Issues a partner client certificate: fresh P-256 key, subject CN = partner id (and O when
  /// given), SAN URI `urn:sluis:partner:<id>`, EKU clientAuth, KU digitalSignature.
  [[nodiscard]] ServerResult<Credential>
  issue_partner_certificate(const PartnerCertificateRequest& request) const;

  /// A signed X.509 v2 CRL (PEM) listing every serial in `revoked`, for partners' tooling.
  /// thisUpdate = now, nextUpdate = now + `next_update`.
  [[nodiscard]] ServerResult<std::string> crl_pem(const RevocationList& revoked,
                                                  std::chrono::seconds next_update) const;

 private:
  GatewayCa(Certificate c, PrivateKey k) noexcept
      : certificate_(std::move(c)), key_(std::move(k)) {}
  Certificate certificate_;
  PrivateKey key_;
};

/// Serialises `credential` with the CA certificate as a password-protected PKCS#12 (DER):
/// AES-256-CBC with PBKDF2-HMAC-SHA256 (PBES2) for the key and certificate bags, HMAC-SHA256 MAC,
/// kPkcs12Iterations iterations each. `password` must be 8–1024 bytes without NUL.
[[nodiscard]] ServerResult<std::vector<std::uint8_t>> export_pkcs12(const Credential& credential,
                                                                    const Certificate& ca,
                                                                    std::string_view password,
                                                                    std::string_view friendly_name);

/// export_pkcs12 written to `path` with mode 0600.
[[nodiscard]] ServerResult<void> write_pkcs12_file(const std::filesystem::path& path,
                                                   const Credential& credential,
                                                   const Certificate& ca, std::string_view password,
                                                   std::string_view friendly_name);

}  // namespace sluis::server
