// The gateway CA: certificate profiles, identities, key files, PKCS#12, CRLs, revocation lists.
#include "sluis/server/ca.hpp"

#include <catch2/catch.hpp>

#include "result_printer.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

namespace gw = sluis::server;
using namespace std::chrono_literals;

namespace {

struct Dir {
  std::filesystem::path path;
  Dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("sluis-ca-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("partner certificates carry the identity in SAN URI and CN, clientAuth only", "[ca]") {
  auto ca = gw::GatewayCa::create("sluis CA", 24h);
  REQUIRE(ca);
  auto cred = ca->issue_partner_certificate({"ocmw-brussel", "OCMW Brussel", 48h});
  REQUIRE(cred);
  const auto& cert = cred->certificate;
  CHECK(cert.partner_id() == std::optional<std::string>("ocmw-brussel"));
  CHECK(cert.subject_common_name() == "ocmw-brussel");
  // Signed by the CA.
  CHECK(X509_verify(cert.native_handle(), X509_get0_pubkey(ca->certificate().native_handle())) ==
        1);
  // Purposes: client yes, server no, not a CA.
  CHECK(X509_check_purpose(cert.native_handle(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
  CHECK(X509_check_purpose(cert.native_handle(), X509_PURPOSE_SSL_SERVER, 0) != 1);
  CHECK(X509_check_ca(cert.native_handle()) == 0);
  CHECK(X509_check_ca(ca->certificate().native_handle()) >= 1);
  // P-256.
  CHECK(EVP_PKEY_is_a(cred->key.native_handle(), "EC") == 1);
  // 128-bit random serials: distinct and at most 32 hex digits.
  auto cred2 = ca->issue_partner_certificate({"ocmw-brussel", "", 48h});
  REQUIRE(cred2);
  CHECK(cert.serial_hex() != cred2->certificate.serial_hex());
  CHECK(cert.serial_hex().size() <= 32);
  CHECK(cert.serial_hex().size() >= 20);
  // Validity as requested (± the 5-minute back-dating).
  const auto left = cert.not_after() - std::chrono::system_clock::now();
  CHECK(left > 47h);
  CHECK(left <= 48h);
  ERR_clear_error();
}

TEST_CASE("bad partner ids and names are refused", "[ca]") {
  auto ca = gw::GatewayCa::create("sluis CA", 24h).value();
  for (const std::string& id :
       std::vector<std::string>{"", "Upper", "-lead", "a,URI:evil", "a b", std::string(65, 'a'),
                                "ocmw/../x", "caf\xc3\xa9"}) {
    INFO(id);
    auto r = ca.issue_partner_certificate({id, "", 1h});
    REQUIRE_FALSE(r);
    CHECK(r.error() == gw::ServerErrc::invalid_argument);
  }
  CHECK_FALSE(ca.issue_partner_certificate({"ok", "line\nbreak", 1h}));
  CHECK_FALSE(ca.issue_partner_certificate({"ok", "", 0s}));
  CHECK_FALSE(ca.issue_server_certificate({"gw", {}, {}, 1h}));
  CHECK_FALSE(ca.issue_server_certificate({"gw", {"bad name!"}, {}, 1h}));
  CHECK_FALSE(ca.issue_server_certificate({"gw", {}, {"999.1.1.1"}, 1h}));
}

TEST_CASE("server certificate has SAN DNS/IP and serverAuth", "[ca]") {
  auto ca = gw::GatewayCa::create("sluis CA", 24h).value();
  auto cred = ca.issue_server_certificate({"gw", {"gateway.example.be"}, {"127.0.0.1", "::1"}, 1h});
  REQUIRE(cred);
  X509* x = cred->certificate.native_handle();
  CHECK(X509_check_host(x, "gateway.example.be", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x, "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(x, "::1", 0) == 1);
  CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == 1);
  CHECK_FALSE(cred->certificate.partner_id());
  ERR_clear_error();
}

TEST_CASE("CA save/load round-trips and private keys are written 0600", "[ca]") {
  Dir d;
  auto ca = gw::GatewayCa::create("sluis CA", 24h).value();
  REQUIRE(ca.save(d.path / "ca.crt", d.path / "ca.key"));
  CHECK(mode_of(d.path / "ca.key") == 0600);
  CHECK(mode_of(d.path / "ca.crt") == 0644);
  auto loaded = gw::GatewayCa::load(d.path / "ca.crt", d.path / "ca.key");
  REQUIRE(loaded);
  CHECK(loaded->certificate().serial_hex() == ca.certificate().serial_hex());
  auto cred = loaded->issue_partner_certificate({"caw", "", 1h}).value();
  CHECK(X509_verify(cred.certificate.native_handle(),
                    X509_get0_pubkey(ca.certificate().native_handle())) == 1);
  // An existing, too-open key file is tightened.
  std::ofstream(d.path / "p.key") << "old";
  std::filesystem::permissions(d.path / "p.key", std::filesystem::perms::all);
  REQUIRE(cred.key.write_pem_file(d.path / "p.key"));
  CHECK(mode_of(d.path / "p.key") == 0600);
  // A key from elsewhere is refused as a mismatch.
  auto other = gw::GatewayCa::create("other", 1h).value();
  REQUIRE(other.save(d.path / "o.crt", d.path / "o.key"));
  auto mixed = gw::GatewayCa::load(d.path / "ca.crt", d.path / "o.key");
  REQUIRE_FALSE(mixed);
  CHECK(mixed.error() == gw::ServerErrc::key_mismatch);
  auto missing = gw::GatewayCa::load(d.path / "nope.crt", d.path / "ca.key");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == gw::ServerErrc::io_failure);
  CHECK(ERR_peek_error() == 0);  // the error queue was drained
}

TEST_CASE("PKCS#12 export: password-protected, AES-256/PBKDF2, SHA-256 MAC", "[ca]") {
  Dir d;
  auto ca = gw::GatewayCa::create("sluis CA", 24h).value();
  auto cred = ca.issue_partner_certificate({"home-care-1", "", 1h}).value();
  const std::string password = "correct horse battery";
  REQUIRE(gw::write_pkcs12_file(d.path / "p.p12", cred, ca.certificate(), password, "home-care-1"));
  CHECK(mode_of(d.path / "p.p12") == 0600);
  const std::string der = slurp(d.path / "p.p12");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS12* p12 = d2i_PKCS12(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE(p12 != nullptr);
  CHECK(PKCS12_verify_mac(p12, "wrong password", -1) == 0);
  CHECK(PKCS12_verify_mac(p12, password.c_str(), -1) == 1);
  const ASN1_OCTET_STRING* salt = nullptr;
  const X509_ALGOR* mac_alg = nullptr;
  const ASN1_OCTET_STRING* digest = nullptr;
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(&digest, &mac_alg, &salt, &iter, p12);
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, mac_alg);
  CHECK(OBJ_obj2nid(oid) == NID_sha256);
  CHECK(ASN1_INTEGER_get(iter) == gw::kPkcs12Iterations);
  // The key bag is PBES2-encrypted.
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  REQUIRE(safes != nullptr);
  bool saw_pbes2 = false;
  for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
    PKCS7* p7 = sk_PKCS7_value(safes, i);
    if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
      const X509_ALGOR* alg = p7->d.encrypted->enc_data->algorithm;
      X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
      saw_pbes2 = saw_pbes2 || OBJ_obj2nid(oid) == NID_pbes2;
    }
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  CHECK(saw_pbes2);
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  REQUIRE(PKCS12_parse(p12, password.c_str(), &key, &cert, &chain) == 1);
  CHECK(X509_cmp(cert, cred.certificate.native_handle()) == 0);
  CHECK(EVP_PKEY_eq(key, cred.key.native_handle()) == 1);
  CHECK(sk_X509_num(chain) == 1);
  EVP_PKEY_free(key);
  X509_free(cert);
  sk_X509_pop_free(chain, X509_free);
  PKCS12_free(p12);
  // Short passwords are refused.
  CHECK_FALSE(gw::export_pkcs12(cred, ca.certificate(), "short", "x"));
  ERR_clear_error();
}

TEST_CASE("signed CRL lists the revoked serials", "[ca]") {
  auto ca = gw::GatewayCa::create("sluis CA", 24h).value();
  auto a = ca.issue_partner_certificate({"a", "", 1h}).value();
  auto b = ca.issue_partner_certificate({"b", "", 1h}).value();
  gw::RevocationList list;
  REQUIRE(list.add(a.certificate.serial_hex()));
  auto pem = ca.crl_pem(list, 24h);
  REQUIRE(pem);
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(crl != nullptr);
  CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca.certificate().native_handle())) == 1);
  X509_REVOKED* entry = nullptr;
  CHECK(X509_CRL_get0_by_cert(crl, &entry, a.certificate.native_handle()) == 1);
  CHECK(X509_CRL_get0_by_cert(crl, &entry, b.certificate.native_handle()) == 0);
  X509_CRL_free(crl);
  ERR_clear_error();
}

TEST_CASE("revocation list file: canonical serials, comments, malformed lines", "[ca]") {
  Dir d;
  gw::RevocationList list;
  REQUIRE(list.add("00ab12"));
  CHECK(list.contains("AB12"));
  CHECK(list.contains("0000ab12"));
  CHECK_FALSE(list.contains("AB13"));
  CHECK_FALSE(list.add("xyz"));
  CHECK_FALSE(list.add(std::string(41, 'A')));
  REQUIRE(list.save_file(d.path / "revoked.txt"));
  auto loaded = gw::RevocationList::load_file(d.path / "revoked.txt");
  REQUIRE(loaded);
  CHECK(loaded->serials() == list.serials());
  auto parsed = gw::RevocationList::parse("# comment\n\n  DEADBEEF  # ocmw-x 2026-01-01\r\nabc\n");
  REQUIRE(parsed);
  CHECK(parsed->size() == 2);
  CHECK(parsed->contains("deadbeef"));
  auto bad = gw::RevocationList::parse("DEADBEEF\nnot-a-serial\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == gw::ServerErrc::bad_revocation_list);
  CHECK(gw::RevocationList::load_file(d.path / "missing.txt").error() ==
        gw::ServerErrc::io_failure);
}
