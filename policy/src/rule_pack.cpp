// Parsing and validation of rule pack TOML into an interned, matrix-shaped RulePack.
#include "sluis/policy/rule_pack.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

namespace sluis::policy {

std::string_view to_string(Sensitivity s) noexcept {
  switch (s) {
  case Sensitivity::personal: return "personal";
  case Sensitivity::sensitive: return "sensitive";
  case Sensitivity::special: return "special";
  case Sensitivity::judicial: return "judicial";
  }
  return "unknown";
}

std::string_view to_string(AccessLevel a) noexcept {
  switch (a) {
  case AccessLevel::no: return "no";
  case AccessLevel::consent: return "consent";
  case AccessLevel::consent_or_break_glass: return "consent-or-break-glass";
  }
  return "unknown";
}

std::string Diagnostic::to_string() const {
  std::ostringstream out;
  out << file << ':' << line << ':' << column << ": " << message;
  return out.str();
}

namespace {

std::string join_lines(const Diagnostics& d) {
  std::string text = "the rule pack is not valid:";
  for (const auto& item : d.items)
    text += "\n" + item.to_string();
  return text;
}

}  // namespace

RulePackError::RulePackError(const Diagnostics& d) : std::runtime_error(join_lines(d)) {}

void throw_exception_from_error(const Diagnostics& d, const boost::source_location& /*loc*/) {
  throw RulePackError(d);
}

namespace {

template <class Def>
std::optional<std::uint8_t> find_index(const std::vector<Def>& defs,
                                       std::string_view name) noexcept {
  for (std::size_t i = 0; i < defs.size(); ++i) {
    if (defs[i].name == name) return static_cast<std::uint8_t>(i);
  }
  return std::nullopt;
}

}  // namespace

std::optional<PartnerTypeId> RulePack::partner_type(std::string_view n) const noexcept {
  if (auto i = find_index(partner_types_, n)) return PartnerTypeId{*i};
  return std::nullopt;
}
std::optional<RoleId> RulePack::role(std::string_view n) const noexcept {
  if (auto i = find_index(roles_, n)) return RoleId{*i};
  return std::nullopt;
}
std::optional<CategoryId> RulePack::category(std::string_view n) const noexcept {
  if (auto i = find_index(categories_, n)) return CategoryId{*i};
  return std::nullopt;
}
std::optional<PurposeId> RulePack::purpose(std::string_view n) const noexcept {
  if (auto i = find_index(purposes_, n)) return PurposeId{*i};
  return std::nullopt;
}

/// The rule pack reader: walks the TOML tree once, collecting every diagnostic it can.
class RulePackParser {
 public:
  explicit RulePackParser(std::string_view source) : source_(source) {}

  RulePackResult run(std::string_view text);

 private:
  // Where a finding points: a node's or key's source region, or the file start.
  void diag(const toml::source_region& at, std::string message) {
    diags_.items.push_back(Diagnostic{source_, std::max<std::uint32_t>(at.begin.line, 1),
                                      std::max<std::uint32_t>(at.begin.column, 1),
                                      std::move(message)});
  }
  void diag_file(std::string message) {
    diags_.items.push_back(Diagnostic{source_, 1, 1, std::move(message)});
  }

  // Reports every key of `t` not in `allowed` (a typo must not silently become a default).
  void check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                  std::string_view where) {
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::string list;
      for (auto a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      diag(k.source(), "unknown key '" + std::string(k.str()) + "' in " + std::string(where) +
                           "; allowed keys are: " + list);
    }
  }

  const toml::table* section(const toml::table& root, std::string_view key, std::string_view why) {
    const toml::node* n = root.get(key);
    if (n == nullptr) {
      diag_file("missing required section [" + std::string(key) + "]: add it (" + std::string(why) +
                ")");
      return nullptr;
    }
    if (!n->is_table()) {
      diag(n->source(), "[" + std::string(key) + "] must be a table of keys, not a single value");
      return nullptr;
    }
    return n->as_table();
  }

  std::optional<std::string> req_string(const toml::table& t, std::string_view key,
                                        std::string_view where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      diag(t.source(), "missing required key '" + std::string(key) + "' in " + std::string(where));
      return std::nullopt;
    }
    if (!n->is_string() || n->as_string()->get().empty()) {
      diag(n->source(), "'" + std::string(key) + "' in " + std::string(where) +
                            " must be a non-empty quoted string");
      return std::nullopt;
    }
    return n->as_string()->get();
  }

  std::optional<bool> req_bool(const toml::table& t, std::string_view key, std::string_view where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      diag(t.source(), "missing required key '" + std::string(key) + "' in " + std::string(where) +
                           ": write `" + std::string(key) + " = true` or `= false`");
      return std::nullopt;
    }
    if (!n->is_boolean()) {
      diag(n->source(), "'" + std::string(key) + "' in " + std::string(where) +
                            " must be true or false (without quotes)");
      return std::nullopt;
    }
    return n->as_boolean()->get();
  }

  std::optional<std::int64_t> req_int(const toml::table& t, std::string_view key,
                                      std::string_view where, std::int64_t min, std::int64_t max) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      diag(t.source(), "missing required key '" + std::string(key) + "' in " + std::string(where));
      return std::nullopt;
    }
    return int_value(*n, std::string(key) + "' in " + std::string(where), min, max);
  }

  std::optional<std::int64_t> int_value(const toml::node& n, const std::string& what,
                                        std::int64_t min, std::int64_t max) {
    if (!n.is_integer() || n.as_integer()->get() < min || n.as_integer()->get() > max) {
      diag(n.source(), "'" + what + " must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max));
      return std::nullopt;
    }
    return n.as_integer()->get();
  }

  // Names are lower-case words joined by hyphens, so they read the same in TOML, JSON and logs.
  bool check_name(const toml::key& k, std::string_view kind) {
    const std::string_view s = k.str();
    bool ok =
        !s.empty() && s.size() <= 32 && s.front() >= 'a' && s.front() <= 'z' && s.back() != '-';
    for (const char c : s)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    if (!ok) {
      diag(k.source(),
           std::string(kind) + " name '" + std::string(s) +
               "' must be 1 to 32 lower-case letters, digits and hyphens, starting with "
               "a letter (e.g. 'mental-health')");
      return false;
    }
    if (s == kAllNonRestricted) {
      diag(k.source(), "'all-non-restricted' is reserved for wildcards; choose another " +
                           std::string(kind) + " name");
      return false;
    }
    return true;
  }

  template <class Def> std::string names_of(const std::vector<Def>& defs) const {
    std::string list;
    for (const auto& d : defs)
      list += (list.empty() ? "" : ", ") + d.name;
    return list;
  }

  template <class Def, class Fill>
  void read_definitions(const toml::table* sec, std::string_view section_key, std::string_view kind,
                        std::vector<Def>& out, Fill&& fill) {
    if (sec == nullptr) return;
    for (auto&& [k, v] : *sec) {
      if (!check_name(k, kind)) continue;
      const std::string where = "[" + std::string(section_key) + "." + std::string(k.str()) + "]";
      if (!v.is_table()) {
        diag(k.source(),
             where + " must be a table: write it as a " + where + " header with keys below");
        continue;
      }
      if (out.size() >= kMaxNamesPerKind) {
        diag(k.source(), "too many " + std::string(section_key) +
                             ": a rule pack may define at most " +
                             std::to_string(kMaxNamesPerKind));
        continue;
      }
      Def def;
      def.name = std::string(k.str());
      fill(def, *v.as_table(), where);
      out.push_back(std::move(def));
    }
    if (out.empty() && sec != nullptr) {
      diag(sec->source(), "[" + std::string(section_key) + "] defines no " + std::string(kind) +
                              "; define at least one as [" + std::string(section_key) + ".<name>]");
    }
  }

  // A list of category names or the string "all-non-restricted"; nullopt after a diagnostic.
  std::optional<CategorySet> category_list(const toml::node& n, const std::string& where,
                                           bool allow_wildcard, bool allow_restricted);
  std::optional<PurposeSet> purpose_list(const toml::node& n, const std::string& where);

  void read_pack_meta(const toml::table& root);
  void read_matrix(const toml::table* sec);
  void read_disclosure(const toml::table* sec);
  void read_retention(const toml::table* sec);

  static constexpr std::string_view kAllNonRestricted = "all-non-restricted";

  std::string source_;
  Diagnostics diags_;
  RulePack pack_;
};

std::optional<CategorySet> RulePackParser::category_list(const toml::node& n,
                                                         const std::string& where,
                                                         bool allow_wildcard,
                                                         bool allow_restricted) {
  if (n.is_string() && allow_wildcard) {
    if (n.as_string()->get() == kAllNonRestricted) {
      CategorySet all;
      for (std::size_t i = 0; i < pack_.categories_.size(); ++i) {
        if (!pack_.categories_[i].restricted) all.insert(CategoryId{static_cast<std::uint8_t>(i)});
      }
      return all;
    }
    diag(n.source(), where + " must be a list of categories or \"all-non-restricted\", not \"" +
                         std::string(n.as_string()->get()) + "\"");
    return std::nullopt;
  }
  if (!n.is_array()) {
    diag(n.source(), where + " must be a list of category names, e.g. [\"contact\", \"housing\"]");
    return std::nullopt;
  }
  CategorySet set;
  bool ok = true;
  for (const toml::node& item : *n.as_array()) {
    if (!item.is_string()) {
      diag(item.source(), where + ": list items must be quoted category names");
      ok = false;
      continue;
    }
    const std::string name(item.as_string()->get());
    const auto id = pack_.category(name);
    if (!id) {
      diag(item.source(), "unknown category '" + name + "' in " + where +
                              ": define it as [categories." + name +
                              "] or use one of: " + names_of(pack_.categories_));
      ok = false;
      continue;
    }
    if (set.contains(*id)) {
      diag(item.source(), "category '" + name + "' is listed twice in " + where + "; list it once");
      ok = false;
      continue;
    }
    if (!allow_restricted && pack_.categories_[id->value].restricted) {
      diag(item.source(), "category '" + name +
                              "' is restricted and is never disclosed by default: "
                              "remove it from " +
                              where + " (only a consent naming it discloses it)");
      ok = false;
      continue;
    }
    set.insert(*id);
  }
  if (!ok) return std::nullopt;
  return set;
}

std::optional<PurposeSet> RulePackParser::purpose_list(const toml::node& n,
                                                       const std::string& where) {
  if (!n.is_array()) {
    diag(n.source(), where + " must be a list of purpose names, e.g. [\"care-coordination\"]");
    return std::nullopt;
  }
  PurposeSet set;
  bool ok = true;
  for (const toml::node& item : *n.as_array()) {
    if (!item.is_string()) {
      diag(item.source(), where + ": list items must be quoted purpose names");
      ok = false;
      continue;
    }
    const std::string name(item.as_string()->get());
    const auto id = pack_.purpose(name);
    if (!id) {
      diag(item.source(), "unknown purpose '" + name + "' in " + where +
                              ": define it as [purposes." + name +
                              "] or use one of: " + names_of(pack_.purposes_));
      ok = false;
      continue;
    }
    if (set.contains(*id)) {
      diag(item.source(), "purpose '" + name + "' is listed twice in " + where + "; list it once");
      ok = false;
      continue;
    }
    set.insert(*id);
  }
  if (!ok) return std::nullopt;
  return set;
}

void RulePackParser::read_pack_meta(const toml::table& root) {
  if (const toml::table* t = section(root, "pack", "the pack's name and version")) {
    check_keys(*t, {"name", "version", "description"}, "[pack]");
    if (auto v = req_string(*t, "name", "[pack]")) pack_.name_ = *v;
    if (auto v = req_string(*t, "version", "[pack]")) pack_.version_ = *v;
    if (const toml::node* d = t->get("description"); d != nullptr && !d->is_string()) {
      diag(d->source(), "'description' in [pack] must be a quoted string");
    }
  }
  if (const toml::table* t = section(root, "consent", "the longest period a consent may span")) {
    check_keys(*t, {"max-duration-days"}, "[consent]");
    if (auto v = req_int(*t, "max-duration-days", "[consent]", 1, 3660)) {
      pack_.consent_max_ = std::chrono::days{*v};
    }
  }
  if (const toml::table* t = section(root, "break-glass",
                                     "how long and how well-reasoned an "
                                     "emergency access must be")) {
    check_keys(*t, {"max-duration-minutes", "reason-min-chars", "reason-max-chars"},
               "[break-glass]");
    if (auto v = req_int(*t, "max-duration-minutes", "[break-glass]", 1, 7 * 24 * 60)) {
      pack_.break_glass_max_ = std::chrono::minutes{*v};
    }
    const auto lo = req_int(*t, "reason-min-chars", "[break-glass]", 1, 1000);
    const auto hi = req_int(*t, "reason-max-chars", "[break-glass]", 1, 4000);
    if (lo && hi) {
      if (*lo > *hi) {
        diag(t->get("reason-min-chars")->source(),
             "'reason-min-chars' in [break-glass] must not exceed 'reason-max-chars'");
      }
      pack_.reason_min_ = static_cast<std::size_t>(*lo);
      pack_.reason_max_ = static_cast<std::size_t>(*hi);
    }
  }
}

void RulePackParser::read_retention(const toml::table* sec) {
  if (sec == nullptr) return;
  std::vector<bool> seen(pack_.categories_.size(), false);
  for (auto&& [k, v] : *sec) {
    const std::string name(k.str());
    const auto id = pack_.category(name);
    if (!id) {
      diag(k.source(), "unknown category '" + name + "' in [retention]: define it as [categories." +
                           name + "] or remove this line");
      continue;
    }
    if (auto days = int_value(v, name + "' in [retention] (days)", 1, 36600)) {
      pack_.categories_[id->value].retention = std::chrono::days{*days};
      seen[id->value] = true;
    }
  }
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i]) continue;
    diag(sec->source(), "category '" + pack_.categories_[i].name +
                            "' has no retention period: add `" + pack_.categories_[i].name +
                            " = <days>` under [retention]");
  }
}

void RulePackParser::read_matrix(const toml::table* sec) {
  const std::size_t ncat = pack_.categories_.size();
  pack_.matrix_.assign(pack_.roles_.size() * ncat, RulePack::MatrixCell{});
  if (sec == nullptr) return;
  std::vector<bool> seen(pack_.roles_.size(), false);
  for (auto&& [rk, rv] : *sec) {
    const std::string role(rk.str());
    const auto rid = pack_.role(role);
    if (!rid) {
      diag(rk.source(), "unknown role '" + role + "' in [matrix]: define it as [roles." + role +
                            "] or use one of: " + names_of(pack_.roles_));
      continue;
    }
    seen[rid->value] = true;
    if (!rv.is_table()) {
      diag(rk.source(), "[matrix." + role + "] must be a table of category = { ... } lines");
      continue;
    }
    for (auto&& [ck, cv] : *rv.as_table()) {
      const std::string cat(ck.str());
      const std::string where = "[matrix." + role + "] " + cat;
      const auto cid = pack_.category(cat);
      if (!cid) {
        diag(ck.source(), "unknown category '" + cat + "' in [matrix." + role +
                              "]: define it as [categories." + cat +
                              "] or use one of: " + names_of(pack_.categories_));
        continue;
      }
      if (!cv.is_table()) {
        diag(cv.source(), where + " must be an inline table such as { consent = [\"referral\"] }");
        continue;
      }
      const toml::table& cell_t = *cv.as_table();
      check_keys(cell_t, {"consent", "consent-or-break-glass"}, where);
      RulePack::MatrixCell& cell = pack_.matrix_[pack_.cell_index(*rid, *cid)];
      if (const toml::node* n = cell_t.get("consent")) {
        if (auto s = purpose_list(*n, where + " consent")) cell.consent = *s;
      }
      if (const toml::node* n = cell_t.get("consent-or-break-glass")) {
        if (auto s = purpose_list(*n, where + " consent-or-break-glass")) {
          cell.break_glass = *s;
          if (!s->empty() && pack_.categories_[cid->value].restricted) {
            diag(n->source(), "category '" + cat +
                                  "' is restricted: break-the-glass can never "
                                  "reach it; move these purposes to `consent` in " +
                                  where);
          }
        }
      }
      const PurposeSet both = cell.consent & cell.break_glass;
      both.for_each([&](PurposeId p) {
        diag(cv.source(), "purpose '" + pack_.purposes_[p.value].name +
                              "' is listed under both "
                              "`consent` and `consent-or-break-glass` in " +
                              where + "; keep it in one of them");
      });
    }
  }
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i]) continue;
    diag(sec->source(), "role '" + pack_.roles_[i].name + "' has no [matrix." +
                            pack_.roles_[i].name +
                            "] table: add one (an empty table if the role reads no fragments)");
  }
}

void RulePackParser::read_disclosure(const toml::table* sec) {
  const std::size_t ntype = pack_.partner_types_.size();
  pack_.disclosure_.assign(ntype * ntype, CategorySet{});
  if (sec == nullptr) return;
  std::vector<bool> seen(ntype, false);
  for (auto&& [ok, ov] : *sec) {
    const std::string owner(ok.str());
    const auto oid = pack_.partner_type(owner);
    if (!oid) {
      diag(ok.source(), "unknown partner type '" + owner +
                            "' in [disclosure]: define it as "
                            "[partner-types." +
                            owner + "] or use one of: " + names_of(pack_.partner_types_));
      continue;
    }
    seen[oid->value] = true;
    const std::string where = "[disclosure." + owner + "]";
    if (!ov.is_table()) {
      diag(ok.source(), where + " must be a table");
      continue;
    }
    const toml::table& t = *ov.as_table();
    check_keys(t, {"require-client-link", "break-glass", "to"}, where);
    if (auto b = req_bool(t, "require-client-link", where); b && *b)
      pack_.require_link_.insert(*oid);
    if (auto b = req_bool(t, "break-glass", where); b && *b) pack_.owner_break_glass_.insert(*oid);
    const toml::node* to = t.get("to");
    if (to == nullptr) continue;  // discloses nothing to anyone: the strictest default
    if (!to->is_table()) {
      diag(to->source(), where + " 'to' must be a table: recipient-type = [categories]");
      continue;
    }
    for (auto&& [rk, rv] : *to->as_table()) {
      const std::string recipient(rk.str());
      const auto rid = pack_.partner_type(recipient);
      if (!rid) {
        diag(rk.source(), "unknown partner type '" + recipient + "' in " + where +
                              " to: use one of: " + names_of(pack_.partner_types_));
        continue;
      }
      if (auto s = category_list(rv, where + " to." + recipient, true, false)) {
        pack_.disclosure_[oid->value * ntype + rid->value] = *s;
      }
    }
  }
  for (std::size_t i = 0; i < ntype; ++i) {
    if (seen[i]) continue;
    diag(sec->source(), "partner type '" + pack_.partner_types_[i].name + "' has no [disclosure." +
                            pack_.partner_types_[i].name +
                            "] table: add one saying what its data may ever reach");
  }
}

RulePackResult RulePackParser::run(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, source_);
  } catch (const toml::parse_error& e) {
    diag(e.source(), "not valid TOML: " + std::string(e.description()));
    return diags_;
  }
  pack_.source_ = source_;
  check_keys(root,
             {"pack", "consent", "break-glass", "partner-types", "roles", "categories", "purposes",
              "retention", "matrix", "disclosure"},
             "the top level");
  read_pack_meta(root);

  read_definitions(section(root, "partner-types", "the kinds of organisation that connect"),
                   "partner-types", "partner type", pack_.partner_types_,
                   [&](PartnerTypeDef& d, const toml::table& t, const std::string& where) {
                     check_keys(t, {"label"}, where);
                     if (auto v = req_string(t, "label", where)) d.label = *v;
                   });
  read_definitions(section(root, "roles", "the roles workers have"), "roles", "role", pack_.roles_,
                   [&](RoleDef& d, const toml::table& t, const std::string& where) {
                     check_keys(
                         t,
                         {"label", "may-record-consent", "may-erase-client", "may-query-audit",
                          "may-review-break-glass"},
                         where);
                     if (auto v = req_string(t, "label", where)) d.label = *v;
                     if (auto v = req_bool(t, "may-record-consent", where))
                       d.may_record_consent = *v;
                     if (auto v = req_bool(t, "may-erase-client", where)) d.may_erase_client = *v;
                     // Optional (default false): packs written before it keep loading.
                     if (t.contains("may-query-audit")) {
                       if (auto v = req_bool(t, "may-query-audit", where)) d.may_query_audit = *v;
                     }
                     if (t.contains("may-review-break-glass")) {
                       if (auto v = req_bool(t, "may-review-break-glass", where)) {
                         d.may_review_break_glass = *v;
                       }
                     }
                   });
  read_definitions(
      section(root, "categories", "the kinds of fragment"), "categories", "category",
      pack_.categories_, [&](CategoryDef& d, const toml::table& t, const std::string& where) {
        check_keys(t, {"label", "sensitivity", "identifying", "restricted"}, where);
        if (auto v = req_string(t, "label", where)) d.label = *v;
        if (auto v = req_string(t, "sensitivity", where)) {
          static constexpr std::array kAll = {Sensitivity::personal, Sensitivity::sensitive,
                                              Sensitivity::special, Sensitivity::judicial};
          const auto it = std::find_if(kAll.begin(), kAll.end(),
                                       [&](Sensitivity s) { return to_string(s) == *v; });
          if (it == kAll.end()) {
            diag(t.get("sensitivity")->source(),
                 "sensitivity in " + where +
                     " must be one of personal, sensitive, special, judicial, not '" + *v + "'");
          } else {
            d.sensitivity = *it;
          }
        }
        if (auto v = req_bool(t, "identifying", where)) d.identifying = *v;
        if (auto v = req_bool(t, "restricted", where)) d.restricted = *v;
      });
  read_definitions(section(root, "purposes", "why data may be read"), "purposes", "purpose",
                   pack_.purposes_,
                   [&](PurposeDef& d, const toml::table& t, const std::string& where) {
                     check_keys(t, {"label"}, where);
                     if (auto v = req_string(t, "label", where)) d.label = *v;
                   });
  for (std::size_t i = 0; i < pack_.categories_.size(); ++i) {
    const CategoryId id{static_cast<std::uint8_t>(i)};
    if (pack_.categories_[i].restricted) pack_.restricted_.insert(id);
    if (pack_.categories_[i].identifying) pack_.identifying_.insert(id);
  }

  read_retention(section(root, "retention", "how many days each category is kept"));
  read_matrix(section(root, "matrix", "which role may read which category for which purpose"));
  read_disclosure(section(root, "disclosure",
                          "which partner types may ever receive which "
                          "categories from each owner type"));

  if (!diags_.items.empty()) {
    std::stable_sort(diags_.items.begin(), diags_.items.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return std::pair{a.line, a.column} < std::pair{b.line, b.column};
                     });
    return diags_;
  }
  return std::move(pack_);
}

RulePackResult parse_rule_pack(std::string_view text, std::string_view source_name) {
  RulePackParser parser(source_name);
  return parser.run(text);
}

RulePackResult load_rule_pack(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Diagnostics{{Diagnostic{path, 0, 0,
                                   "cannot open the rule pack file: check the path and that it is "
                                   "readable"}}};
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (text.size() > 4U * 1024U * 1024U) {
    return Diagnostics{{Diagnostic{path, 0, 0,
                                   "the rule pack file is larger than 4 MiB; a rule "
                                   "pack is a short, human-edited file"}}};
  }
  return parse_rule_pack(text, path);
}

}  // namespace sluis::policy
