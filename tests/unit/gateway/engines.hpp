// The storage engines the domain's test cases run against (issue 15: the very same cases run on
// every engine that implements the repository interfaces).
#pragma once

#include "gateway_fixture.hpp"

/// Every engine, for TEMPLATE_TEST_CASE(name, tags, SLUIS_STORAGE_ENGINES): each case is
/// registered once per engine ("<name> - <Engine>") and builds DomainFixture<TestType>. An engine
/// fixture offers storage(), reopen(), close() and `options` with clock, inject_failure and
/// on_field_opened (see SqlCipherEngine). Today SQLCipher is the only engine; the PostgreSQL issue
/// adds its fixture here.
#define SLUIS_STORAGE_ENGINES sluis::gateway::testing::SqlCipherEngine
