// Reader for known-answer vector files under tests/vectors/ (*.vec).
//
// Format: UTF-8 text; '#' starts a comment line; records are separated by blank lines; each
// record line is `key = value`. Values are taken verbatim (trimmed). By convention binary values
// are lowercase hex, and every record has `name` and `expect` (`ok` or an error name) keys.
#pragma once

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluis::test {

struct VectorRecord {
  std::map<std::string, std::string> fields;
  int line = 0;  ///< line where the record starts, for failure messages

  [[nodiscard]] const std::string& at(const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) {
      throw std::runtime_error("vector record at line " + std::to_string(line) + " lacks '" + key +
                               "'");
    }
    return it->second;
  }
  [[nodiscard]] bool has(const std::string& key) const { return fields.count(key) != 0; }
  [[nodiscard]] std::string get(const std::string& key, const std::string& fallback) const {
    auto it = fields.find(key);
    return it == fields.end() ? fallback : it->second;
  }
};

/// Loads tests/vectors/<name>. Throws std::runtime_error when the file is missing or malformed
/// (a missing vector file must fail the test, never pass it silently).
inline std::vector<VectorRecord> load_vectors(const std::string& name) {
  const std::string path = std::string(SLUIS_VECTORS_DIR) + "/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open vector file " + path);
  std::vector<VectorRecord> out;
  VectorRecord cur;
  std::string line;
  int n = 0;
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(" \t\r");
    const auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  auto flush = [&] {
    if (!cur.fields.empty()) out.push_back(cur);
    cur = VectorRecord{};
  };
  while (std::getline(in, line)) {
    ++n;
    const std::string t = trim(line);
    if (t.empty()) {
      flush();
      continue;
    }
    if (t[0] == '#') continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected 'key = value'");
    }
    if (cur.fields.empty()) cur.line = n;
    cur.fields[trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
  }
  flush();
  if (out.empty()) throw std::runtime_error("vector file " + path + " has no records");
  return out;
}

}  // namespace sluis::test
