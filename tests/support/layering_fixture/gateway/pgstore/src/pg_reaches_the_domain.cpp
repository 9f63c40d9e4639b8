// Layering fixture: PostgreSQL engine code that includes the domain (check_layering.cmake refuses it).
#include "sluis/domain/registry.hpp"
