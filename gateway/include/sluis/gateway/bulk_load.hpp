// Offline bulk loading: many single-statement writes in one transaction, and a larger page cache.
#pragma once

#include "sluis/gateway/error.hpp"
#include "sluis/gateway/store.hpp"

#include <cstddef>
#include <functional>

namespace sluis::gateway {

/// Runs `body` inside one data-store write transaction (BEGIN IMMEDIATE … COMMIT), so that
/// thousands of single-statement writes — Registry::add_partner, Registry::add_worker,
/// ConsentBook::record — cost one commit and one fsync instead of one each. All or nothing: when
/// `body` returns an error (returned here) or throws (rethrown), everything it wrote is rolled
/// back. Errors of its own: busy, storage_failure.
///
/// For an operator's bulk import done before the gateway starts (tools/bench/dataset is one),
/// never for request handling:
/// - the caller is the only user of this Store while it runs. Every operation takes the store's
///   mutex itself, so it is not held across `body`; another thread's writes would land in this
///   transaction;
/// - `body` calls only operations that do not open a transaction of their own. Those that do
///   (Registry::register_identified*, Dossiers::add_fragment*, erase_client, rotation, …) fail
///   with storage_failure inside it; call them between bulk_write calls — the *_bulk ones already
///   write everything in one transaction.
///
/// Nothing here writes audit events: bulk loading is not an act on a client's behalf. An
/// operator who loads real data records it the way they record any administrative act.
[[nodiscard]] Result<void> bulk_write(Store& store, const std::function<Result<void>()>& body);

/// Gives both of the Store's connections (data store and key store) a page cache of
/// `page_cache_mib` MiB each for the rest of this Store object's life (SQLite's default is 2 MiB).
/// Bulk inserts into indexes keyed by random ids (clients, data keys, fragments by client) then
/// find their pages in memory instead of reading and decrypting them again for every row. Affects
/// only this process's connections, never the files; `page_cache_mib` 0 restores the default.
/// Errors: invalid_argument (more than 65536 MiB), storage_failure.
[[nodiscard]] Result<void> set_page_cache(Store& store, std::size_t page_cache_mib);

}  // namespace sluis::gateway
