#!/usr/bin/env bash
# Runs a Google Benchmark program and prints a Markdown table of medians, pairing every
# "<name>/sluis" with "<name>/raw" (or "<name>/nginx") and showing the ratio sluis/raw.
#
#   tools/bench/ratio_table.sh BENCH_BINARY [extra benchmark args...]
#
# Medians of 5 repetitions of CPU time per operation, every benchmark run in the same process one
# after the other, so each ratio is measured side by side on the same (shared, noisy) machine.
set -euo pipefail
bin="$1"
shift
"$bin" --benchmark_format=json --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  "$@" 2>/dev/null | awk '
  function val(line) { sub(/^[^:]*: */, "", line); gsub(/[",]/, "", line); return line }
  /"run_name":/ { name = val($0) }
  /"aggregate_name":/ { agg = val($0) }
  /"cpu_time":/ { cpu = val($0) + 0 }
  /"time_unit":/ {
    unit = val($0)
    if (agg == "median") {
      t = cpu
      if (unit == "us") t *= 1000; else if (unit == "ms") t *= 1e6; else if (unit == "s") t *= 1e9
      if (!(name in ns)) order[++n] = name
      ns[name] = t
    }
  }
  END {
    print "| benchmark | median CPU ns/op | baseline ns/op | ratio |"
    print "|---|---:|---:|---:|"
    for (i = 1; i <= n; i++) {
      name = order[i]
      if (name ~ /\/(raw|nginx)$/) continue
      base = name; sub(/\/sluis$/, "", base)
      b = ""; r = ""
      if (name ~ /\/sluis$/) {
        if ((base "/raw") in ns) b = ns[base "/raw"]
        else if ((base "/nginx") in ns) b = ns[base "/nginx"]
      }
      if (b != "" && b > 0) r = sprintf("%.2f×", ns[name] / b)
      printf "| %s | %.1f | %s | %s |\n", base, ns[name], (b == "" ? "" : sprintf("%.1f", b)), r
    }
  }'
