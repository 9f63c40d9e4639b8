// The storage engines the domain's test cases run against (issue 15: the very same cases run on
// every engine that implements the repository interfaces).
#pragma once

#include "gateway_fixture.hpp"
#include "pg_fixture.hpp"

/// Every engine, for TEMPLATE_TEST_CASE(name, tags, SLUIS_STORAGE_ENGINES): each case is
/// registered once per engine ("<name> - <Engine>") and builds DomainFixture<TestType>. An engine
/// fixture offers storage(), reopen(), close() and `options` with clock, inject_failure and
/// on_field_opened (see SqlCipherEngine). PgEngine runs on a real PostgreSQL the test process
/// starts (pg_fixture.hpp); ctest labels those runs `postgresql` (tests/CMakeLists.txt).
#define SLUIS_STORAGE_ENGINES                                                                      \
  sluis::gateway::testing::SqlCipherEngine, sluis::gateway::testing::PgEngine
