// Server-side HTML templates that escape by default (the console's only way to write HTML).
//
// Syntax (a small, strict subset of Mustache):
//   {{name}}          the text value `name`, HTML-escaped (& < > " ' ` { } and controls)
//   {{u:name}}        the text value percent-encoded for a URL path segment or query value
//   {{t:key}}         the translation of `key` in the page's catalogue, escaped; a catalogue
//                     string may name values as {name}, which are looked up and escaped too
//   {{html:name}}     a rendered fragment (type Html, made only by this engine) inserted as is;
//                     API and user data are text and can never be inserted this way
//   {{#name}}..{{/name}}  a section: a list repeats it per item, a flag shows it when true, an
//                     object opens its scope; {{^name}}..{{/name}} shows when false / empty
//   {{>partial}}      another template of the set, rendered with the same data
//   {{! comment }}
// Names are dotted paths ([a-z0-9_] segments) looked up from the innermost scope outwards. A
// missing value, or a value of the wrong kind, is a render error — never an empty string.
//
// The parser also tracks where in the HTML each tag stands and refuses, at load time, tags where
// escaping would not be enough: inside <script> or <style>, in a tag outside a quoted attribute
// value, in on* and style attributes; in href/src/action/formaction only {{u:..}} after a
// leading same-origin "/" (or "?", "#"); {{html:}} and {{>..}} only between elements. A section
// must end in the HTML state it began in.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluis::console {

class Catalogue;
class TemplateSet;

/// A fragment of HTML produced by rendering a template. Only TemplateSet makes one, so a string
/// from the API or a form can never be passed off as markup.
class Html {
 public:
  [[nodiscard]] const std::string& str() const noexcept { return text_; }

 private:
  friend class TemplateSet;
  friend class TemplateData;  // set_html takes the markup over
  explicit Html(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

/// The values one render sees: text, flags, lists of objects, nested objects and fragments.
class TemplateData {
 public:
  TemplateData& set(std::string name, std::string text);
  TemplateData& set(std::string name, const char* text) {
    return set(std::move(name), std::string(text));
  }
  TemplateData& set_flag(std::string name, bool value);
  TemplateData& set_list(std::string name, std::vector<TemplateData> items);
  TemplateData& set_object(std::string name, TemplateData object);
  TemplateData& set_html(std::string name, Html fragment);

  enum class Kind { text, flag, list, object, html };
  struct Entry;
  /// The entry `name` of this object (not of outer scopes), or nullptr.
  [[nodiscard]] const Entry* find(std::string_view name) const noexcept;

 private:
  Entry& slot(std::string name);
  std::vector<Entry> entries_;
};

struct TemplateData::Entry {
  std::string name;
  Kind kind = Kind::text;
  std::string text;  ///< text, or the fragment's markup for Kind::html
  bool flag = false;
  std::vector<TemplateData> items;  ///< the list, or the one object for Kind::object
};

/// Render-time failures (a template asking for what the data does not hold).
enum class TemplateErrc {
  missing_value = 1,        ///< a name that no scope holds
  wrong_kind = 2,           ///< e.g. a list where text is needed, text used as a section
  unknown_template = 3,     ///< render() of a name the set does not have
  missing_translation = 4,  ///< a {{t:key}} the catalogue lacks
};
[[nodiscard]] const boost::system::error_category& template_category() noexcept;
[[nodiscard]] boost::system::error_code make_error_code(TemplateErrc e) noexcept;

/// A load-time error: the template's file and line and what is wrong there.
class TemplateSyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// HTML-escapes text for an element's content or a quoted attribute value: & < > " ' ` { } as
/// character references; NUL and other C0/DEL controls (not TAB, LF, CR) as U+FFFD.
[[nodiscard]] std::string html_escape(std::string_view text);
/// html_escape appended to `out` (the renderer's way: no string per value).
void html_escape_to(std::string& out, std::string_view text);
/// Percent-encodes everything outside RFC 3986 unreserved characters.
[[nodiscard]] std::string url_encode(std::string_view text);

/// A parsed set of templates, immutable after loading (safe to share between threads).
class TemplateSet {
 public:
  /// Parses every *.html file of `directory` (not recursive); a template is named by its file
  /// name without ".html". Throws TemplateSyntaxError naming file and line for a syntax error,
  /// an unsafe tag position, a partial that does not exist or an include cycle.
  [[nodiscard]] static TemplateSet load(const std::filesystem::path& directory);
  /// The same from text (name -> source), for tests; `origin` stands for the file in messages.
  [[nodiscard]] static TemplateSet from_sources(const std::map<std::string, std::string>& sources);

  /// Renders `name` with `data`, translations from `catalogue`.
  [[nodiscard]] boost::system::result<Html> render(std::string_view name, const TemplateData& data,
                                                   const Catalogue& catalogue) const;
  /// As render(), and on failure `where` says which template, line and name failed.
  [[nodiscard]] boost::system::result<Html> render(std::string_view name, const TemplateData& data,
                                                   const Catalogue& catalogue,
                                                   std::string& where) const;

  /// Every translation key any template uses (for the catalogue completeness test).
  [[nodiscard]] std::set<std::string> translation_keys() const;
  [[nodiscard]] std::vector<std::string> names() const;

  // Implementation details (defined in template.cpp).
  struct Node;
  struct Parsed;
  TemplateSet(TemplateSet&&) noexcept;
  TemplateSet& operator=(TemplateSet&&) noexcept;
  ~TemplateSet();

 private:
  TemplateSet();
  std::map<std::string, std::unique_ptr<Parsed>, std::less<>> templates_;
};

}  // namespace sluis::console

template <>
struct boost::system::is_error_code_enum<sluis::console::TemplateErrc> : std::true_type {};
