// The "sluis.gateway" error category: stable codes, messages free of SQL, values and identifiers.
#include "sluis/store/error.hpp"

#include <string>

namespace sluis::store {
namespace {

class GatewayCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluis.gateway"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::not_found: return "not found";
    case Errc::conflict: return "conflicts with the current state";
    case Errc::identifying_category_on_anonymous:
      return "an identifying category cannot be stored for an anonymous client";
    case Errc::database_key_mismatch: return "the database key does not match this database file";
    case Errc::schema_too_new:
      return "the database was written by a newer version of sluis; upgrade sluis first";
    case Errc::storage_failure: return "the store could not complete the operation";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::key_unavailable: return "the key needed for this data is not available";
    case Errc::crypto_failure: return "stored data failed its integrity check";
    case Errc::card_replaced: return "this card has been replaced by a new one";
    case Errc::not_permitted: return "not permitted";
    case Errc::busy: return "the store is busy; try again";
    case Errc::injected_failure: return "injected failure (test)";
    case Errc::unknown_worker: return "worker not enrolled at this partner";
    case Errc::audit_log_inconsistent:
      return "the audit log does not match its latest signed checkpoint; run sluisctl audit "
             "verify";
    case Errc::in_use: return "another process holds this file for writing";
    case Errc::file_damaged:
      return "the file is damaged or was altered (a page fails its integrity check)";
    case Errc::unavailable:
      return "the database server cannot be reached; check that it runs and accepts this node";
    }
    return "unknown gateway error";
  }
};

}  // namespace

const boost::system::error_category& gateway_category() noexcept {
  static const GatewayCategory kCategory;
  return kCategory;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), gateway_category()};
}

}  // namespace sluis::store
