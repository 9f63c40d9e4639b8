#!/usr/bin/env bash
# Two sluisd binaries side by side on one gateway home, alternating (a benchmark, never a test):
# the dossier read at 64 and at 1 connection, and GET /v1/partners (the transport's floor) at 1
# and 16 connections, each run's sluisd CPU µs per request from /proc (sluis-loadgen
# --server-pid). One line per binary per round.
#
#   tools/bench/ab_sluisd.sh --home DIR --before BIN --after BIN [--build DIR] [--rounds N]
#                            [--duration S]
#
# DIR is a home made by tools/bench/baseline.sh --homes D (D/home-10000) or by sluisctl init +
# sluis-dataset (it needs workload.tsv); its sluis.toml is changed to log into a scratch directory
# and to serve no metrics. Defaults: build/release's sluis-loadgen, 2 rounds, 6 s per run after 1 s
# of warm-up. The reads add audit events to the home. Every sluisd it starts is stopped when it
# ends, however it ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
HOME_DIR="" BEFORE="" AFTER="" ROUNDS=2 DURATION=6
die() { echo "ab_sluisd: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --help|-h) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --home) HOME_DIR="$(cd "$2" 2>/dev/null && pwd)" || die "--home $2 is not a directory"; shift 2 ;;
    --before) [[ -x "$2" ]] || die "--before $2 is not an executable"; BEFORE="$2"; shift 2 ;;
    --after) [[ -x "$2" ]] || die "--after $2 is not an executable"; AFTER="$2"; shift 2 ;;
    --build) BUILD="$(cd "$2" 2>/dev/null && pwd)" || die "--build $2 is not a directory"; shift 2 ;;
    --rounds) [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a whole number, not '$2'"; ROUNDS="$2"; shift 2 ;;
    --duration) [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--duration needs seconds, not '$2'"; DURATION="$2"; shift 2 ;;
    *) die "unknown option $1; see --help" ;;
  esac
done
[[ -n "$HOME_DIR" && -n "$BEFORE" && -n "$AFTER" ]] || die "--home, --before and --after are required; see --help"
[[ -f "$HOME_DIR/workload.tsv" ]] || die "$HOME_DIR has no workload.tsv; make it with baseline.sh --homes or sluis-dataset"
LOADGEN="$BUILD/tools/bench/sluis-loadgen"
[[ -x "$LOADGEN" ]] || die "$LOADGEN is missing; build it first (cmake --build $BUILD --target sluis-loadgen)"
read -r _ PARTNER CERT KEY < <(grep -m1 -P '^partner\t' "$HOME_DIR/workload.tsv")
read -r _ _ WORKER _ < <(grep -m1 -P "^read\t$PARTNER\t" "$HOME_DIR/workload.tsv")
[[ -n "${WORKER:-}" ]] || die "no read line for partner $PARTNER in workload.tsv"

W="$(mktemp -d)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
sed -i -e "s|^destination = .*|destination = \"$W/sluisd.log\"|" -e "s|^enabled = true|enabled = false|" \
  "$HOME_DIR/sluis.toml"

cpu_of() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1])).get('server_cpu_us_per_request', 0)))" "$1"; }

run() {  # NAME BINARY
  rm -f "$W/port"
  "$2" --config "$HOME_DIR/sluis.toml" --port-file "$W/port" >"$W/sluisd.err" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do [[ -s "$W/port" ]] && break; sleep 0.05; done
  [[ -s "$W/port" ]] || { cat "$W/sluisd.err" >&2; die "$2 did not start"; }
  local port line
  port="$(cat "$W/port")"
  line="$1 (load $(cut -d' ' -f1 /proc/loadavg))"
  for spec in "read 64" "read 1" "static 1" "static 16"; do
    set -- $spec
    local extra=(--workload-file "$HOME_DIR/workload.tsv")
    [[ "$1" == static ]] && extra=(--cert "$CERT" --key "$KEY" --path /v1/partners --worker "$WORKER")
    "$LOADGEN" --port "$port" --ca "$HOME_DIR/tls/ca.crt" --workload "$1" "${extra[@]}" \
      --connections "$2" --duration "$DURATION" --warmup 1 --server-pid "$PID" \
      --json "$W/run.json" >"$W/run.txt" 2>&1 || { cat "$W/run.txt" >&2; die "sluis-loadgen failed"; }
    local label="$1/$2"
    [[ "$1" == static ]] && label="partners/$2"
    line="$line | $label $(cpu_of "$W/run.json") us"
  done
  kill -TERM "$PID"; wait "$PID" || true; PID=""
  echo "$line"
}

for _ in $(seq 1 "$ROUNDS"); do
  run after "$AFTER"
  run before "$BEFORE"
done
