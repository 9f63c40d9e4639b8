// Fixture for the layering self-test (tests/CMakeLists.txt): domain code that includes the
// SQLCipher engine instead of the repository interfaces, which tests/support/check_layering.cmake
// must refuse. Never compiled.
#include "sluis/store/store.hpp"
