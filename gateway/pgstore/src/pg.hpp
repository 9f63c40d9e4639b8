// The libpq layer, now a public header of sluis::pgstore (sluis::pgaudit uses it too).
#pragma once

#include "sluis/pgstore/pg.hpp"
