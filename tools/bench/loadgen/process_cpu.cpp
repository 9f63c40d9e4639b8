// Reads utime and stime (and the waited-for children's cutime and cstime) of processes from
// /proc/PID/stat (proc(5)).
#include "process_cpu.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace sluis::bench {

namespace {

/// The fields of /proc/PID/stat this file uses, CPU times in clock ticks.
struct StatLine {
  pid_t parent = 0;
  unsigned long long own = 0;       ///< utime + stime
  unsigned long long children = 0;  ///< cutime + cstime: children this process has waited for
};

std::optional<StatLine> stat_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // Field 2 (comm) is in parentheses and may hold spaces: the fields after it start after the
  // last ')'. ppid is field 4; utime, stime, cutime, cstime are fields 14 to 17.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  StatLine s;
  for (int i = 3; i <= 17; ++i) {
    if (!(rest >> field)) return std::nullopt;
    try {
      if (i == 4) s.parent = static_cast<pid_t>(std::stol(field));
      if (i == 14 || i == 15) s.own += std::stoull(field);
      if (i == 16 || i == 17) s.children += std::stoull(field);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::chrono::microseconds> from_ticks(unsigned long long ticks) {
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  return std::chrono::microseconds(static_cast<long long>(ticks * 1'000'000ULL /
                                                          static_cast<unsigned long long>(hz)));
}

/// utime + stime + cutime + cstime of every process whose parent is `root` now (a child that
/// exits while /proc is read is skipped; the caller sees it in the root's cutime instead).
unsigned long long live_children_ticks(pid_t root) {
  unsigned long long total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto s = stat_of(static_cast<pid_t>(std::stol(name)));
    if (s && s->parent == root) total += s->own + s->children;
  }
  return total;
}

}  // namespace

std::optional<std::chrono::microseconds> process_cpu_time(const std::vector<pid_t>& pids) {
  unsigned long long total = 0;
  for (const pid_t pid : pids) {
    const auto s = stat_of(pid);
    if (!s) return std::nullopt;
    total += s->own;
  }
  return from_ticks(total);
}

std::optional<std::chrono::microseconds> process_tree_cpu_time(const std::vector<pid_t>& roots) {
  unsigned long long total = 0;
  for (const pid_t root : roots) {
    // A child that exits and is waited for between reading the root and reading the children
    // would count twice (in the children's sum and in the root's cutime) or not at all: read the
    // root before and after the children and try again when its cutime moved in between.
    bool steady = false;
    for (int attempt = 0; attempt < 8 && !steady; ++attempt) {
      const auto before = stat_of(root);
      if (!before) return std::nullopt;
      const auto children = live_children_ticks(root);
      const auto after = stat_of(root);
      if (!after) return std::nullopt;
      steady = after->children == before->children;
      if (steady || attempt == 7) total += after->own + after->children + children;
    }
  }
  return from_ticks(total);
}

}  // namespace sluis::bench
