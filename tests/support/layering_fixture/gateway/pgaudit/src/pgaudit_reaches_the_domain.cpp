// Fixture for the layering self-test (tests/CMakeLists.txt): PostgreSQL audit-log code that
// includes the domain, which tests/support/check_layering.cmake must refuse. Never compiled.
#include "sluis/domain/registry.hpp"
