// What a run measured, as text for a person and JSON for the baseline script.
#pragma once

#include "driver.hpp"

#include <string>

namespace sluis::bench {

/// Latency summary of a set of samples, in milliseconds (nearest-rank percentiles).
struct LatencySummary {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

/// Summarises the samples of one operation kind (or all, when `op` is empty).
[[nodiscard]] LatencySummary summarise(const RunResult& result, std::optional<OpKind> op);

/// A few lines: requests, errors by kind, throughput, latency percentiles, per operation.
[[nodiscard]] std::string text_report(const RunPlan& plan, const RunResult& result,
                                      const std::string& workload_name);

/// The same as one JSON object (keys in docs/performance.md, issue 6, "Commands").
[[nodiscard]] std::string json_report(const RunPlan& plan, const RunResult& result,
                                      const std::string& workload_name);

}  // namespace sluis::bench
