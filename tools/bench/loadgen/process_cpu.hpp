// CPU time used by other processes (the server under test), read from /proc, so a benchmark can
// report CPU per request: a figure the load of other jobs on a shared machine barely moves.
#pragma once

#include <chrono>
#include <optional>
#include <sys/types.h>
#include <vector>

namespace sluis::bench {

/// User + system CPU time that the processes `pids` (every thread of each) have used so far, from
/// /proc/PID/stat. nullopt when any of them cannot be read (gone, or not ours to read): a figure
/// that silently left a process out would understate the cost.
[[nodiscard]] std::optional<std::chrono::microseconds> process_cpu_time(
    const std::vector<pid_t>& pids);

}  // namespace sluis::bench
