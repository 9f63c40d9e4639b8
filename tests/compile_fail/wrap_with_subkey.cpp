// Must NOT compile: a data key is wrapped by a KEK, never by a sub-key of the root key.
#include "sluis/crypto/keys.hpp"

int main() {
  const auto root = sluis::crypto::RootKey::random();
  const auto sub = sluis::crypto::derive_subkey(root, sluis::crypto::KeyPurpose::kek_wrapping);
  const auto dk = sluis::crypto::generate_data_key();
  const sluis::crypto::DataKeyRef ref{{}, "housing", sluis::crypto::DataKeyVersion{1}};
#ifdef SLUIS_COMPILE_FAIL
  // A SubKey where a KeyEncryptionKey's secret is expected.
  const sluis::crypto::KeyEncryptionKey kek{sluis::crypto::KekVersion{1}, sub.clone()};
#else
  const auto kek = sluis::crypto::KeyEncryptionKey::generate(sluis::crypto::KekVersion{1});
  (void)sub;
#endif
  return sluis::crypto::wrap_data_key(kek, ref, dk) ? 0 : 1;
}
