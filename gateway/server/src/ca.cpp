// The gateway CA on OpenSSL 3: P-256 keys, X.509v3 certificates, CRLs and PKCS#12 export.
#include "sluis/server/ca.hpp"

#include "ossl.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <ctime>

namespace sluis::server {

using detail::ossl_failure;

namespace detail {

std::string serial_hex_of(const X509* cert) {
  if (cert == nullptr) return {};
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    ERR_clear_error();
    return {};
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    ERR_clear_error();
    return {};
  }
  std::string out = RevocationList::canonical_serial(hex);
  OPENSSL_free(hex);
  return out;
}

std::optional<std::string> partner_id_of(const X509* cert) {
  if (cert == nullptr) return std::nullopt;
  int critical = 0;
  GenNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  ERR_clear_error();  // "extension absent" leaves nothing useful on the queue
  if (!names) return std::nullopt;
  std::optional<std::string> found;
  const int n = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const void* value = GENERAL_NAME_get0_value(gn, &type);
    if (type != GEN_URI || value == nullptr) continue;
    const auto* s = static_cast<const ASN1_IA5STRING*>(value);
    const std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (!uri.starts_with(kPartnerUriPrefix)) continue;
    if (found) return std::nullopt;  // two partner identities: refuse rather than pick one
    const std::string_view id = uri.substr(kPartnerUriPrefix.size());
    if (!is_valid_partner_id(id)) return std::nullopt;
    found.emplace(id);
  }
  return found;
}

}  // namespace detail

namespace {

using namespace detail;

constexpr long kBackdateSeconds = 300;  // tolerate 5 minutes of partner clock skew

/// Opens `path` for writing with `mode`, refusing symlinks, and forces the mode if it existed.
ServerResult<int> open_for_write(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return make_error_code(ServerErrc::io_failure);
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    return make_error_code(ServerErrc::io_failure);
  }
  return fd;
}

ServerResult<void> write_all(const std::filesystem::path& path, mode_t mode, const void* data,
                             std::size_t size) {
  auto fd = open_for_write(path, mode);
  if (!fd) return fd.error();
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t done = 0;
  bool ok = true;
  while (done < size) {
    const ssize_t n = ::write(*fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ok = ::fsync(*fd) == 0 && ok;
  ok = ::close(*fd) == 0 && ok;
  if (!ok) return make_error_code(ServerErrc::io_failure);
  return {};
}

/// Contents of a memory BIO as a string (for public data only: certificates, CRLs).
std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(n));
}

bool valid_text_field(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-' && !(c == '*' && i == 0 && name.size() > 1 && name[1] == '.')) {
      return false;
    }
    if (++label > 63) return false;
  }
  return label != 0;
}

/// A positive random serial of 128 bits (RFC 5280 allows up to 20 octets).
ServerResult<Asn1IntPtr> random_serial() {
  std::array<unsigned char, 16> bytes{};
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return ossl_failure();
  } while (bytes[0] == 0 && bytes[1] == 0);  // keep the full width; never zero
  BnPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn) return ossl_failure();
  Asn1IntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return ossl_failure();
  return serial;
}

ServerResult<void> add_conf_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return ossl_failure();
  return {};
}

ServerResult<void> push_name(GENERAL_NAMES* names, int type, std::string_view value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) return ossl_failure();
  if (type == GEN_IPADD) {
    const std::string text(value);
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(text.c_str());
    if (ip == nullptr) {
      GENERAL_NAME_free(gn);
      return ossl_failure(ServerErrc::invalid_argument);
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (s == nullptr || ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(gn);
      return ossl_failure();
    }
    GENERAL_NAME_set0_value(gn, type, s);
  }
  if (sk_GENERAL_NAME_push(names, gn) <= 0) {
    GENERAL_NAME_free(gn);
    return ossl_failure();
  }
  return {};
}

struct NameEntry {
  const char* field;
  std::string_view value;
};

ServerResult<X509NamePtr> make_name(std::initializer_list<NameEntry> entries) {
  X509NamePtr name(X509_NAME_new());
  if (!name) return ossl_failure();
  for (const auto& e : entries) {
    if (e.value.empty()) continue;
    if (X509_NAME_add_entry_by_txt(name.get(), e.field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(e.value.data()),
                                   static_cast<int>(e.value.size()), -1, 0) != 1) {
      return ossl_failure(ServerErrc::invalid_argument);
    }
  }
  return name;
}

/// What differs between the CA, server and partner certificates.
struct CertProfile {
  const char* basic_constraints;
  const char* key_usage;
  const char* extended_key_usage;    // nullptr for the CA
  GENERAL_NAMES* subject_alt_names;  // nullptr for the CA
};

/// Builds and signs a certificate. `issuer`/`issuer_key` are null for a self-signed CA.
ServerResult<X509Ptr> build_certificate(const X509_NAME* subject, EVP_PKEY* subject_key,
                                        X509* issuer, EVP_PKEY* issuer_key,
                                        std::chrono::seconds validity, const CertProfile& p) {
  if (validity.count() <= 0 || validity > std::chrono::hours(24 * 365 * 30)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  X509Ptr cert(X509_new());
  if (!cert) return ossl_failure();
  auto serial = random_serial();
  if (!serial) return serial.error();
  const bool self_signed = issuer == nullptr;
  const X509_NAME* issuer_name = self_signed ? subject : X509_get_subject_name(issuer);
  const long days = static_cast<long>(validity.count() / 86400);
  const long secs = static_cast<long>(validity.count() % 86400);
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_subject_name(cert.get(), subject) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), secs, nullptr) ==
          nullptr) {
    return ossl_failure();
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, self_signed ? cert.get() : issuer, cert.get(), nullptr, nullptr, 0);
  if (auto r = add_conf_ext(cert.get(), &ctx, NID_basic_constraints, p.basic_constraints); !r) {
    return r.error();
  }
  if (auto r = add_conf_ext(cert.get(), &ctx, NID_key_usage, p.key_usage); !r) return r.error();
  if (p.extended_key_usage != nullptr) {
    if (auto r = add_conf_ext(cert.get(), &ctx, NID_ext_key_usage, p.extended_key_usage); !r) {
      return r.error();
    }
  }
  if (auto r = add_conf_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash"); !r) {
    return r.error();
  }
  if (!self_signed) {
    if (auto r = add_conf_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"); !r) {
      return r.error();
    }
  }
  if (p.subject_alt_names != nullptr &&
      X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, p.subject_alt_names, 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return ossl_failure();
  }
  EVP_PKEY* signer = self_signed ? subject_key : issuer_key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return ossl_failure();
  return cert;
}

int refuse_passphrase(char*, int, int, void*) {
  return -1;
}

}  // namespace

bool is_valid_partner_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxPartnerIdLength) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0)) return false;
  }
  return true;
}

// --- PrivateKey ---------------------------------------------------------------------------------

void PrivateKey::Free::operator()(EVP_PKEY* p) const noexcept {
  EVP_PKEY_free(p);
}

ServerResult<PrivateKey> PrivateKey::generate() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1) {
    return ossl_failure();
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &key) != 1) return ossl_failure();
  return PrivateKey(key);
}

ServerResult<PrivateKey> PrivateKey::load_pem_file(const std::filesystem::path& path) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) return ossl_failure(ServerErrc::io_failure);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr);
  if (key == nullptr) return ossl_failure(ServerErrc::bad_pem);
  return PrivateKey(key);
}

ServerResult<void> PrivateKey::write_pem_file(const std::filesystem::path& path) const {
  if (!key_) return make_error_code(ServerErrc::invalid_argument);
  ERR_clear_error();
  auto fd = open_for_write(path, 0600);
  if (!fd) return fd.error();
  bool ok = false;
  {
    BioPtr bio(BIO_new_fd(*fd, BIO_NOCLOSE));
    ok = bio &&
         PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
             1 &&
         BIO_flush(bio.get()) == 1;
  }
  ok = ::fsync(*fd) == 0 && ok;
  ok = ::close(*fd) == 0 && ok;
  if (!ok) return ossl_failure(ServerErrc::io_failure);
  return {};
}

// --- Certificate --------------------------------------------------------------------------------

void Certificate::Free::operator()(X509* p) const noexcept {
  X509_free(p);
}

Certificate::Certificate(const Certificate& other) noexcept {
  if (other.cert_ && X509_up_ref(other.cert_.get()) == 1) cert_.reset(other.cert_.get());
}

Certificate& Certificate::operator=(const Certificate& other) noexcept {
  if (this != &other) {
    Certificate copy(other);
    cert_ = std::move(copy.cert_);
  }
  return *this;
}

ServerResult<Certificate> Certificate::from_pem(std::string_view pem) {
  ERR_clear_error();
  if (pem.size() > INT_MAX) return make_error_code(ServerErrc::invalid_argument);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return ossl_failure();
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr);
  if (cert == nullptr) return ossl_failure(ServerErrc::bad_pem);
  return Certificate(cert);
}

ServerResult<Certificate> Certificate::load_pem_file(const std::filesystem::path& path) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) return ossl_failure(ServerErrc::io_failure);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr);
  if (cert == nullptr) return ossl_failure(ServerErrc::bad_pem);
  return Certificate(cert);
}

ServerResult<std::string> Certificate::to_pem() const {
  if (!cert_) return make_error_code(ServerErrc::invalid_argument);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) return ossl_failure();
  return bio_string(bio.get());
}

ServerResult<void> Certificate::write_pem_file(const std::filesystem::path& path) const {
  auto pem = to_pem();
  if (!pem) return pem.error();
  return write_all(path, 0644, pem->data(), pem->size());
}

std::string Certificate::serial_hex() const {
  return serial_hex_of(cert_.get());
}

std::string Certificate::subject_common_name() const {
  if (!cert_) return {};
  const X509_NAME* name = X509_get_subject_name(cert_.get());
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::optional<std::string> Certificate::partner_id() const {
  return partner_id_of(cert_.get());
}

std::chrono::system_clock::time_point Certificate::not_after() const {
  std::tm tm{};
  if (!cert_ || ASN1_TIME_to_tm(X509_get0_notAfter(cert_.get()), &tm) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// --- GatewayCa ----------------------------------------------------------------------------------

ServerResult<GatewayCa> GatewayCa::create(std::string_view common_name,
                                          std::chrono::seconds validity) {
  ERR_clear_error();
  if (common_name.empty() || !valid_text_field(common_name, 64)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  auto key = PrivateKey::generate();
  if (!key) return key.error();
  auto name = make_name({{"CN", common_name}});
  if (!name) return name.error();
  const CertProfile profile{"critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", nullptr,
                            nullptr};
  auto cert =
      build_certificate(name->get(), key->native_handle(), nullptr, nullptr, validity, profile);
  if (!cert) return cert.error();
  return GatewayCa(Certificate(cert->release()), std::move(*key));
}

ServerResult<GatewayCa> GatewayCa::load(const std::filesystem::path& certificate_pem,
                                        const std::filesystem::path& key_pem) {
  auto cert = Certificate::load_pem_file(certificate_pem);
  if (!cert) return cert.error();
  auto key = PrivateKey::load_pem_file(key_pem);
  if (!key) return key.error();
  if (X509_check_private_key(cert->native_handle(), key->native_handle()) != 1) {
    return ossl_failure(ServerErrc::key_mismatch);
  }
  return GatewayCa(std::move(*cert), std::move(*key));
}

ServerResult<void> GatewayCa::save(const std::filesystem::path& certificate_pem,
                                   const std::filesystem::path& key_pem) const {
  if (auto r = key_.write_pem_file(key_pem); !r) return r;
  return certificate_.write_pem_file(certificate_pem);
}

ServerResult<Credential>
GatewayCa::issue_server_certificate(const ServerCertificateRequest& request) const {
  ERR_clear_error();
  if (request.dns_names.empty() && request.ip_addresses.empty()) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  if (request.common_name.empty() || !valid_text_field(request.common_name, 64)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  GenNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return ossl_failure();
  for (const auto& dns : request.dns_names) {
    if (!valid_dns_name(dns)) return make_error_code(ServerErrc::invalid_argument);
    if (auto r = push_name(names.get(), GEN_DNS, dns); !r) return r.error();
  }
  for (const auto& ip : request.ip_addresses) {
    if (auto r = push_name(names.get(), GEN_IPADD, ip); !r) return r.error();
  }
  auto key = PrivateKey::generate();
  if (!key) return key.error();
  auto name = make_name({{"CN", request.common_name}});
  if (!name) return name.error();
  const CertProfile profile{"critical,CA:FALSE", "critical,digitalSignature", "serverAuth",
                            names.get()};
  auto cert = build_certificate(name->get(), key->native_handle(), certificate_.native_handle(),
                                key_.native_handle(), request.validity, profile);
  if (!cert) return cert.error();
  return Credential{std::move(*key), Certificate(cert->release())};
}

ServerResult<Credential>
GatewayCa::issue_partner_certificate(const PartnerCertificateRequest& request) const {
  ERR_clear_error();
  if (!is_valid_partner_id(request.partner_id) || !valid_text_field(request.organisation, 64)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  GenNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return ossl_failure();
  const std::string uri = std::string(kPartnerUriPrefix) + request.partner_id;
  if (auto r = push_name(names.get(), GEN_URI, uri); !r) return r.error();
  auto key = PrivateKey::generate();
  if (!key) return key.error();
  auto name = make_name({{"O", request.organisation}, {"CN", request.partner_id}});
  if (!name) return name.error();
  const CertProfile profile{"critical,CA:FALSE", "critical,digitalSignature", "clientAuth",
                            names.get()};
  auto cert = build_certificate(name->get(), key->native_handle(), certificate_.native_handle(),
                                key_.native_handle(), request.validity, profile);
  if (!cert) return cert.error();
  return Credential{std::move(*key), Certificate(cert->release())};
}

ServerResult<std::string> GatewayCa::crl_pem(const RevocationList& revoked,
                                             std::chrono::seconds next_update) const {
  ERR_clear_error();
  if (next_update.count() <= 0 || next_update > std::chrono::hours(24 * 366)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) return ossl_failure();
  const std::time_t now = std::time(nullptr);
  Asn1TimePtr this_update(ASN1_TIME_adj(nullptr, now, 0, 0));
  Asn1TimePtr next(ASN1_TIME_adj(nullptr, now, 0, static_cast<long>(next_update.count())));
  if (!this_update || !next || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(certificate_.native_handle())) !=
          1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return ossl_failure();
  }
  for (const auto& serial : revoked.serials()) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, serial.c_str()) == 0) return ossl_failure();
    BnPtr bn(raw);
    Asn1IntPtr value(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    X509_REVOKED* entry = X509_REVOKED_new();
    if (!value || entry == nullptr || X509_REVOKED_set_serialNumber(entry, value.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry, this_update.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry) != 1) {
      X509_REVOKED_free(entry);
      return ossl_failure();
    }
  }
  // CRL number (RFC 5280 §5.2.3): monotonic across issues because it is the issue time.
  Asn1IntPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), static_cast<int64_t>(now)) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) != 1 ||
      X509_CRL_sort(crl.get()) != 1 ||
      X509_CRL_sign(crl.get(), key_.native_handle(), EVP_sha256()) <= 0) {
    return ossl_failure();
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) return ossl_failure();
  return bio_string(bio.get());
}

// --- PKCS#12 ------------------------------------------------------------------------------------

ServerResult<std::vector<std::uint8_t>> export_pkcs12(const Credential& credential,
                                                      const Certificate& ca,
                                                      std::string_view password,
                                                      std::string_view friendly_name) {
  ERR_clear_error();
  if (!credential.key || !credential.certificate || !ca || password.size() < 8 ||
      password.size() > 1024 || password.find('\0') != std::string_view::npos ||
      !valid_text_field(friendly_name, 64)) {
    return make_error_code(ServerErrc::invalid_argument);
  }
  if (X509_check_private_key(credential.certificate.native_handle(),
                             credential.key.native_handle()) != 1) {
    return ossl_failure(ServerErrc::key_mismatch);
  }
  // OpenSSL wants NUL-terminated strings; the password copy is cleansed before returning.
  std::vector<char> pass(password.begin(), password.end());
  pass.push_back('\0');
  const std::string name(friendly_name);
  STACK_OF(X509)* chain = sk_X509_new_null();
  PKCS12* p12 = nullptr;
  if (chain != nullptr && sk_X509_push(chain, ca.native_handle()) > 0) {
    // nid_key/nid_cert = AES-256-CBC selects PBES2 with PBKDF2 (HMAC-SHA256 in OpenSSL 3.0);
    // the MAC uses the 3.0 default digest, SHA-256.
    p12 = PKCS12_create_ex(pass.data(), name.empty() ? nullptr : name.c_str(),
                           credential.key.native_handle(), credential.certificate.native_handle(),
                           chain, NID_aes_256_cbc, NID_aes_256_cbc, kPkcs12Iterations,
                           kPkcs12Iterations, 0, nullptr, nullptr);
  }
  OPENSSL_cleanse(pass.data(), pass.size());
  sk_X509_free(chain);  // does not free the borrowed CA certificate
  if (p12 == nullptr) return ossl_failure();
  unsigned char* der = nullptr;
  const int n = i2d_PKCS12(p12, &der);
  PKCS12_free(p12);
  if (n <= 0 || der == nullptr) return ossl_failure();
  std::vector<std::uint8_t> out(der, der + n);
  OPENSSL_free(der);
  return out;
}

ServerResult<void> write_pkcs12_file(const std::filesystem::path& path,
                                     const Credential& credential, const Certificate& ca,
                                     std::string_view password, std::string_view friendly_name) {
  auto der = export_pkcs12(credential, ca, password, friendly_name);
  if (!der) return der.error();
  return write_all(path, 0600, der->data(), der->size());
}

}  // namespace sluis::server
