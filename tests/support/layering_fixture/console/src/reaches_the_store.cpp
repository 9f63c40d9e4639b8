// Fixture for the layering self-test (tests/CMakeLists.txt): console code that opens the store,
// which tests/support/check_layering.cmake must refuse. Never compiled.
#include "sluis/store/store.hpp"
