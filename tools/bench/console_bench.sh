#!/usr/bin/env bash
# Issue 14's console targets, measured side by side in one run (a benchmark, never a test):
# the CPU of one console page showing a 20-fragment dossier (sluis-console + sluisd) against the
# sluisd CPU of the /v1 dossier read behind it, and the console's RSS with 200 signed-in
# sessions. Builds a small synthetic sector with sluis-dataset, starts sluisd and sluis-console
# from the build, signs in through the real WebAuthn ceremonies with a software authenticator
# (tools/bench/console_bench.mjs) and prints a table for docs/performance.md.
#
#   tools/bench/console_bench.sh [--build DIR] [--page PATH] [--requests N] [--sessions N]
#
# Defaults: build/release; the worker's client page /clients/{client}?purpose=care-coordination
# ({client} is the reading partner's pseudonym); 1000 requests each way, in ten alternating blocks
# (the direct read, then the page), each after 5 of warm-up;
# 200 sessions. Needs node (>= 18) and the release build of sluisd, sluisctl, sluis-console and
# sluis-dataset. Every process it starts is stopped when it ends, however it ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
PAGE="/clients/{client}?purpose=care-coordination"
REQUESTS=1000
SESSIONS=200
die() { echo "console_bench: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --help|-h) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --build) BUILD="$(cd "$2" && pwd)"; shift 2 ;;
    --page) PAGE="$2"; shift 2 ;;
    --requests) [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--requests needs a whole number, not '$2'"; REQUESTS="$2"; shift 2 ;;
    --sessions) [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--sessions needs a whole number, not '$2'"; SESSIONS="$2"; shift 2 ;;
    *) die "unknown option $1; see --help" ;;
  esac
done
CTL="$BUILD/tools/sluisctl/sluisctl"
SLUISD="$BUILD/gateway/main/sluisd"
CONSOLE="$BUILD/console/sluis-console"
DATASET="$BUILD/tools/bench/sluis-dataset"
for b in "$CTL" "$SLUISD" "$CONSOLE" "$DATASET"; do
  [[ -x "$b" ]] || die "$b is missing; build it first (cmake --build $BUILD --target sluisd sluisctl sluis-console sluis-dataset)"
done
command -v node >/dev/null || die "node is missing; run ./tools/setup.sh deps"

T="$(mktemp -d)"
chmod 700 "$T"
SLUISD_PID="" CONSOLE_PID=""
cleanup() {
  [[ -n "$CONSOLE_PID" ]] && kill -TERM "$CONSOLE_PID" 2>/dev/null && wait "$CONSOLE_PID" 2>/dev/null || true
  [[ -n "$SLUISD_PID" ]] && kill -TERM "$SLUISD_PID" 2>/dev/null && wait "$SLUISD_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

"$CTL" init --home "$T/gw" --raw-key --port 0 --metrics-port 0 >/dev/null
"$DATASET" --home "$T/gw" --partners 8 --workers 16 --clients 400 --fragments 10 \
  --read-fragments 20 >"$T/dataset.txt"
sed -i -e "s|^destination = .*|destination = \"$T/sluisd.log\"|" -e "s|^enabled = true|enabled = false|" \
  "$T/gw/sluis.toml"
read -r _ PARTNER WORKER CLIENT FRAGMENTS < <(grep -m1 -P '^read\t.*\t20$' "$T/gw/workload.tsv")
[[ -n "${CLIENT:-}" ]] || die "the generated sector has no 20-fragment read client"

"$SLUISD" --config "$T/gw/sluis.toml" --port-file "$T/port" >"$T/sluisd.out" 2>&1 &
SLUISD_PID=$!
for _ in $(seq 1 200); do [[ -s "$T/port" ]] && break; sleep 0.05; done
[[ -s "$T/port" ]] || { cat "$T/sluisd.out" >&2; die "sluisd did not start"; }
GPORT="$(cat "$T/port")"

CPORT="$(free_port)"
"$CONSOLE" init --home "$T/console" --port "$CPORT" --gateway-home "$T/gw" --gateway-port "$GPORT" \
  --partner "$PARTNER" >/dev/null
"$CONSOLE" serve --config "$T/console/console.toml" >"$T/console.log" 2>&1 &
CONSOLE_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://localhost:$CPORT/login" && break
  kill -0 "$CONSOLE_PID" 2>/dev/null || { cat "$T/console.log" >&2; die "the console did not start"; }
  sleep 0.1
done

echo "console_bench: partner $PARTNER, worker $WORKER, a client with $FRAGMENTS fragments; $REQUESTS requests each way, $SESSIONS sessions" >&2
CONSOLE_ORIGIN="http://localhost:$CPORT" CONSOLE_PID="$CONSOLE_PID" SLUISD_PID="$SLUISD_PID" \
  CONSOLE_PAGE="$PAGE" CONSOLE_BIN="$CONSOLE" CONSOLE_CONFIG="$T/console/console.toml" \
  PARTNER="$PARTNER" WORKER="$WORKER" CLIENT="$CLIENT" PURPOSE="care-coordination" \
  GATEWAY_PORT="$GPORT" GATEWAY_CA="$T/gw/tls/ca.crt" \
  PARTNER_CERT="$T/gw/partners/$PARTNER/$PARTNER.crt" PARTNER_KEY="$T/gw/partners/$PARTNER/$PARTNER.key" \
  BENCH_REQUESTS="$REQUESTS" BENCH_SESSIONS="$SESSIONS" \
  node "$ROOT/tools/bench/console_bench.mjs" || { echo "--- console log" >&2; tail -20 "$T/console.log" >&2; exit 1; }
