// Offline bulk loading: one transaction around many single-statement writes; a larger page cache.
#include "sluis/gateway/bulk_load.hpp"

#include "store_impl.hpp"

#include <string>

namespace sluis::gateway {

Result<void> bulk_write(Store& store, const std::function<Result<void>()>& body) {
  auto& db = store.impl().data;
  {
    // The store's mutex guards the connection while the transaction starts; the operations
    // `body` calls take it themselves (see the header: single user only).
    std::lock_guard lock(store.impl().mutex);
    if (auto r = db.run_cached("BEGIN IMMEDIATE"); !r) return r;
  }
  // Every way out that is not a commit rolls back, so a failed load leaves nothing behind.
  auto rollback = [&] {
    std::lock_guard lock(store.impl().mutex);
    if (db.in_transaction()) static_cast<void>(db.run_cached("ROLLBACK"));
    store.impl().forget_partners();  // a partner added inside the body is gone again
  };
  Result<void> result;
  try {
    result = body();
  } catch (...) {
    rollback();
    throw;
  }
  if (!result) {
    rollback();
    return result;
  }
  std::lock_guard lock(store.impl().mutex);
  store.impl().forget_partners();
  if (auto r = db.run_cached("COMMIT"); !r) {
    if (db.in_transaction()) static_cast<void>(db.run_cached("ROLLBACK"));
    return r;
  }
  return {};
}

Result<void> set_page_cache(Store& store, std::size_t page_cache_mib) {
  constexpr std::size_t kMaxMib = 65536;
  if (page_cache_mib > kMaxMib) return make_error_code(Errc::invalid_argument);
  auto& i = store.impl();
  std::lock_guard lock(i.mutex);
  if (auto r = i.data.set_cache_size_kib(page_cache_mib * 1024); !r) return r;
  return i.keys.set_cache_size_kib(page_cache_mib * 1024);
}

}  // namespace sluis::gateway
