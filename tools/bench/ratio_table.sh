#!/usr/bin/env bash
# Runs a Google Benchmark program and prints a Markdown table of medians, pairing every
# "<name>/sluis" with "<name>/raw" (or "<name>/nginx") and showing the ratio sluis/raw.
#
#   tools/bench/ratio_table.sh BENCH_BINARY [extra benchmark args...]
#
# Medians of 5 repetitions, each run in the same process one after the other, so the ratio is
# measured side by side on the same (shared, noisy) machine.
set -euo pipefail
bin="$1"
shift
"$bin" --benchmark_format=csv --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  "$@" 2>/dev/null | awk -F, '
  /_median"?,/ {
    name = $1; gsub(/"/, "", name); sub(/_median$/, "", name);
    t = $4; unit = $5; gsub(/"/, "", unit);
    if (unit == "us") t *= 1000; else if (unit == "ms") t *= 1e6; else if (unit == "s") t *= 1e9;
    order[++n] = name; ns[name] = t;
  }
  END {
    print "| benchmark | median ns/op | baseline ns/op | ratio |";
    print "|---|---:|---:|---:|";
    for (i = 1; i <= n; i++) {
      name = order[i];
      if (name ~ /\/(raw|nginx)$/) continue;
      base = name; sub(/\/sluis$/, "", base);
      b = ""; r = "";
      if (name ~ /\/sluis$/) {
        if ((base "/raw") in ns) b = ns[base "/raw"];
        else if ((base "/nginx") in ns) b = ns[base "/nginx"];
      }
      if (b != "" && b > 0) r = sprintf("%.2f×", ns[name] / b);
      printf "| %s | %.1f | %s | %s |\n", base, ns[name], (b == "" ? "" : sprintf("%.1f", b)), r;
    }
  }'
