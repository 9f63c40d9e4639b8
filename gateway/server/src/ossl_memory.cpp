// OpenSSL's heap blocks are wiped before they are freed: its record buffers hold decrypted requests.
#include "ossl.hpp"

#include <openssl/crypto.h>

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <span>

#include "sluis/crypto/secret.hpp"

namespace sluis::server::detail {
namespace {

// OpenSSL 3.0 decrypts a TLS record in place in the connection's read buffer and frees that
// buffer (SSL_MODE_RELEASE_BUFFERS, which Asio sets, frees it after every record) without wiping
// it; SSL_OP_CLEANSE_PLAINTEXT wipes only the bytes handed to the application, and OpenSSL 3.1
// added the wipe on release. So every block OpenSSL frees is wiped first, through its own hook
// for memory functions (CRYPTO_set_mem_functions), installed before its first allocation.
void wipe_block(void* p) noexcept {
  crypto::wipe(std::span<char>(static_cast<char*>(p), malloc_usable_size(p)));
}

void* ossl_malloc(std::size_t n, const char* /*file*/, int /*line*/) {
  return std::malloc(n);
}

void* ossl_realloc(void* p, std::size_t n, const char* /*file*/, int /*line*/) {
  if (p == nullptr) return std::malloc(n);
  if (n == 0) {
    wipe_block(p);
    std::free(p);
    return nullptr;
  }
  // realloc() may move the block and free the old one unwiped: move it by hand.
  const std::size_t old = malloc_usable_size(p);
  if (n <= old) return p;
  void* q = std::malloc(n);
  if (q == nullptr) return nullptr;  // OpenSSL keeps `p`, as with realloc
  std::memcpy(q, p, old);
  wipe_block(p);
  std::free(p);
  return q;
}

void ossl_free(void* p, const char* /*file*/, int /*line*/) {
  if (p == nullptr) return;
  wipe_block(p);
  std::free(p);
}

// Static initialisation runs before main(), so before OpenSSL's first allocation in sluisd;
// CRYPTO_set_mem_functions refuses (0) once OpenSSL has allocated anything.
const bool g_wiping = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1;

}  // namespace

bool openssl_frees_wiped() noexcept {
  return g_wiping;
}

}  // namespace sluis::server::detail
