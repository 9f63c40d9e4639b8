// Layering fixture: domain code that includes the PostgreSQL engine (check_layering.cmake refuses it).
#include "sluis/pgstore/pg_storage.hpp"
