// Translation catalogues (console/web/i18n/<language>.toml and <area>.<language>.toml) and the choice of a page's language.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

/// A load-time error: the catalogue file and what is wrong in it.
class CatalogueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The strings of one language. Keys are dotted paths ("login.title" is [login] title = "..");
/// every value is a string; a value may name template values as {name} ([a-z0-9_.] names), and
/// braces are used for nothing else.
class Catalogue {
 public:
  /// Reads a TOML file. Throws CatalogueError (file, line and reason) on a syntax error, a value
  /// that is not a string, an empty string or a malformed placeholder.
  [[nodiscard]] static Catalogue load(const std::filesystem::path& file, std::string language);
  /// A language's whole catalogue from `dir`: `<language>.toml` and then every
  /// `<area>.<language>.toml` beside it (each page area keeps its strings in its own file), in
  /// name order. Throws CatalogueError as load() does, and when two files define the same key.
  [[nodiscard]] static Catalogue load_dir(const std::filesystem::path& dir, std::string language);
  /// The same from TOML text; `origin` names the source in error messages.
  [[nodiscard]] static Catalogue from_toml(std::string_view toml, std::string language,
                                           std::string_view origin);

  [[nodiscard]] const std::string& language() const noexcept { return language_; }
  /// The string for `key`, or nullptr.
  [[nodiscard]] const std::string* find(std::string_view key) const noexcept;
  [[nodiscard]] std::set<std::string> keys() const;
  /// The placeholder names of `key`'s string (empty when none or no such key).
  [[nodiscard]] std::set<std::string> placeholders(std::string_view key) const;

 private:
  std::string language_;
  std::map<std::string, std::string, std::less<>> strings_;
};

/// Splits a catalogue string into literal text and placeholder names: calls `text(part)` and
/// `name(part)` in order. Precondition: the string passed Catalogue's load checks.
template <class OnText, class OnName>
void for_each_part(std::string_view s, OnText&& text, OnName&& name) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find('{', pos);
    if (open == std::string_view::npos) {
      text(s.substr(pos));
      return;
    }
    if (open > pos) text(s.substr(pos, open - pos));
    const std::size_t close = s.find('}', open);
    name(s.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
}

/// The console's languages, in order of preference when the browser states none we have.
inline const std::vector<std::string>& console_languages() {
  static const std::vector<std::string> kLanguages = {"nl", "fr", "en"};
  return kLanguages;
}

/// Picks the language for a page from an Accept-Language header (RFC 9110 §12.5.4): the
/// supported language with the highest q (by primary subtag: "fr-BE" is "fr"; "*" is the first
/// supported one); ties go to the earlier entry; q=0 excludes. Malformed entries are skipped.
/// `supported` must not be empty; its first entry is the fallback.
[[nodiscard]] std::string choose_language(std::string_view accept_language,
                                          const std::vector<std::string>& supported);

}  // namespace sluis::console
