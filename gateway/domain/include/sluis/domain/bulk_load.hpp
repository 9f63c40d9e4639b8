// Offline bulk loading: many single-statement writes in one transaction.
#pragma once

#include "sluis/domain/records.hpp"

#include <functional>

namespace sluis::domain {

/// Runs `body` inside one write transaction of `storage` (Storage::bulk_write), so that thousands
/// of single-statement writes — Registry::add_partner, Registry::add_worker, ConsentBook::record —
/// cost one commit and one fsync instead of one each. All or nothing: when `body` returns an error
/// (returned here) or throws (rethrown), everything it wrote is rolled back. Errors of its own:
/// busy, storage_failure.
///
/// For an operator's bulk import done before the gateway starts (tools/bench/dataset is one),
/// never for request handling:
/// - the caller is the only user of this storage while it runs. Every operation is its own unit
///   of work, so the engine is not held across `body`; another thread's writes would land in
///   this transaction;
/// - `body` calls only operations that do not open a transaction of their own. Those that do
///   (Registry::register_identified*, Dossiers::add_fragment*, erase_client, rotation, …) fail
///   with storage_failure inside it; call them between bulk_write calls — the *_bulk ones already
///   write everything in one transaction.
///
/// Nothing here writes audit events: bulk loading is not an act on a client's behalf. An
/// operator who loads real data records it the way they record any administrative act.
/// (A larger page cache for the import: store::Store::set_page_cache.)
[[nodiscard]] Result<void> bulk_write(Storage& storage, const std::function<Result<void>()>& body);

}  // namespace sluis::domain
