// The end of every break-the-glass grant goes on the audit record (BRIEF §4 promise 7; the DPO
// reviews grants from start to end).
#pragma once

#include "sluis/audit/log.hpp"
#include "sluis/domain/records.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace sluis::domain {

using audit::AuditLog;

/// Records the end of every grant that ended at or before `now` and is not yet on the record:
/// one `break-glass-expiry` event per grant (time = the grant's end; partner, worker and role of
/// its holder; the client's audit pseudonym; its categories; rule "break-glass.expired:<grant
/// id>"; break_glass = true), appended durably in one batch, then the grants are marked recorded.
/// At most `batch` grants per call; returns how many were recorded. A crash between the append
/// and the mark records those ends again at the next sweep: an end may be recorded twice, never
/// not at all. Errors: the store's or the log's (nothing is marked then).
[[nodiscard]] Result<std::size_t> record_break_glass_expiries(Storage& storage, AuditLog& audit,
                                                              Instant now,
                                                              std::size_t batch = 1000);

/// Runs record_break_glass_expiries every `interval` on its own thread (and once at start) until
/// destroyed. Failures are retried at the next tick; `on_error` (optional) hears of them.
/// `runs_here` (optional): a tick sweeps only while it answers true — several nodes on one
/// database sweep on the one node that holds the once-only lock (PgStorage::holds_once_only_lock).
class BreakGlassExpirySweeper {
 public:
  BreakGlassExpirySweeper(Storage& storage, AuditLog& audit, std::chrono::milliseconds interval,
                          std::function<void(boost::system::error_code)> on_error = {},
                          std::function<bool()> runs_here = {});
  ~BreakGlassExpirySweeper();
  BreakGlassExpirySweeper(const BreakGlassExpirySweeper&) = delete;
  BreakGlassExpirySweeper& operator=(const BreakGlassExpirySweeper&) = delete;

 private:
  void run();

  Storage& storage_;
  AuditLog& audit_;
  std::chrono::milliseconds interval_;
  std::function<void(boost::system::error_code)> on_error_;
  std::function<bool()> runs_here_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluis::domain
