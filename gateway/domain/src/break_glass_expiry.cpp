// Break-the-glass expiries: from the grants table to the audit log.
#include "sluis/domain/break_glass_expiry.hpp"

#include "sluis/audit/event.hpp"
#include "sluis/domain/consent_book.hpp"
#include "sluis/domain/registry.hpp"

#include <string>
#include <vector>

namespace sluis::domain {

using audit::AuditAction;
using audit::AuditEvent;

Result<std::size_t> record_break_glass_expiries(Storage& storage, AuditLog& audit, Instant now,
                                                std::size_t batch) {
  ConsentBook book(storage);
  auto ended = book.expired_unrecorded(now, batch);
  if (!ended) return ended.error();
  if (ended->empty()) return std::size_t{0};
  Registry registry(storage);
  std::vector<AuditEvent> events;
  std::vector<std::string> ids;
  events.reserve(ended->size());
  ids.reserve(ended->size());
  for (const auto& g : *ended) {
    AuditEvent e;
    e.time = g.expires_at;
    e.partner = g.partner_id;
    e.worker = g.worker_id;
    if (auto w = registry.find_worker(g.partner_id, g.worker_id)) e.role = w->role;
    e.action = AuditAction::break_glass_expiry;
    e.client = audit_pseudonym(storage, g.client);
    e.categories = g.categories;
    e.rule = "break-glass.expired:" + g.id;
    e.break_glass = true;
    events.push_back(std::move(e));
    ids.push_back(g.id);
  }
  if (auto appended = audit.append(events); !appended) return appended.error();
  if (auto marked = book.mark_expiry_recorded(ids); !marked) return marked.error();
  return ids.size();
}

BreakGlassExpirySweeper::BreakGlassExpirySweeper(
    Storage& storage, AuditLog& audit, std::chrono::milliseconds interval,
    std::function<void(boost::system::error_code)> on_error, std::function<bool()> runs_here)
    : storage_(storage), audit_(audit), interval_(interval), on_error_(std::move(on_error)),
      runs_here_(std::move(runs_here)) {
  thread_ = std::thread([this] { run(); });
}

BreakGlassExpirySweeper::~BreakGlassExpirySweeper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BreakGlassExpirySweeper::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    // Several nodes: only the one that holds the once-only lock sweeps (checked per batch).
    while (!runs_here_ || runs_here_()) {
      const auto now =
          std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
      auto recorded = record_break_glass_expiries(storage_, audit_, now);
      if (!recorded) {
        if (on_error_) on_error_(recorded.error());
        break;
      }
      if (*recorded == 0) break;  // else a full batch: there may be more
    }
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace sluis::domain
