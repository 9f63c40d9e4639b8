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

/// CPU time of multi-process servers such as a PostgreSQL cluster, one per root in `roots` (its
/// postmaster): the root's own utime + stime, that of every process whose parent it is now (with
/// their own waited-for children), and the root's cutime + cstime, i.e. the children it has
/// already waited for, so a backend that exits between two samples still counts. Only the
/// root's direct children are looked for (a PostgreSQL cluster has no deeper processes).
/// nullopt when a root cannot be read.
[[nodiscard]] std::optional<std::chrono::microseconds> process_tree_cpu_time(
    const std::vector<pid_t>& roots);

}  // namespace sluis::bench
