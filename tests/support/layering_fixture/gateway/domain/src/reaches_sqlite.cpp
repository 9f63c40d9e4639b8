// Fixture for the layering self-test (tests/CMakeLists.txt): domain code that reaches for SQL and
// the store engine, which tests/support/check_layering.cmake must refuse. Never compiled.
#include "sluis/store/sqlite.hpp"
