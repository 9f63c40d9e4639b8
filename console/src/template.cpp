// The console's template engine (template.hpp): a strict Mustache subset whose parser follows the
// HTML around each tag, so that an escaped value only ever lands where escaping makes it inert
// (element content and quoted attribute values), and whose renderer refuses missing values.
//
// The HTML tracking is a reduced form of the WHATWG tokenizer states (HTML §13.2.5: data, tag
// open, tag name, attribute name/value, comment) — enough for templates we write ourselves, and
// strict where that is simpler: a stray '<', an inline <script> body, a <style> element, an on*
// or style attribute are load-time errors, since the console allows no inline script or style.
#include "sluis/console/template.hpp"

#include "sluis/console/catalogue.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

namespace sluis::console {

// ---- data ---------------------------------------------------------------------------------------

TemplateData::Entry& TemplateData::slot(std::string name) {
  for (auto& e : entries_) {
    if (e.name == name) {
      e = Entry{};
      e.name = std::move(name);
      return e;
    }
  }
  if (entries_.empty()) entries_.reserve(8);  // most objects hold a few values: no regrowth
  entries_.emplace_back();
  entries_.back().name = std::move(name);
  return entries_.back();
}

TemplateData& TemplateData::set(std::string name, std::string text) {
  auto& e = slot(std::move(name));
  e.kind = Kind::text;
  e.text = std::move(text);
  return *this;
}

TemplateData& TemplateData::set_flag(std::string name, bool value) {
  auto& e = slot(std::move(name));
  e.kind = Kind::flag;
  e.flag = value;
  return *this;
}

TemplateData& TemplateData::set_list(std::string name, std::vector<TemplateData> items) {
  auto& e = slot(std::move(name));
  e.kind = Kind::list;
  e.items = std::move(items);
  return *this;
}

TemplateData& TemplateData::set_object(std::string name, TemplateData object) {
  auto& e = slot(std::move(name));
  e.kind = Kind::object;
  e.items.clear();
  e.items.push_back(std::move(object));
  return *this;
}

TemplateData& TemplateData::set_html(std::string name, Html fragment) {
  auto& e = slot(std::move(name));
  e.kind = Kind::html;
  e.text = std::move(fragment.text_);
  return *this;
}

const TemplateData::Entry* TemplateData::find(std::string_view name) const noexcept {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// ---- escaping
// -------------------------------------------------------------------------------------

void html_escape_to(std::string& out, std::string_view text) {
  std::size_t run = 0;  // start of the bytes not yet copied: copied in runs, not byte by byte
  const auto flush = [&](std::size_t k) { out.append(text.data() + run, k - run); };
  for (std::size_t k = 0; k < text.size(); ++k) {
    const char c = text[k];
    const auto u = static_cast<unsigned char>(c);
    const char* replacement = nullptr;
    switch (c) {
    case '&': replacement = "&amp;"; break;
    case '<': replacement = "&lt;"; break;
    case '>': replacement = "&gt;"; break;
    case '"': replacement = "&quot;"; break;
    case '\'': replacement = "&#39;"; break;
    case '`': replacement = "&#96;"; break;
    // Braces: so that no value can read as template syntax to anything downstream.
    case '{': replacement = "&#123;"; break;
    case '}': replacement = "&#125;"; break;
    default:
      if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f)
        replacement = "\xef\xbf\xbd";  // U+FFFD
    }
    if (replacement == nullptr) continue;
    flush(k);
    out += replacement;
    run = k + 1;
  }
  flush(text.size());
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  html_escape_to(out, text);
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4U];
      out += kHex[u & 0xfU];
    }
  }
  return out;
}

// ---- parsed form
// ----------------------------------------------------------------------------------

struct TemplateSet::Node {
  enum class Type { text, value, url, html, translate, section, inverted, partial };
  Type type = Type::text;
  std::string text;               ///< literal text, or the name / key / partial name
  std::vector<std::string> path;  ///< a dotted name, split
  int line = 0;
  std::vector<Node> children;
};

struct TemplateSet::Parsed {
  std::string name;
  std::string origin;
  std::vector<Node> nodes;
  std::set<std::string> partials;
  std::set<std::string> keys;
};

TemplateSet::TemplateSet() = default;
TemplateSet::TemplateSet(TemplateSet&&) noexcept = default;
TemplateSet& TemplateSet::operator=(TemplateSet&&) noexcept = default;
TemplateSet::~TemplateSet() = default;

namespace {

using Node = TemplateSet::Node;

[[noreturn]] void syntax_error(std::string_view origin, int line, const std::string& what) {
  std::ostringstream msg;
  msg << origin << ":" << line << ": " << what;
  throw TemplateSyntaxError(msg.str());
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

bool url_attribute(std::string_view a) {
  return a == "href" || a == "src" || a == "action" || a == "formaction" || a == "poster" ||
         a == "cite" || a == "srcset" || a == "data" || a == "manifest" || a == "xlink:href";
}

// Where the literal HTML of a template stands, fed one literal run at a time.
class HtmlContext {
 public:
  enum class Mode {
    data,
    tag_open,
    tag_name,
    in_tag,
    attr_name,
    after_attr_name,
    before_value,
    value_dq,
    value_sq,
    value_unquoted,
    script_body,
    markup_decl,
    comment
  };

  HtmlContext(std::string_view origin) : origin_(origin) {}

  void feed(std::string_view text, int& line) {
    for (const char c : text) {
      step(c, line);
      if (c == '\n') ++line;
    }
  }

  // Before a template tag: an attribute name that the tag ends is complete.
  void settle(int line) {
    if (mode_ == Mode::attr_name || mode_ == Mode::after_attr_name) {
      check_attribute(line);
      mode_ = Mode::in_tag;
    }
  }

  [[nodiscard]] Mode mode() const { return mode_; }
  [[nodiscard]] const std::string& attribute() const { return attr_; }
  [[nodiscard]] const std::string& tag() const { return tag_; }
  [[nodiscard]] const std::string& value_start() const { return value_start_; }
  void mark_value_dynamic() { value_dynamic_ = true; }

  // Between elements any tag may have come last; inside a tag, it must be the same tag and
  // attribute.
  [[nodiscard]] bool same_place(const HtmlContext& o) const {
    if (mode_ != o.mode_) return false;
    if (mode_ == Mode::data) return true;
    if (tag_ != o.tag_ || closing_ != o.closing_) return false;
    return mode_ == Mode::in_tag || attr_ == o.attr_;
  }

 private:
  void fail(int line, const std::string& what) const { syntax_error(origin_, line, what); }

  void check_attribute(int line) const {
    if (attr_.rfind("on", 0) == 0)
      fail(line, "event handler attribute '" + attr_ + "' is not allowed (no inline script)");
    if (attr_ == "style") fail(line, "style attribute is not allowed (no inline style)");
  }

  void end_of_tag(int line) {
    if (!closing_ && tag_ == "style")
      fail(line, "<style> is not allowed (no inline style): use a stylesheet");
    mode_ = (!closing_ && tag_ == "script") ? Mode::script_body : Mode::data;
    buffer_.clear();
  }

  void step(char c, int line) {
    const bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
    switch (mode_) {
    case Mode::data:
      if (c == '<') {
        mode_ = Mode::tag_open;
        tag_.clear();
        closing_ = false;
      }
      return;
    case Mode::tag_open:
      if (c == '/' && !closing_) {
        closing_ = true;
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        tag_ += lower(c);
        mode_ = Mode::tag_name;
      } else if (c == '!' && !closing_) {
        mode_ = Mode::markup_decl;
        buffer_.clear();
      } else {
        fail(line, "stray '<' (write &lt;)");
      }
      return;
    case Mode::tag_name:
      if (ws || c == '/') {
        mode_ = Mode::in_tag;
      } else if (c == '>') {
        end_of_tag(line);
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-') {
        tag_ += lower(c);
      } else {
        fail(line, "unexpected character in a tag name");
      }
      return;
    case Mode::in_tag:
      if (ws || c == '/') return;
      if (c == '>') {
        end_of_tag(line);
      } else if (c == '"' || c == '\'' || c == '<' || c == '=') {
        fail(line, "unexpected character in a tag");
      } else {
        attr_.assign(1, lower(c));
        mode_ = Mode::attr_name;
      }
      return;
    case Mode::attr_name:
      if (ws) {
        mode_ = Mode::after_attr_name;
      } else if (c == '=') {
        check_attribute(line);
        mode_ = Mode::before_value;
      } else if (c == '>' || c == '/') {
        check_attribute(line);
        if (c == '>')
          end_of_tag(line);
        else
          mode_ = Mode::in_tag;
      } else if (c == '"' || c == '\'' || c == '<') {
        fail(line, "unexpected character in an attribute name");
      } else {
        attr_ += lower(c);
      }
      return;
    case Mode::after_attr_name:
      if (ws) return;
      check_attribute(line);
      if (c == '=') {
        mode_ = Mode::before_value;
      } else if (c == '>') {
        end_of_tag(line);
      } else if (c == '/') {
        mode_ = Mode::in_tag;
      } else {
        attr_.assign(1, lower(c));
        mode_ = Mode::attr_name;
      }
      return;
    case Mode::before_value:
      if (ws) return;
      value_start_.clear();
      value_dynamic_ = false;
      if (c == '"')
        mode_ = Mode::value_dq;
      else if (c == '\'')
        mode_ = Mode::value_sq;
      else if (c == '>')
        fail(line, "attribute '" + attr_ + "' has no value");
      else {
        mode_ = Mode::value_unquoted;
        value_start_ += c;
      }
      return;
    case Mode::value_dq:
    case Mode::value_sq:
      if (c == (mode_ == Mode::value_dq ? '"' : '\'')) {
        mode_ = Mode::in_tag;
      } else if (!value_dynamic_ && value_start_.size() < 16) {
        value_start_ += c;
      }
      return;
    case Mode::value_unquoted:
      if (ws)
        mode_ = Mode::in_tag;
      else if (c == '>')
        end_of_tag(line);
      return;
    case Mode::script_body: {
      // Only an immediate </script>: scripts are files (src=...), never inline.
      static constexpr std::string_view kEnd = "</script>";
      buffer_ += lower(c);
      if (kEnd.substr(0, buffer_.size()) != buffer_)
        fail(line, "inline script is not allowed: use <script src=...></script>");
      if (buffer_.size() == kEnd.size()) {
        mode_ = Mode::data;
        buffer_.clear();
      }
      return;
    }
    case Mode::markup_decl:
      buffer_ += c;
      if (buffer_ == "--") {
        mode_ = Mode::comment;
        buffer_.clear();
      } else if (c == '>') {
        mode_ = Mode::data;  // <!DOCTYPE html>
      }
      return;
    case Mode::comment:
      buffer_ += c;
      if (buffer_.size() > 3) buffer_.erase(0, buffer_.size() - 3);
      if (buffer_ == "-->") mode_ = Mode::data;
      return;
    }
  }

  std::string_view origin_;
  Mode mode_ = Mode::data;
  std::string tag_;
  bool closing_ = false;
  std::string attr_;
  std::string value_start_;
  bool value_dynamic_ = false;
  std::string buffer_;
};

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

std::vector<std::string> split_name(std::string_view name, std::string_view origin, int line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const auto seg = name.substr(start, dot - start);
    if (seg.empty() || !std::all_of(seg.begin(), seg.end(), name_char))
      syntax_error(origin, line,
                   "'" + std::string(name) + "' is not a name ([a-z0-9_] segments joined by '.')");
    out.emplace_back(seg);
    start = dot + 1;
  }
  return out;
}

bool key_char(char c) {
  return name_char(c) || c == '.' || c == '-';
}

class Parser {
 public:
  Parser(std::string_view source, TemplateSet::Parsed& out)
      : src_(source), out_(out), html_(out.origin) {}

  void run() {
    std::vector<Open> stack;
    std::vector<Node>* current = &out_.nodes;
    std::size_t pos = 0;
    while (pos < src_.size()) {
      const std::size_t open = src_.find("{{", pos);
      const auto literal =
          src_.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos);
      if (!literal.empty()) {
        if (literal.find("}}") != std::string_view::npos) fail(line_, "'}}' without '{{'");
        Node t;
        t.type = Node::Type::text;
        t.text = std::string(literal);
        t.line = line_;
        html_.feed(literal, line_);
        current->push_back(std::move(t));
      }
      if (open == std::string_view::npos) break;
      const std::size_t close = src_.find("}}", open + 2);
      if (close == std::string_view::npos) fail(line_, "'{{' without '}}'");
      const std::string_view tag = src_.substr(open + 2, close - open - 2);
      pos = close + 2;
      if (!tag.empty() && tag.front() == '!') {  // a comment, which may span lines
        line_ += static_cast<int>(std::count(tag.begin(), tag.end(), '\n'));
        continue;
      }
      if (tag.find('\n') != std::string_view::npos) fail(line_, "a tag spans lines");
      if (tag.find("{{") != std::string_view::npos) fail(line_, "'{{' inside a tag");
      html_.settle(line_);
      if (tag.empty()) fail(line_, "empty tag");
      const char sigil = tag.front();
      if (sigil == '#' || sigil == '^') {
        check_place(Place::section, tag);
        Node s;
        s.type = sigil == '#' ? Node::Type::section : Node::Type::inverted;
        s.text = std::string(tag.substr(1));
        s.path = split_name(s.text, out_.origin, line_);
        s.line = line_;
        current->push_back(std::move(s));
        stack.push_back({&current->back(), current, html_, line_});
        current = &current->back().children;
      } else if (sigil == '/') {
        check_place(Place::section, tag);
        if (stack.empty()) fail(line_, "'{{" + std::string(tag) + "}}' closes no section");
        const auto& top = stack.back();
        if (top.node->text != tag.substr(1))
          fail(line_, "'{{" + std::string(tag) + "}}' closes '" + top.node->text +
                          "' (opened on line " + std::to_string(top.line) + ")");
        if (!html_.same_place(top.html))
          fail(line_, "section '" + top.node->text +
                          "' ends in another HTML context than it began (line " +
                          std::to_string(top.line) + ")");
        current = top.parent;
        stack.pop_back();
      } else if (sigil == '>') {
        check_place(Place::fragment, tag);
        Node p;
        p.type = Node::Type::partial;
        p.text = std::string(tag.substr(1));
        split_name(p.text, out_.origin, line_);
        p.line = line_;
        out_.partials.insert(p.text);
        current->push_back(std::move(p));
      } else {
        current->push_back(value_tag(tag));
      }
    }
    if (!stack.empty())
      fail(stack.back().line, "section '" + stack.back().node->text + "' is never closed");
    if (html_.mode() != HtmlContext::Mode::data) fail(line_, "the template ends inside a tag");
  }

 private:
  enum class Place { value, url, fragment, section };

  struct Open {
    Node* node;
    std::vector<Node>* parent;
    HtmlContext html;
    int line;
  };

  [[noreturn]] void fail(int line, const std::string& what) const {
    syntax_error(out_.origin, line, what);
  }

  // Whether a tag of this kind may stand where the HTML is now (template.hpp's rules).
  void check_place(Place place, std::string_view tag) {
    using M = HtmlContext::Mode;
    const auto mode = html_.mode();
    const std::string shown = "'{{" + std::string(tag) + "}}'";
    if (mode == M::data) return;
    if (place == Place::section && mode == M::in_tag) return;
    const bool quoted = mode == M::value_dq || mode == M::value_sq;
    if (quoted && place == Place::section) return;
    if (quoted && (place == Place::value || place == Place::url)) {
      if (url_attribute(html_.attribute())) {
        if (place != Place::url)
          fail(line_, shown + " in '" + html_.attribute() + "': URLs take {{u:name}} only");
        const auto& start = html_.value_start();
        const bool same_origin =
            (start.size() >= 2 && start[0] == '/' && start[1] != '/' && start[1] != '\\') ||
            (!start.empty() && (start[0] == '?' || start[0] == '#'));
        if (!same_origin)
          fail(line_, shown + " in '" + html_.attribute() +
                          "' must follow a literal same-origin path ('/x...', '?', '#')");
      }
      html_.mark_value_dynamic();
      return;
    }
    if (mode == M::script_body) fail(line_, shown + " inside <script>");
    if (quoted)
      fail(line_, shown + " inside an attribute value: only text values are allowed there");
    fail(line_, shown + " inside a tag: values go in element content or quoted attribute values");
  }

  Node value_tag(std::string_view tag) {
    Node n;
    n.line = line_;
    std::string_view name = tag;
    Place place = Place::value;
    if (tag.rfind("t:", 0) == 0) {
      n.type = Node::Type::translate;
      name = tag.substr(2);
      if (name.empty() || !std::all_of(name.begin(), name.end(), key_char))
        fail(line_, "'" + std::string(name) + "' is not a catalogue key");
      n.text = std::string(name);
      out_.keys.insert(n.text);
      check_place(place, tag);
      return n;
    }
    if (tag.rfind("u:", 0) == 0) {
      n.type = Node::Type::url;
      name = tag.substr(2);
      place = Place::url;
    } else if (tag.rfind("html:", 0) == 0) {
      n.type = Node::Type::html;
      name = tag.substr(5);
      place = Place::fragment;
    } else {
      n.type = Node::Type::value;
    }
    n.text = std::string(name);
    n.path = split_name(name, out_.origin, line_);
    check_place(place, tag);
    return n;
  }

  std::string_view src_;
  TemplateSet::Parsed& out_;
  HtmlContext html_;
  int line_ = 1;
};

// ---- rendering
// --------------------------------------------------------------------------------------

class Renderer {
 public:
  Renderer(const std::map<std::string, std::unique_ptr<TemplateSet::Parsed>, std::less<>>& all,
           const Catalogue& catalogue, std::string& where)
      : all_(all), catalogue_(catalogue), where_(where) {}

  boost::system::result<void> render(const TemplateSet::Parsed& t,
                                     std::vector<const TemplateData*>& scopes, std::string& out,
                                     int depth) {
    if (depth > 16) return fail(t, 0, "partials nested too deep", TemplateErrc::unknown_template);
    return nodes(t, t.nodes, scopes, out, depth);
  }

 private:
  boost::system::result<void> fail(const TemplateSet::Parsed& t, int line, std::string_view name,
                                   TemplateErrc e) {
    where_ = t.origin + ":" + std::to_string(line) + ": " + std::string(name);
    return e;
  }

  // The entry a dotted path names, or nullptr; `through_non_object` tells a path that went
  // through text, a flag or a list (a wrong kind) from one that names nothing (missing).
  static const TemplateData::Entry* lookup(const std::vector<std::string>& path,
                                           const std::vector<const TemplateData*>& scopes,
                                           bool& through_non_object) {
    through_non_object = false;
    const TemplateData::Entry* e = nullptr;
    for (auto it = scopes.rbegin(); it != scopes.rend() && e == nullptr; ++it)
      e = (*it)->find(path.front());
    for (std::size_t i = 1; i < path.size() && e != nullptr; ++i) {
      if (e->kind != TemplateData::Kind::object) {
        through_non_object = true;
        return nullptr;
      }
      e = e->items.front().find(path[i]);
    }
    return e;
  }

  boost::system::result<const TemplateData::Entry*>
  entry(const TemplateSet::Parsed& t, const Node& n, const std::vector<std::string>& path,
        std::string_view shown, const std::vector<const TemplateData*>& scopes) {
    bool wrong = false;
    const auto* e = lookup(path, scopes, wrong);
    if (e == nullptr) {
      auto failed =
          fail(t, n.line, shown, wrong ? TemplateErrc::wrong_kind : TemplateErrc::missing_value);
      return failed.error();
    }
    return e;
  }

  // As entry(), for a dotted name in a catalogue string (split where it is read, no copies).
  boost::system::result<const TemplateData::Entry*>
  dotted_entry(const TemplateSet::Parsed& t, const Node& n, std::string_view name,
               const std::vector<const TemplateData*>& scopes) {
    const std::size_t first_dot = std::min(name.find('.'), name.size());
    const std::string_view head = name.substr(0, first_dot);
    const TemplateData::Entry* e = nullptr;
    for (auto it = scopes.rbegin(); it != scopes.rend() && e == nullptr; ++it)
      e = (*it)->find(head);
    bool wrong = false;
    for (std::size_t start = first_dot + 1; start <= name.size() && e != nullptr;) {
      const std::size_t dot = std::min(name.find('.', start), name.size());
      if (e->kind != TemplateData::Kind::object) {
        wrong = true;
        e = nullptr;
        break;
      }
      e = e->items.front().find(name.substr(start, dot - start));
      start = dot + 1;
    }
    if (e == nullptr) {
      auto failed =
          fail(t, n.line, name, wrong ? TemplateErrc::wrong_kind : TemplateErrc::missing_value);
      return failed.error();
    }
    return e;
  }

  boost::system::result<void> nodes(const TemplateSet::Parsed& t, const std::vector<Node>& list,
                                    std::vector<const TemplateData*>& scopes, std::string& out,
                                    int depth) {
    using K = TemplateData::Kind;
    for (const auto& n : list) {
      switch (n.type) {
      case Node::Type::text: out += n.text; break;
      case Node::Type::value:
      case Node::Type::url:
      case Node::Type::html: {
        auto found = entry(t, n, n.path, n.text, scopes);
        if (!found) return found.error();
        const auto* e = *found;
        const K want = n.type == Node::Type::html ? K::html : K::text;
        if (e->kind != want) return fail(t, n.line, n.text, TemplateErrc::wrong_kind);
        if (n.type == Node::Type::value)
          html_escape_to(out, e->text);
        else if (n.type == Node::Type::url)
          out += url_encode(e->text);
        else
          out += e->text;  // Html: made by this engine from escaped parts
        break;
      }
      case Node::Type::translate: {
        const auto* s = catalogue_.find(n.text);
        if (s == nullptr) return fail(t, n.line, n.text, TemplateErrc::missing_translation);
        boost::system::result<void> ok;
        for_each_part(
            *s, [&](std::string_view part) { html_escape_to(out, part); },
            [&](std::string_view name) {
              if (!ok) return;
              auto found = dotted_entry(t, n, name, scopes);
              if (!found)
                ok = found.error();
              else if ((*found)->kind != K::text)
                ok = fail(t, n.line, name, TemplateErrc::wrong_kind);
              else
                html_escape_to(out, (*found)->text);
            });
        if (!ok) return ok;
        break;
      }
      case Node::Type::section:
      case Node::Type::inverted: {
        auto found = entry(t, n, n.path, n.text, scopes);
        if (!found) return found.error();
        const auto* e = *found;
        const bool inverted = n.type == Node::Type::inverted;
        if (e->kind == K::flag) {
          if (e->flag != inverted) {
            if (auto ok = nodes(t, n.children, scopes, out, depth); !ok) return ok;
          }
        } else if (e->kind == K::list) {
          if (inverted) {
            if (e->items.empty()) {
              if (auto ok = nodes(t, n.children, scopes, out, depth); !ok) return ok;
            }
          } else {
            for (const auto& item : e->items) {
              scopes.push_back(&item);
              auto ok = nodes(t, n.children, scopes, out, depth);
              scopes.pop_back();
              if (!ok) return ok;
            }
          }
        } else if (e->kind == K::object && !inverted) {
          scopes.push_back(&e->items.front());
          auto ok = nodes(t, n.children, scopes, out, depth);
          scopes.pop_back();
          if (!ok) return ok;
        } else {
          return fail(t, n.line, n.text, TemplateErrc::wrong_kind);
        }
        break;
      }
      case Node::Type::partial: {
        const auto it = all_.find(n.text);
        if (it == all_.end()) return fail(t, n.line, n.text, TemplateErrc::unknown_template);
        if (auto ok = render(*it->second, scopes, out, depth + 1); !ok) return ok;
        break;
      }
      }
    }
    return {};
  }

  const std::map<std::string, std::unique_ptr<TemplateSet::Parsed>, std::less<>>& all_;
  const Catalogue& catalogue_;
  std::string& where_;
};

class TemplateCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.console.template"; }
  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<TemplateErrc>(ev)) {
    case TemplateErrc::missing_value: return "template value missing";
    case TemplateErrc::wrong_kind: return "template value of the wrong kind";
    case TemplateErrc::unknown_template: return "unknown template";
    case TemplateErrc::missing_translation: return "translation missing";
    }
    return "unknown template error";
  }
};

}  // namespace

const boost::system::error_category& template_category() noexcept {
  static const TemplateCategory category;
  return category;
}

boost::system::error_code make_error_code(TemplateErrc e) noexcept {
  return {static_cast<int>(e), template_category()};
}

// ---- the set
// --------------------------------------------------------------------------------------

TemplateSet TemplateSet::from_sources(const std::map<std::string, std::string>& sources) {
  TemplateSet set;
  for (const auto& [origin, text] : sources) {
    auto parsed = std::make_unique<Parsed>();
    std::string name = std::filesystem::path(origin).filename().string();
    if (name.size() > 5 && name.substr(name.size() - 5) == ".html") name.resize(name.size() - 5);
    parsed->name = name;
    parsed->origin = origin;
    Parser(text, *parsed).run();
    if (!set.templates_.emplace(name, std::move(parsed)).second)
      throw TemplateSyntaxError(origin + ": a second template named '" + name + "'");
  }
  // Every partial exists and no template includes itself, directly or not (depth-first search).
  std::map<std::string, int> state;  // 0 unseen, 1 on the path, 2 done
  std::function<void(const Parsed&)> visit = [&](const Parsed& t) {
    state[t.name] = 1;
    for (const auto& p : t.partials) {
      const auto it = set.templates_.find(p);
      if (it == set.templates_.end())
        throw TemplateSyntaxError(t.origin + ": includes '" + p + "', which is not a template");
      if (state[p] == 1) throw TemplateSyntaxError(t.origin + ": includes '" + p + "' in a cycle");
      if (state[p] == 0) visit(*it->second);
    }
    state[t.name] = 2;
  };
  for (const auto& [name, t] : set.templates_) {
    if (state[name] == 0) visit(*t);
  }
  return set;
}

TemplateSet TemplateSet::load(const std::filesystem::path& directory) {
  std::map<std::string, std::string> sources;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".html") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    if (!in) throw TemplateSyntaxError(entry.path().string() + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    sources.emplace(entry.path().string(), text.str());
  }
  if (ec) throw TemplateSyntaxError(directory.string() + ": cannot be listed");
  if (sources.empty()) throw TemplateSyntaxError(directory.string() + ": holds no *.html template");
  return from_sources(sources);
}

boost::system::result<Html> TemplateSet::render(std::string_view name, const TemplateData& data,
                                                const Catalogue& catalogue) const {
  std::string where;
  return render(name, data, catalogue, where);
}

boost::system::result<Html> TemplateSet::render(std::string_view name, const TemplateData& data,
                                                const Catalogue& catalogue,
                                                std::string& where) const {
  const auto it = templates_.find(name);
  if (it == templates_.end()) {
    where = std::string(name);
    return TemplateErrc::unknown_template;
  }
  std::vector<const TemplateData*> scopes{&data};
  std::string out;
  out.reserve(16384);  // a page is mostly a few KiB to a few tens of KiB: no early regrowth
  Renderer r(templates_, catalogue, where);
  if (auto ok = r.render(*it->second, scopes, out, 0); !ok) return ok.error();
  return Html(std::move(out));
}

std::set<std::string> TemplateSet::translation_keys() const {
  std::set<std::string> out;
  for (const auto& [name, t] : templates_)
    out.insert(t->keys.begin(), t->keys.end());
  return out;
}

std::vector<std::string> TemplateSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : templates_)
    out.push_back(name);
  return out;
}

}  // namespace sluis::console
