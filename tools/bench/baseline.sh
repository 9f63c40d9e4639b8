#!/usr/bin/env bash
# Issue 6 in one go: builds a synthetic sector, runs sluisd and nginx side by side under the same
# load generator, and prints (and writes) the tables of docs/performance.md with the ratios
# sluis/nginx for throughput and p99.
#
#   tools/bench/baseline.sh [--build DIR] [--out DIR] [--sizes N[,N...]] [--partners N]
#                           [--workers N] [--fragments N] [--connections N] [--duration S]
#                           [--warmup S] [--idle-connections N] [--handler-threads N]
#                           [--homes DIR] [--sluisd FILE] [--tiny] [--keep]
#
# Defaults (CI-sized): build/release, 200 partners, 500 workers, 10 000 clients with 10 fragments
# each (20 for the read workload's clients), 64 connections, 10 s per workload after 2 s of
# warm-up, 1 000 connections for the memory measurement, sluisd with its default configuration
# (--handler-threads N overrides [server] handler_threads; 0 = sluisd's default, 16 per core).
# --sizes 10000,1000000 also runs the read workload at every further client count (one home per
# size) for the latency-growth table. --homes DIR keeps the generated gateway homes in DIR and
# reuses one whose sector parameters match (a 1 000 000-client home takes long to generate; the
# workloads add their own fragments, consents and audit events to it). --sluisd FILE measures that
# sluisd binary instead of the build's (two builds compared in one session). --tiny is the test suite's
# smoke run (seconds, not numbers). Every process this script starts is stopped when it ends, however it ends. Needs
# nginx (Debian's nginx-light, from setup.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
OUT=""
SIZES="10000"
PARTNERS=200
WORKERS=500
FRAGMENTS=10
CONNECTIONS=64
DURATION=10
WARMUP=2
IDLE=1000
IDLE_SECONDS=6
IDLE_WARMUP=10
HANDLERS=0
HOMES=""
SLUISD_BIN=""
KEEP=0

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "baseline: $*" >&2; exit 2; }
number() { [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 needs a number, not '$2'"; }

while [[ $# -gt 0 ]]; do
  opt="$1"
  case "$opt" in
    --help|-h) usage; exit 0 ;;
    --keep) KEEP=1; shift; continue ;;
    --tiny)
      SIZES=1000; PARTNERS=16; WORKERS=32; FRAGMENTS=2; DURATION=1.5; WARMUP=0.3; IDLE=200
      IDLE_SECONDS=2; IDLE_WARMUP=3
      shift; continue ;;
    --build|--out|--sizes|--partners|--workers|--fragments|--connections|--duration|--warmup) ;;
    --idle-connections|--handler-threads|--homes|--sluisd) ;;
    *) die "unknown option $opt; see --help" ;;
  esac
  [[ $# -ge 2 ]] || die "$opt needs a value; see --help"
  val="$2"
  case "$opt" in
    --build) BUILD="$(cd "$val" 2>/dev/null && pwd)" || die "--build $val is not a directory" ;;
    --out) OUT="$val" ;;
    --sizes) [[ "$val" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sizes takes client counts like 10000,1000000"
             SIZES="$val" ;;
    --partners) number "$opt" "$val"; PARTNERS="$val" ;;
    --workers) number "$opt" "$val"; WORKERS="$val" ;;
    --fragments) number "$opt" "$val"; FRAGMENTS="$val" ;;
    --connections) number "$opt" "$val"; CONNECTIONS="$val" ;;
    --duration) number "$opt" "$val"; DURATION="$val" ;;
    --warmup) number "$opt" "$val"; WARMUP="$val" ;;
    --idle-connections) number "$opt" "$val"; IDLE="$val" ;;
    --handler-threads) number "$opt" "$val"; HANDLERS="$val" ;;
    --homes) mkdir -p "$val" && HOMES="$(cd "$val" && pwd)" || die "cannot create --homes $val" ;;
    --sluisd) [[ -x "$val" ]] || die "--sluisd $val is not an executable"
              SLUISD_BIN="$(cd "$(dirname "$val")" && pwd)/$(basename "$val")" ;;
    *) die "unknown option $opt; see --help" ;;
  esac
  shift 2
done

# shellcheck source=tools/bench/bench_common.sh
source "$ROOT/tools/bench/bench_common.sh"  # stop_pid, jnum, jlat, now_ns, port_open, launch_sluisd
find_binaries  # CTL, SLUISD, DATASET, LOADGEN
NGINX="$(command -v nginx || true)"
[[ -z "$NGINX" && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
[[ -n "$NGINX" ]] || die "nginx is not installed; run ./tools/setup.sh deps (Debian's nginx-light)"

OUT="${OUT:-$BUILD/bench-baseline}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluis-baseline.XXXXXX")"
SLUISD_PID=""
NGINX_PID=""
LOAD_PID=""

cleanup() {
  stop_pid "$LOAD_PID"
  stop_pid "$SLUISD_PID"
  stop_pid "$NGINX_PID"
  if [[ "$KEEP" == 1 ]]; then echo "baseline: work files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1 000 connections need more descriptors than the usual 1 024 (sluisd and loadgen both inherit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((IDLE + 256)) ]]; then
  die "--idle-connections $IDLE needs $((IDLE + 256)) open files; the limit here is $(ulimit -n)"
fi

say() { echo "baseline: $*" >&2; }
jerrors() { jnum "$1" errors; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# make_home SIZE: a gateway home with SIZE clients in $HOMES (reused when its sector parameters
# match) or in the work directory; the dataset generator's report goes to dataset-SIZE.txt.
home_of() { echo "${HOMES:-$WORK}/home-$1"; }
make_home() {
  local size="$1" home params
  home="$(home_of "$size")"
  params="partners=$PARTNERS workers=$WORKERS clients=$size fragments=$FRAGMENTS"
  if [[ -n "$HOMES" && -f "$home/sector.txt" && "$(cat "$home/sector.txt")" == "$params" ]]; then
    say "reusing $home ($params)"
    cp "$home/dataset.txt" "$WORK/dataset-$size.txt"
  else
    rm -rf "$home"
    "$CTL" init --home "$home" --raw-key --port 0 --metrics-port 0 >/dev/null
    "$DATASET" --home "$home" --partners "$PARTNERS" --workers "$WORKERS" --clients "$size" \
      --fragments "$FRAGMENTS" >"$home/dataset.txt"
    echo "$params" >"$home/sector.txt"
    cp "$home/dataset.txt" "$WORK/dataset-$size.txt"
  fi
  du -sk "$home/data" | cut -f1 >"$WORK/datasize-$size.txt"
  configure_home "$home" "$size"
}

# configure_home HOME SIZE: log to a file (every request is logged, as in production), room for the
# idle connections, the handler threads asked for, no metrics listener.
configure_home() {
  local home="$1" size="$2"
  sed -i -e "s|^destination = .*|destination = \"$WORK/sluisd-$size.log\"|" \
         -e "s|^max_connections = .*|max_connections = $((IDLE + CONNECTIONS + 64))|" \
         -e "s|^handler_threads = .*|handler_threads = $HANDLERS|" \
         -e "s|^enabled = true|enabled = false|" "$home/sluis.toml"
}

# start_sluisd SIZE: starts sluisd on a free port; sets PORT and STARTUP_MS (exec to port file:
# configuration, raw key, store, audit log, rule pack, listening socket).
start_sluisd() {
  launch_sluisd "$SLUISD" "$(home_of "$1")/sluis.toml" "$WORK/port" "$WORK/sluisd-$1.err"
  SLUISD_PID="$LAUNCHED_PID"
  STARTUP_MS="$LAUNCHED_MS"
  PORT="$LAUNCHED_PORT"
}

# load NAME WORKLOAD [args...]: one sluis-loadgen run against sluisd, JSON into $OUT/NAME.json
# ($LOAD_CONNECTIONS connections when set, else $CONNECTIONS).
load() {
  local name="$1" workload="$2"; shift 2
  local connections="${LOAD_CONNECTIONS:-$CONNECTIONS}"
  say "sluis: $workload, $connections connections, ${DURATION} s"
  "$LOADGEN" --port "$PORT" --ca "$HOME_DIR/tls/ca.crt" --workload "$workload" \
    --workload-file "$HOME_DIR/workload.tsv" --connections "$connections" --duration "$DURATION" \
    --warmup "$WARMUP" --server-pid "$SLUISD_PID" --json "$OUT/$name.json" "$@" >"$OUT/$name.txt"
  cat "$OUT/$name.txt" >&2
  [[ -n "$(jnum "$OUT/$name.json" server_cpu_us_per_request)" ]] ||
    die "sluis-loadgen could not read sluisd's CPU time (/proc/$SLUISD_PID/stat) during $name"
}

HANDLERS_TEXT="$HANDLERS"
[[ "$HANDLERS" == 0 ]] && HANDLERS_TEXT="default, 16 per core"
# --- the sluis side, for every size ------------------------------------------------------------
IFS=',' read -r -a SIZE_LIST <<<"$SIZES"
MAIN="${SIZE_LIST[0]}"
declare -A STARTUP RSS_START RSS_READ
for size in "${SIZE_LIST[@]}"; do
  say "generating a sector with $size clients ($PARTNERS partners, $WORKERS workers, $FRAGMENTS fragments per client)"
  make_home "$size"
  grep -E 'fragments|done in' "$WORK/dataset-$size.txt" | grep -v "clients' fragments" >&2 || true
  cp "$WORK/dataset-$size.txt" "$OUT/dataset-$size.txt"
  HOME_DIR="$(home_of "$size")"
  start_sluisd "$size"
  STARTUP[$size]="$STARTUP_MS"
  RSS_START[$size]="$(rss_kib "$SLUISD_PID")"
  say "sluisd with $size clients listening on port $PORT after $STARTUP_MS ms"
  if [[ "$size" == "$MAIN" ]]; then
    load "read-$size" read --save-response "$WORK/dossier.json"
    [[ -s "$WORK/dossier.json" ]] || die "no dossier read succeeded; see $OUT/read-$size.txt"
    for w in write consent mix; do load "$w-$size" "$w"; done
    RSS_LOADED="$(rss_kib "$SLUISD_PID")"
    # Memory with IDLE open connections, each sending one read every ten seconds (well below
    # capacity, so requests do not queue).
    # The warm-up covers opening all of them (a TLS handshake each).
    say "sluis: $IDLE connections at 0.1 requests/s each for $((IDLE_SECONDS + IDLE_WARMUP)) s (memory)"
    "$LOADGEN" --port "$PORT" --ca "$HOME_DIR/tls/ca.crt" --workload read \
      --workload-file "$HOME_DIR/workload.tsv" --connections "$IDLE" --rate 0.1 --duration "$IDLE_SECONDS" \
      --warmup "$IDLE_WARMUP" --timeout-ms 30000 --json "$OUT/idle-$size.json" >"$OUT/idle-$size.txt" &
    LOAD_PID=$!
    RSS_PEAK=0
    while kill -0 "$LOAD_PID" 2>/dev/null; do
      r="$(rss_kib "$SLUISD_PID")"; (( r > RSS_PEAK )) && RSS_PEAK="$r"
      sleep 0.25
    done
    wait "$LOAD_PID" || die "the load generator failed during the memory run; see $OUT/idle-$size.txt"
    LOAD_PID=""
    cat "$OUT/idle-$size.txt" >&2
    RSS_HWM="$(hwm_kib "$SLUISD_PID")"
  else
    load "read-$size" read
  fi
  # The same reads one at a time: the service time of a read, without the queueing that 64
  # concurrent connections add on this 2-core machine.
  LOAD_CONNECTIONS=1 load "read1-$size" read
  # ... and with the client acknowledging at once: the server's own service time, without the
  # 40 ms Nagle/delayed-ACK stall (docs/performance.md, "Where the time of a dossier read goes").
  LOAD_CONNECTIONS=1 load "read1q-$size" read --quick-ack
  RSS_READ[$size]="$(rss_kib "$SLUISD_PID")"
  stop_pid "$SLUISD_PID"
  SLUISD_PID=""
  [[ "$size" == "$MAIN" || -n "$HOMES" ]] || rm -rf "$HOME_DIR"  # free the disk at once
done

# --- the nginx side: the same bytes as one real dossier response, over TLS 1.3 with a required
# client certificate from the same CA, driven by the same load generator -------------------------
HOME_DIR="$(home_of "$MAIN")"
NG="$WORK/nginx"
mkdir -p "$NG/www" "$NG/tmp" "$NG/logs"
cp "$WORK/dossier.json" "$NG/www/dossier.json"
PARTNER="$(awk -F'\t' '$1 == "partner" {print $2; exit}' "$HOME_DIR/workload.tsv")"
CERT="$HOME_DIR/partners/$PARTNER/$PARTNER.crt"
KEY="$HOME_DIR/partners/$PARTNER/$PARTNER.key"
USER_LINE=""
[[ "$(id -u)" == 0 ]] && USER_LINE="user root;"  # workers must read the 0700 work directory
NGINX_PORT=""
for attempt in 1 2 3 4 5 6 7 8; do
  p=$(( 20000 + (RANDOM % 20000) ))
  port_open "$p" && continue
  cat >"$NG/nginx.conf" <<EOF
# Generated by tools/bench/baseline.sh: the static baseline for sluis's dossier read.
$USER_LINE
worker_processes auto;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections $((IDLE + 1024)); }
http {
  access_log $NG/logs/access.log;
  client_body_temp_path $NG/tmp;
  keepalive_requests 1000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$p ssl;
    ssl_certificate $HOME_DIR/tls/server.crt;
    ssl_certificate_key $HOME_DIR/tls/server.key;
    ssl_protocols TLSv1.3;
    ssl_client_certificate $HOME_DIR/tls/ca.crt;
    ssl_verify_client on;
    root $NG/www;
    location = /dossier.json { default_type application/json; }
  }
}
EOF
  "$NGINX" -p "$NG" -e "$NG/logs/error.log" -c "$NG/nginx.conf" >"$NG/logs/stderr.log" 2>&1 &
  NGINX_PID=$!
  for i in $(seq 1 100); do
    port_open "$p" && { NGINX_PORT="$p"; break; }
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n "$NGINX_PORT" ]] && break
  stop_pid "$NGINX_PID"; NGINX_PID=""
done
[[ -n "$NGINX_PORT" ]] || { cat "$NG/logs/stderr.log" "$NG/logs/error.log" >&2 2>/dev/null; die "nginx did not start"; }
say "nginx: static $(wc -c <"$NG/www/dossier.json") bytes, $CONNECTIONS connections, ${DURATION} s"
# nginx's CPU is its master's and every worker's (the workers do the work).
NGINX_PIDS="$NGINX_PID"
for w in $(pgrep -P "$NGINX_PID" || true); do NGINX_PIDS="$NGINX_PIDS,$w"; done
"$LOADGEN" --port "$NGINX_PORT" --ca "$HOME_DIR/tls/ca.crt" --workload static --path /dossier.json \
  --cert "$CERT" --key "$KEY" --connections "$CONNECTIONS" --duration "$DURATION" \
  --server-pid "$NGINX_PIDS" \
  --warmup "$WARMUP" --json "$OUT/nginx-$MAIN.json" >"$OUT/nginx-$MAIN.txt"
cat "$OUT/nginx-$MAIN.txt" >&2
[[ -n "$(jnum "$OUT/nginx-$MAIN.json" server_cpu_us_per_request)" ]] ||
  die "sluis-loadgen could not read nginx's CPU time (processes $NGINX_PIDS)"
stop_pid "$NGINX_PID"
NGINX_PID=""

# --- the tables ---------------------------------------------------------------------------------
# cpu FILE: the server's CPU µs per request over the run (sluis-loadgen --server-pid), rounded.
cpu() { awk -v c="$(jnum "$1" server_cpu_us_per_request)" 'BEGIN { if (c == "") print "n/a"; else printf "%.0f", c }'; }
row() {  # row LABEL JSON
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(jnum "$2" throughput_rps)" \
    "$(cpu "$2")" "$(jlat "$2" p50)" "$(jlat "$2" p90)" "$(jlat "$2" p99)" "$(jlat "$2" max)" \
    "$(jerrors "$2")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
R="$OUT/read-$MAIN.json"
N="$OUT/nginx-$MAIN.json"
{
  echo "### Dossier read against nginx ($MAIN clients, $CONNECTIONS connections, ${DURATION} s each, sluisd handler_threads = $HANDLERS_TEXT)"
  echo
  echo "| server and workload | throughput req/s | server CPU µs/request | p50 ms | p90 ms | p99 ms | max ms | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  row "sluis: dossier read ($(jnum "$R" response_bytes_mean | cut -d. -f1) bytes)" "$R"
  row "nginx: static file of the same size" "$N"
  echo
  echo "| ratio sluis/nginx | throughput | p99 | server CPU per request |"
  echo "|---|---:|---:|---:|"
  echo "| dossier read / static file | $(ratio "$(jnum "$R" throughput_rps)" "$(jnum "$N" throughput_rps)") | $(ratio "$(jlat "$R" p99)" "$(jlat "$N" p99)") | $(ratio "$(jnum "$R" server_cpu_us_per_request)" "$(jnum "$N" server_cpu_us_per_request)") |"
  echo
  echo "### sluis workloads ($MAIN clients, $CONNECTIONS connections, ${DURATION} s each)"
  echo
  echo "| workload | throughput req/s | sluisd CPU µs/request | p50 ms | p90 ms | p99 ms | max ms | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  row "read (20 fragments × 5 fields, consent-checked, audited)" "$OUT/read-$MAIN.json"
  row "write (one fragment, 5 fields)" "$OUT/write-$MAIN.json"
  row "consent grant + revoke (two requests)" "$OUT/consent-$MAIN.json"
  row "mix (90 % read, 5 % write, 5 % consent)" "$OUT/mix-$MAIN.json"
  echo
  echo "### Memory and start-up"
  echo
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| sluisd RSS after start-up ($MAIN clients) | $(mib "${RSS_START[$MAIN]}") MiB |"
  echo "| sluisd RSS after the workloads above | $(mib "$RSS_LOADED") MiB |"
  echo "| sluisd RSS, peak with $IDLE open connections | $(mib "$RSS_PEAK") MiB |"
  echo "| sluisd VmHWM (peak over its whole run) | $(mib "$RSS_HWM") MiB |"
  echo "| requests answered during the $IDLE-connection run (errors) | $(jnum "$OUT/idle-$MAIN.json" ok) ($(jerrors "$OUT/idle-$MAIN.json")) |"
  for size in "${SIZE_LIST[@]}"; do
    echo "| start-up, exec to listening (raw key), $size clients | ${STARTUP[$size]} ms |"
  done
  echo
  growth() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.0f %%", (a / b - 1) * 100; else print "n/a" }'; }
  echo "### Dossier read latency against the number of clients"
  echo
  echo "One connection (service time of a read, nothing queued):"
  echo
  echo "| clients | data dir MiB | dataset load s | start-up ms | RSS MiB after start-up / after reads | read req/s | sluisd CPU µs/read | p50 ms | p90 ms | p99 ms | p50 vs first | p99 vs first |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for size in "${SIZE_LIST[@]}"; do
    f="$OUT/read1-$size.json"
    first="$OUT/read1-$MAIN.json"
    load_s="$(sed -n 's/.*done in \([0-9.]*\) s.*/\1/p' "$OUT/dataset-$size.txt")"
    echo "| $size | $(mib "$(cat "$WORK/datasize-$size.txt")") | $load_s | ${STARTUP[$size]} | $(mib "${RSS_START[$size]}") / $(mib "${RSS_READ[$size]}") | $(jnum "$f" throughput_rps) | $(cpu "$f") | $(jlat "$f" p50) | $(jlat "$f" p90) | $(jlat "$f" p99) | $(growth "$(jlat "$f" p50)" "$(jlat "$first" p50)") | $(growth "$(jlat "$f" p99)" "$(jlat "$first" p99)") |"
  done
  echo
  echo "One connection, the client acknowledging at once (sluis-loadgen --quick-ack):"
  echo
  echo "| clients | read req/s | p50 ms | p90 ms | p99 ms | p50 vs first | p99 vs first |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for size in "${SIZE_LIST[@]}"; do
    f="$OUT/read1q-$size.json"
    first="$OUT/read1q-$MAIN.json"
    echo "| $size | $(jnum "$f" throughput_rps) | $(jlat "$f" p50) | $(jlat "$f" p90) | $(jlat "$f" p99) | $(growth "$(jlat "$f" p50)" "$(jlat "$first" p50)") | $(growth "$(jlat "$f" p99)" "$(jlat "$first" p99)") |"
  done
  echo
  echo "$CONNECTIONS connections:"
  echo
  echo "| clients | read req/s | sluisd CPU µs/read | p50 ms | p90 ms | p99 ms | req/s vs first | p50 vs first | p99 vs first |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for size in "${SIZE_LIST[@]}"; do
    f="$OUT/read-$size.json"
    first="$OUT/read-$MAIN.json"
    echo "| $size | $(jnum "$f" throughput_rps) | $(cpu "$f") | $(jlat "$f" p50) | $(jlat "$f" p90) | $(jlat "$f" p99) | $(growth "$(jnum "$f" throughput_rps)" "$(jnum "$first" throughput_rps)") | $(growth "$(jlat "$f" p50)" "$(jlat "$first" p50)") | $(growth "$(jlat "$f" p99)" "$(jlat "$first" p99)") |"
  done
} >"$OUT/results.md"
cat "$OUT/results.md"
say "tables in $OUT/results.md; every run's JSON and text next to it"
