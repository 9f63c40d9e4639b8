// Error codes of the gateway's store and domain services, and the Result type they return.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <type_traits>

namespace sluis::store {

/// Every way a store or domain operation can fail. Values are stable: they may appear in logs as
/// numbers and the HTTP API maps each to a problem+json type. Messages never carry SQL text,
/// values, identifiers or field contents.
enum class Errc {
  not_found = 1,  ///< no such client / fragment / partner / consent (or not visible)
  conflict = 2,   ///< already exists, already superseded, already revoked
  identifying_category_on_anonymous = 3,  ///< an identifying category on an anonymous client
  database_key_mismatch = 4,              ///< the database key does not match this database file
  schema_too_new = 5,                     ///< the database was written by a newer sluis
  storage_failure = 6,          ///< SQLite I/O or internal error (detail deliberately withheld)
  invalid_argument = 7,         ///< a caller-supplied value is malformed or out of range
  key_unavailable = 8,          ///< a data key or KEK is missing (e.g. crypto-shredded)
  crypto_failure = 9,           ///< a sealed value did not open (tampered or misplaced)
  card_replaced = 10,           ///< the service pseudonym belongs to a card that was replaced
  not_permitted = 11,           ///< the caller may not do this (e.g. not the owning partner)
  busy = 12,                    ///< the database stayed locked past the busy timeout
  injected_failure = 13,        ///< a test's fault injection fired (never in production)
  unknown_worker = 14,          ///< the named worker is not enrolled at the calling partner
  audit_log_inconsistent = 15,  ///< the audit log does not match its latest signed checkpoint
  in_use = 16,                  ///< another process holds the file for writing (its lock)
  file_damaged = 17,  ///< a page of the file fails its integrity check (damaged or altered)
  unavailable = 18,   ///< the database server cannot be reached (PostgreSQL engine)
};

/// The error category of sluis::store ("sluis.gateway").
[[nodiscard]] const boost::system::error_category& gateway_category() noexcept;

[[nodiscard]] boost::system::error_code make_error_code(Errc e) noexcept;

/// Result of a fallible gateway operation. Must be checked.
template <class T> using Result = boost::system::result<T>;

}  // namespace sluis::store

template <> struct boost::system::is_error_code_enum<sluis::store::Errc> : std::true_type {};
