// Catalogue loading with toml++ (already the project's TOML parser) and Accept-Language choice.
#include "sluis/console/catalogue.hpp"

#include "sluis/console/utf8.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace sluis::console {
namespace {

bool placeholder_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

// Empty when `s` is a well-formed catalogue string, else why not.
std::string check_string(std::string_view s) {
  if (s.empty()) return "is empty";
  if (!is_valid_utf8(s)) return "is not UTF-8";
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find_first_of("{}", pos);
    if (open == std::string_view::npos) break;
    if (s[open] == '}') return "has a '}' without '{'";
    const std::size_t close = s.find_first_of("{}", open + 1);
    if (close == std::string_view::npos || s[close] != '}') return "has a '{' without '}'";
    const auto name = s.substr(open + 1, close - open - 1);
    if (name.empty() || !std::all_of(name.begin(), name.end(), placeholder_char))
      return "has a placeholder that is not {name} with [a-z0-9_.]";
    pos = close + 1;
  }
  return {};
}

void collect(const toml::table& table, const std::string& prefix, std::string_view origin,
             std::map<std::string, std::string, std::less<>>& out) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const auto line = node.source().begin.line;
    if (const auto* sub = node.as_table()) {
      collect(*sub, key, origin, out);
      continue;
    }
    const auto* value = node.as_string();
    std::ostringstream where;
    where << origin << ":" << line << ": '" << key << "' ";
    if (value == nullptr) throw CatalogueError(where.str() + "is not a string");
    const std::string why = check_string(value->get());
    if (!why.empty()) throw CatalogueError(where.str() + why);
    out.emplace(key, value->get());
  }
}

}  // namespace

Catalogue Catalogue::from_toml(std::string_view toml_text, std::string language,
                               std::string_view origin) {
  toml::table table;
  try {
    table = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": " << e.description();
    throw CatalogueError(msg.str());
  }
  Catalogue out;
  out.language_ = std::move(language);
  collect(table, "", origin, out.strings_);
  return out;
}

Catalogue Catalogue::load(const std::filesystem::path& file, std::string language) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CatalogueError(file.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return from_toml(text.str(), std::move(language), file.string());
}

Catalogue Catalogue::load_dir(const std::filesystem::path& dir, std::string language) {
  Catalogue out = load(dir / (language + ".toml"), language);
  const std::string suffix = "." + language + ".toml";
  std::vector<std::filesystem::path> areas;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix)) areas.push_back(entry.path());
  }
  if (ec) throw CatalogueError(dir.string() + ": cannot be listed");
  std::sort(areas.begin(), areas.end());
  for (const auto& file : areas) {
    Catalogue area = load(file, language);
    for (auto& [key, value] : area.strings_) {
      if (out.strings_.contains(key)) {
        throw CatalogueError(file.string() + ": '" + key +
                             "' is already defined by another catalogue file of '" + language +
                             "'");
      }
      out.strings_.emplace(key, std::move(value));
    }
  }
  return out;
}

const std::string* Catalogue::find(std::string_view key) const noexcept {
  const auto it = strings_.find(key);
  return it == strings_.end() ? nullptr : &it->second;
}

std::set<std::string> Catalogue::keys() const {
  std::set<std::string> out;
  for (const auto& [k, v] : strings_)
    out.insert(k);
  return out;
}

std::set<std::string> Catalogue::placeholders(std::string_view key) const {
  std::set<std::string> out;
  if (const auto* s = find(key))
    for_each_part(*s, [](std::string_view) {}, [&](std::string_view n) { out.emplace(n); });
  return out;
}

std::string choose_language(std::string_view header, const std::vector<std::string>& supported) {
  std::string best = supported.front();
  double best_q = 0.0;
  std::size_t start = 0;
  while (start <= header.size()) {
    const std::size_t comma = std::min(header.find(',', start), header.size());
    std::string_view entry = header.substr(start, comma - start);
    start = comma + 1;
    auto trim = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
      return s;
    };
    const std::size_t semi = entry.find(';');
    std::string_view range = trim(entry.substr(0, semi));
    double q = 1.0;
    if (semi != std::string_view::npos) {
      const std::string_view param = trim(entry.substr(semi + 1));
      // q = 0 / 0.x / 1 / 1.0 with up to three decimals (RFC 9110 §12.4.2).
      if (param.size() < 3 || param.size() > 7 || (param[0] != 'q' && param[0] != 'Q') ||
          param[1] != '=')
        continue;
      const std::string_view v = param.substr(2);
      if (!(v[0] == '0' || v[0] == '1')) continue;
      if (v.size() > 1 && (v[1] != '.' || v.size() == 2)) continue;
      if (!std::all_of(v.begin() + (v.size() > 1 ? 2 : 1), v.end(),
                       [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      q = v[0] == '1' ? 1.0 : 0.0;
      double scale = 0.1;
      for (std::size_t i = 2; i < v.size(); ++i, scale /= 10)
        q += (v[i] - '0') * scale;
      if (q > 1.0) continue;
    }
    if (range.empty() || q <= 0.0 || q <= best_q) continue;
    std::string primary(range.substr(0, range.find('-')));
    std::transform(primary.begin(), primary.end(), primary.begin(),
                   [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    if (primary == "*") {
      best = supported.front();
      best_q = q;
      continue;
    }
    if (std::find(supported.begin(), supported.end(), primary) != supported.end()) {
      best = primary;
      best_q = q;
    }
  }
  return best;
}

}  // namespace sluis::console
