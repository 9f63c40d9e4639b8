// Must NOT compile: a field is sealed with a data key, never with the root key (issue 15, item 4).
#include "sluis/crypto/field.hpp"
#include "sluis/crypto/keys.hpp"

#include <array>

int main() {
  const auto root = sluis::crypto::RootKey::random();
  const sluis::crypto::FieldContext ctx{};
  const std::array<std::uint8_t, 4> plain{1, 2, 3, 4};
#ifdef SLUIS_COMPILE_FAIL
  auto sealed = sluis::crypto::seal_field(root, ctx, plain);  // RootKey where DataKey is expected
#else
  // The control: the same call with a data key compiles, so a failure above is the type check.
  auto sealed = sluis::crypto::seal_field(sluis::crypto::generate_data_key(), ctx, plain);
#endif
  (void)root;
  return sealed ? 0 : 1;
}
