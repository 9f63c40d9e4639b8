// The review of break-the-glass grants by a partner's DPO: the grants that concern an
// organisation, and one review per grant and organisation (outcome and a sealed note).
#pragma once

#include "sluis/domain/records.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

using store::BreakGlassReview;
using store::kBreakGlassReviewCategory;

/// The outcomes a review may record (docs/dpo-guide.md §5).
inline constexpr std::string_view kReviewJustified = "justified";
inline constexpr std::string_view kReviewNotJustified = "not-justified";
inline constexpr std::string_view kReviewNeedsFollowUp = "needs-follow-up";
/// True for one of the three outcome names.
[[nodiscard]] bool valid_review_outcome(std::string_view outcome) noexcept;
/// The longest note, in bytes.
inline constexpr std::size_t kMaxReviewNote = 4000;
/// 1..kMaxReviewNote bytes without control characters other than line breaks and tabs.
[[nodiscard]] bool valid_review_note(std::string_view note) noexcept;

/// One grant as the reviewing organisation sees it.
struct GrantUnderReview {
  std::int64_t position = 0;  ///< for paging (newest first)
  BreakGlassGrant grant;      ///< its reason left empty
  std::string client_audit;   ///< the client's audit pseudonym (to find the accesses; not shown)
  /// The reviewing organisation's own pseudonym for the client, when it has a care relationship.
  std::optional<std::string> client_pseudonym;
  /// The written reason: opened only when the reviewing organisation's worker opened the grant
  /// (as GET /v1/audit/events does); nullopt otherwise or when it can no longer be opened.
  std::optional<std::string> reason;
  /// Every organisation's review, oldest first; the note opened only on the reviewer's own.
  std::vector<BreakGlassReview> reviews;
};

struct GrantReviewPage {
  std::vector<GrantUnderReview> grants;
  std::optional<std::int64_t> next;  ///< the `before` of the following page
};

/// Threads: as the Storage it is built on (each call is one unit of work).
class BreakGlassReviews {
 public:
  explicit BreakGlassReviews(Storage& storage);

  /// The grants that concern `partner_id` (its workers made them, or it serves the client),
  /// newest first, at most `limit`, positions below `before` when `before` > 0.
  [[nodiscard]] Result<GrantReviewPage> concerning(std::string_view partner_id,
                                                   std::int64_t before, std::size_t limit) const;
  /// One grant that concerns `partner_id`. Errors: not_found (no such grant, a malformed id, or
  /// a grant that does not concern the partner: one answer for all three).
  [[nodiscard]] Result<GrantUnderReview> find(std::string_view partner_id,
                                              std::string_view grant_id) const;
  /// Records `review` (reviewed_at = now) with `note` sealed under the client's key. The grant
  /// must concern review.partner_id. Errors: invalid_argument (an outcome not of the three, an
  /// empty or oversized note, or one with control characters other than line breaks and tabs),
  /// not_found, conflict (this organisation reviewed the grant already).
  [[nodiscard]] Result<BreakGlassReview> record(BreakGlassReview review, std::string_view note);

 private:
  Storage& storage_;
};

/// Inside a link's write transaction, before the grants move: reseals the review notes of
/// `absorbed`'s grants to `survivor` (a sealed note is bound to its client).
[[nodiscard]] Result<void> reseal_review_notes(UnitOfWork& u, const ClientId& survivor,
                                               const ClientId& absorbed);

}  // namespace sluis::domain
