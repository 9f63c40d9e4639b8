// The consent cache: stored consent documents parsed once per rule pack.
#include "sluis/domain/consent_cache.hpp"

#include "sluis/policy/consent_json.hpp"

#include <algorithm>

namespace sluis::domain {

ConsentCache::ConsentCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::optional<policy::Consent>
ConsentCache::parsed(const ConsentRecord& record,
                     const std::shared_ptr<const policy::RulePack>& pack) {
  std::lock_guard lock(mutex_);
  const auto held = pack_.lock();
  if (!held || held.get() != pack.get() || pack_address_ != pack.get()) {
    if (!entries_.empty()) ++clears_;
    entries_.clear();
    pack_ = pack;
    pack_address_ = pack.get();
  }
  if (const auto it = entries_.find(record.id);
      it != entries_.end() && it->second.document == record.document) {
    ++hits_;
    return it->second.consent;
  }
  ++misses_;
  auto consent = policy::parse_consent(record.document, *pack);
  if (!consent) return std::nullopt;  // cannot permit anything under this pack
  if (entries_.size() >= capacity_) {
    entries_.clear();
    ++clears_;
  }
  entries_.insert_or_assign(record.id, Entry{record.document, *consent});
  return std::move(*consent);
}

void ConsentCache::clear() noexcept {
  std::lock_guard lock(mutex_);
  if (!entries_.empty()) ++clears_;
  entries_.clear();
}

ConsentCacheStats ConsentCache::stats() const {
  std::lock_guard lock(mutex_);
  return {entries_.size(), hits_, misses_, clears_};
}

}  // namespace sluis::domain
