// A small, strict option parser shared by sluisctl's command groups.
#pragma once

#include "sluisctl/command.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::ctl {

/// Thrown for a usage mistake; the message is a sentence telling the person what to type.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses `--name value` options and `--flag` switches; everything else is positional.
/// Unknown options are a UsageError, so a typo never silently changes behaviour.
class Options {
 public:
  Options(Args args, std::set<std::string_view> valued, std::set<std::string_view> flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string_view a = args[i];
      if (a.size() > 2 && a.substr(0, 2) == "--") {
        const std::string_view name = a.substr(2);
        if (flags.count(name) != 0) {
          flags_.insert(std::string(name));
        } else if (valued.count(name) != 0) {
          if (i + 1 >= args.size()) {
            throw UsageError("option --" + std::string(name) + " needs a value");
          }
          values_[std::string(name)] = std::string(args[++i]);
        } else {
          throw UsageError("unknown option --" + std::string(name));
        }
      } else {
        positional_.emplace_back(a);
      }
    }
  }

  [[nodiscard]] std::optional<std::string> get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] std::string require(const std::string& name) const {
    auto v = get(name);
    if (!v) throw UsageError("option --" + name + " is required");
    return *v;
  }
  [[nodiscard]] bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

/// Parses a non-negative integer option value or throws UsageError naming the option.
inline std::uint64_t parse_count(const std::string& name, const std::string& value) {
  std::uint64_t v = 0;
  if (value.empty()) throw UsageError("option --" + name + " needs a whole number");
  for (char c : value) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) {
      throw UsageError("option --" + name + " needs a whole number, not '" + value + "'");
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace sluis::ctl
