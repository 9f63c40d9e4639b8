// Layering fixture: domain code that talks to PostgreSQL directly (check_layering.cmake refuses it).
#include <libpq-fe.h>
