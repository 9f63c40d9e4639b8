// Parsed consent documents kept between reads, so a dossier read does not parse every stored
// consent of its client from JSON again.
#pragma once

#include "sluis/domain/records.hpp"
#include "sluis/policy/consent.hpp"
#include "sluis/policy/rule_pack.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sluis::domain {

/// What the consent cache has done since it was made (for tests and metrics).
struct ConsentCacheStats {
  std::size_t size = 0;  ///< parsed documents held now
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t clears = 0;  ///< times everything was dropped (pack change, link, erasure, full)
};

/// The policy form of stored consent documents, parsed once per rule pack.
///
/// Keyed by consent id; an entry holds the document it was parsed from and is used only while the
/// stored record carries exactly that document and the request's rule pack is the one it was
/// parsed under, so a hit gives what parsing the record again would give. The record's id,
/// status and revocation are never cached: the store's record (read afresh by every read)
/// supplies them, so a grant is seen by the next read and a revocation takes effect on it.
/// Everything is dropped when a request comes with another rule pack (a reload), by clear()
/// (the API calls it after every link and erasure, so no parsed consent of an erased or absorbed
/// client stays in memory), and when the cache is full.
///
/// Threads: safe to share; one mutex guards it.
class ConsentCache {
 public:
  explicit ConsentCache(std::size_t capacity = 65536);
  ConsentCache(const ConsentCache&) = delete;
  ConsentCache& operator=(const ConsentCache&) = delete;

  /// The record's document in policy form under `pack` (id, status and revocation left as
  /// parse_consent leaves them), from the cache or parsed now. nullopt when the document does
  /// not parse under `pack` (it cannot permit anything there; such results are not cached).
  [[nodiscard]] std::optional<policy::Consent>
  parsed(const ConsentRecord& record, const std::shared_ptr<const policy::RulePack>& pack);
  /// Drops every parsed document.
  void clear() noexcept;
  [[nodiscard]] ConsentCacheStats stats() const;

 private:
  struct Entry {
    std::string document;
    policy::Consent consent;
  };
  mutable std::mutex mutex_;
  std::size_t capacity_;
  /// The pack the entries were parsed under (weak: a pack reload is noticed when it expires, and
  /// the address of a pack still referenced here cannot be reused by another).
  std::weak_ptr<const policy::RulePack> pack_;
  const policy::RulePack* pack_address_ = nullptr;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t clears_ = 0;
};

}  // namespace sluis::domain
