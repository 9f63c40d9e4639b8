// Reads utime and stime of processes from /proc/PID/stat (proc(5)).
#include "process_cpu.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace sluis::bench {

namespace {

/// utime + stime of one process in clock ticks, or nullopt.
std::optional<unsigned long long> ticks_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // Field 2 (comm) is in parentheses and may hold spaces: the fields after it start after the
  // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after comm.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(rest >> field)) return std::nullopt;
    try {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return utime + stime;
}

}  // namespace

std::optional<std::chrono::microseconds> process_cpu_time(const std::vector<pid_t>& pids) {
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  unsigned long long total = 0;
  for (const pid_t pid : pids) {
    const auto t = ticks_of(pid);
    if (!t) return std::nullopt;
    total += *t;
  }
  return std::chrono::microseconds(static_cast<long long>(total * 1'000'000ULL /
                                                          static_cast<unsigned long long>(hz)));
}

}  // namespace sluis::bench
