// The rule pack: the sector's names, access matrix, disclosure defaults and retention, loaded and
// validated from a human-edited TOML file.
#pragma once

#include "sluis/policy/types.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::policy {

/// How far a role may go with one category for one purpose.
enum class AccessLevel : std::uint8_t {
  no = 0,                      ///< never, not even with consent or break-the-glass
  consent = 1,                 ///< with an active consent covering it (or on the owner's own data)
  consent_or_break_glass = 2,  ///< as `consent`, or through a valid break-the-glass grant
};

/// How sensitive a category is (a label for people and reports; the access matrix decides).
enum class Sensitivity : std::uint8_t {
  personal = 0,   ///< ordinary personal data (GDPR art. 6)
  sensitive = 1,  ///< socially sensitive (income, housing, notes): handle with care
  special = 2,    ///< special category (GDPR art. 9: health, mental health, addiction)
  judicial = 3,   ///< criminal-offence data (GDPR art. 10)
};

/// "personal", "sensitive", "special", "judicial".
[[nodiscard]] std::string_view to_string(Sensitivity s) noexcept;
/// "no", "consent", "consent-or-break-glass".
[[nodiscard]] std::string_view to_string(AccessLevel a) noexcept;

struct PartnerTypeDef {
  std::string name;
  std::string label;
};

struct RoleDef {
  std::string name;
  std::string label;
  bool may_record_consent = false;  ///< may record (and record the withdrawal of) a consent
  bool may_erase_client = false;    ///< may order a client's erasure (crypto-shredding)
  bool may_query_audit = false;     ///< may query the audit log for its own organisation (DPO)
  /// may list and review the break-the-glass grants that concern its own organisation (DPO)
  bool may_review_break_glass = false;
};

struct CategoryDef {
  std::string name;
  std::string label;
  Sensitivity sensitivity = Sensitivity::personal;
  bool identifying = false;  ///< identifies the person: never accepted on an anonymous client
  bool restricted = false;   ///< never disclosed by default: only a consent naming it explicitly
                             ///< discloses it; no wildcard, no break-the-glass reaches it
  std::chrono::days retention{0};
};

struct PurposeDef {
  std::string name;
  std::string label;
};

/// One finding about a rule pack file, pointing at the place to fix.
struct Diagnostic {
  std::string file;
  std::uint32_t line = 0;    ///< 1-based; 0 when the file as a whole is meant
  std::uint32_t column = 0;  ///< 1-based; 0 when unknown
  std::string message;       ///< a sentence a person can act on

  /// "file:line:col: message".
  [[nodiscard]] std::string to_string() const;
};

/// The diagnostics of a rule pack that did not load (never empty in a failed result).
struct Diagnostics {
  std::vector<Diagnostic> items;
};

/// Thrown by RulePackResult::value() on failure; what() lists every diagnostic, one per line.
class RulePackError final : public std::runtime_error {
 public:
  explicit RulePackError(const Diagnostics& d);
};

/// Used by boost::system::result when value() is called on a failed load.
[[noreturn]] void throw_exception_from_error(const Diagnostics& d,
                                             const boost::source_location& loc);

/// A validated rule pack. Immutable after loading; safe to share between threads (const use).
/// Every lookup by id is O(1) and allocation-free; lookups by name are for request parsing only.
class RulePack {
 public:
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::string& version() const noexcept { return version_; }
  /// The file (or name) the pack was parsed from.
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

  [[nodiscard]] std::span<const PartnerTypeDef> partner_types() const noexcept {
    return partner_types_;
  }
  [[nodiscard]] std::span<const RoleDef> roles() const noexcept { return roles_; }
  [[nodiscard]] std::span<const CategoryDef> categories() const noexcept { return categories_; }
  [[nodiscard]] std::span<const PurposeDef> purposes() const noexcept { return purposes_; }

  /// Name → id; nullopt when the pack does not define it. Exact, case-sensitive match.
  [[nodiscard]] std::optional<PartnerTypeId> partner_type(std::string_view name) const noexcept;
  [[nodiscard]] std::optional<RoleId> role(std::string_view name) const noexcept;
  [[nodiscard]] std::optional<CategoryId> category(std::string_view name) const noexcept;
  [[nodiscard]] std::optional<PurposeId> purpose(std::string_view name) const noexcept;

  /// Id → definition. Precondition: the id came from this pack.
  [[nodiscard]] const PartnerTypeDef& def(PartnerTypeId id) const noexcept {
    return partner_types_[id.value];
  }
  [[nodiscard]] const RoleDef& def(RoleId id) const noexcept { return roles_[id.value]; }
  [[nodiscard]] const CategoryDef& def(CategoryId id) const noexcept {
    return categories_[id.value];
  }
  [[nodiscard]] const PurposeDef& def(PurposeId id) const noexcept { return purposes_[id.value]; }

  /// True when the id is in range for this pack (the decision checks this first).
  [[nodiscard]] bool valid(PartnerTypeId id) const noexcept {
    return id.value < partner_types_.size();
  }
  [[nodiscard]] bool valid(RoleId id) const noexcept { return id.value < roles_.size(); }
  [[nodiscard]] bool valid(CategoryId id) const noexcept { return id.value < categories_.size(); }
  [[nodiscard]] bool valid(PurposeId id) const noexcept { return id.value < purposes_.size(); }

  /// The access-matrix cell role × category × purpose. Precondition: ids valid for this pack.
  [[nodiscard]] AccessLevel access(RoleId r, CategoryId c, PurposeId p) const noexcept {
    const MatrixCell& cell = matrix_[cell_index(r, c)];
    if (cell.break_glass.contains(p)) return AccessLevel::consent_or_break_glass;
    if (cell.consent.contains(p)) return AccessLevel::consent;
    return AccessLevel::no;
  }

  /// Categories the owner type discloses by default to the recipient type (never restricted ones).
  [[nodiscard]] CategorySet disclosed(PartnerTypeId owner, PartnerTypeId recipient) const noexcept {
    return disclosure_[owner.value * partner_types_.size() + recipient.value];
  }
  /// True when data owned by this partner type leaves only to partners the client linked their card
  /// to.
  [[nodiscard]] bool requires_client_link(PartnerTypeId owner) const noexcept {
    return require_link_.contains(owner);
  }
  /// True when a break-the-glass grant may reach data owned by this partner type.
  [[nodiscard]] bool allows_break_glass(PartnerTypeId owner) const noexcept {
    return owner_break_glass_.contains(owner);
  }

  [[nodiscard]] CategorySet restricted_categories() const noexcept { return restricted_; }
  [[nodiscard]] CategorySet identifying_categories() const noexcept { return identifying_; }
  /// True when a fragment of this category may be stored on an anonymous client (not identifying).
  [[nodiscard]] bool accepts_on_anonymous_client(CategoryId c) const noexcept {
    return !identifying_.contains(c);
  }

  [[nodiscard]] bool may_record_consent(RoleId r) const noexcept {
    return roles_[r.value].may_record_consent;
  }
  [[nodiscard]] bool may_erase_client(RoleId r) const noexcept {
    return roles_[r.value].may_erase_client;
  }
  [[nodiscard]] bool may_query_audit(RoleId r) const noexcept {
    return roles_[r.value].may_query_audit;
  }
  [[nodiscard]] bool may_review_break_glass(RoleId r) const noexcept {
    return roles_[r.value].may_review_break_glass;
  }
  [[nodiscard]] std::chrono::days retention(CategoryId c) const noexcept {
    return categories_[c.value].retention;
  }

  /// Longest period a consent provision may span.
  [[nodiscard]] std::chrono::days consent_max_duration() const noexcept { return consent_max_; }
  /// Longest a break-the-glass grant may last.
  [[nodiscard]] std::chrono::minutes break_glass_max_duration() const noexcept {
    return break_glass_max_;
  }
  /// Bounds on a break-the-glass reason, in characters (UTF-8 code points).
  [[nodiscard]] std::size_t break_glass_reason_min_chars() const noexcept { return reason_min_; }
  [[nodiscard]] std::size_t break_glass_reason_max_chars() const noexcept { return reason_max_; }

 private:
  friend class RulePackParser;
  struct MatrixCell {
    PurposeSet consent;
    PurposeSet break_glass;
  };
  [[nodiscard]] std::size_t cell_index(RoleId r, CategoryId c) const noexcept {
    return r.value * categories_.size() + c.value;
  }

  std::string name_;
  std::string version_;
  std::string source_;
  std::vector<PartnerTypeDef> partner_types_;
  std::vector<RoleDef> roles_;
  std::vector<CategoryDef> categories_;
  std::vector<PurposeDef> purposes_;
  std::vector<MatrixCell> matrix_;       // roles × categories
  std::vector<CategorySet> disclosure_;  // owner type × recipient type
  PartnerTypeSet require_link_;
  PartnerTypeSet owner_break_glass_;
  CategorySet restricted_;
  CategorySet identifying_;
  std::chrono::days consent_max_{0};
  std::chrono::minutes break_glass_max_{0};
  std::size_t reason_min_ = 0;
  std::size_t reason_max_ = 0;
};

/// A loaded pack or the reasons it did not load. value() throws RulePackError on failure.
using RulePackResult = boost::system::result<RulePack, Diagnostics>;

/// Parses and validates rule pack text; `source_name` is used as the file in diagnostics.
/// Collects every problem it can find (not just the first). Never throws for bad input.
[[nodiscard]] RulePackResult parse_rule_pack(std::string_view text, std::string_view source_name);

/// Reads the file at `path` and parses it as parse_rule_pack does; a file that cannot be read is
/// one diagnostic at line 0.
[[nodiscard]] RulePackResult load_rule_pack(const std::string& path);

}  // namespace sluis::policy
