// Offline bulk loading: one transaction around many single-statement writes.
#include "sluis/domain/bulk_load.hpp"

namespace sluis::domain {

Result<void> bulk_write(Storage& storage, const std::function<Result<void>()>& body) {
  return storage.bulk_write(body);
}

}  // namespace sluis::domain
