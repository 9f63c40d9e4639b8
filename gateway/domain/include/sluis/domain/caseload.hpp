// A partner's caseload: its clients as its own pseudonyms, paged, with the label the partner set.
#pragma once

#include "sluis/domain/records.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// The data-key category a caseload label is sealed under (not a rule-pack name: those have no
/// '.'). The client's own key, in a category of its own, as for break-the-glass reasons: erasing
/// the client shreds the label with the rest, and opening a label never unlocks a fragment key.
inline constexpr std::string_view kCaseloadLabelCategory = "sluis.caseload-label";
/// Longest label, in Unicode code points (after trimming).
inline constexpr std::size_t kMaxLabelCodePoints = 40;
/// Largest page of a caseload.
inline constexpr std::size_t kMaxCaseloadPage = 200;

/// A label as the partner typed it, checked: surrounding spaces trimmed; 1..40 code points of
/// well-formed UTF-8 without control characters. nullopt otherwise (nothing about the value).
[[nodiscard]] std::optional<std::string> checked_label(std::string_view raw);
/// The searchable form of a checked label or of a search text: ASCII letters lower-cased, runs of
/// spaces folded to one (so "AB 2024" and "ab  2024" are the same label for search).
[[nodiscard]] std::string search_form(std::string_view checked);

/// How a search text matches labels.
enum class LabelMatch { exact, prefix };

/// One row of a caseload page: the partner's pseudonym, since when, and its label (if set and
/// still readable: an erased key leaves no label).
struct CaseloadEntry {
  std::string pseudonym;
  Instant since{};
  RelationshipOrigin origin{};
  std::optional<std::string> label;
};

/// A caseload page and where the next one starts (nullopt: this was the last).
struct CaseloadPage {
  std::vector<CaseloadEntry> entries;
  std::optional<store::CaseloadPosition> next;
};

/// What the caller asks for.
struct CaseloadQuery {
  std::optional<store::CaseloadPosition> after;
  std::size_t limit = 50;             ///< 1..kMaxCaseloadPage
  std::optional<std::string> search;  ///< a checked label text (search_form applied)
  LabelMatch match = LabelMatch::prefix;
};

/// The caseload and its labels. Every operation is one unit of work; a partner only ever reaches
/// its own care relationships and its own labels. Threads: as the Storage.
class Caseload {
 public:
  explicit Caseload(Storage& storage) : storage_(storage) {}

  /// One page of `partner_id`'s caseload, newest relationship first (then by pseudonym), filtered
  /// by label when `query.search` is set. Errors: invalid_argument (limit out of range), store's.
  [[nodiscard]] Result<CaseloadPage> page(std::string_view partner_id,
                                          const CaseloadQuery& query) const;
  /// Sets (or replaces) the partner's label of its client. `label` must be checked_label's
  /// output. Sealed under the client's data key, bound to the partner; its blind-index tokens
  /// (whole label, every prefix, padded with random tokens to a fixed count) replace the old
  /// ones. Errors: invalid_argument, not_found (no care relationship), store's.
  [[nodiscard]] Result<void> set_label(std::string_view partner_id, const ClientId& client,
                                       std::string_view label);
  /// Removes the partner's label of its client. Errors: not_found (no care relationship).
  [[nodiscard]] Result<void> clear_label(std::string_view partner_id, const ClientId& client);
  /// The partner's label of its client (nullopt: none, or no longer readable). Errors: not_found
  /// (no care relationship).
  [[nodiscard]] Result<std::optional<std::string>> label(std::string_view partner_id,
                                                         const ClientId& client) const;

 private:
  Storage& storage_;
};

}  // namespace sluis::domain
