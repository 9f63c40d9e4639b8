#!/usr/bin/env bash
# Issue 16's two targets measured: the dossier read on the SQLCipher engine and on PostgreSQL,
# alternating, with the CPU per read of sluisd and of the PostgreSQL cluster; then the audited
# appends and reads on one PostgreSQL node against two nodes of the same gateway.
#
#   tools/bench/engines.sh [--build DIR] [--out DIR] [--partners N] [--workers N] [--clients N]
#                          [--fragments N] [--connections N] [--duration S] [--warmup S]
#                          [--rounds N] [--pool-size N] [--pg-bin DIR] [--sluisd FILE] [--tiny]
#                          [--keep]
#
# Defaults (CI-sized): build/release, 200 partners, 500 workers, 10 000 clients with 10 fragments
# each (20 for the read workload's clients), 64 connections, 10 s per run after 2 s of warm-up,
# 2 rounds of (SQLCipher, PostgreSQL) for the read, sluisd's default configuration (its
# [store] pool_size unless --pool-size). It generates one home, copies it, moves the copy into a
# PostgreSQL 15 cluster it starts in a temporary directory (initdb, pg_ctl; loopback, a free
# port, fsync and synchronous_commit on: durable, as in production) and makes a second node of
# that gateway from a copy of the moved home (its own port, log and operator socket). CPU per
# request: sluisd's from /proc/PID/stat (sluis-loadgen --server-pid), the cluster's as every
# process of its postmaster with the children it has waited for (--database-pid). The database's
# audit_sequence gives the audit events appended per second. Prints the tables of
# docs/performance.md and writes them with every run's JSON and text into --out (default
# BUILD/bench-engines). --tiny is the test suite's smoke run (seconds, not numbers). Every process
# it starts, PostgreSQL included, is stopped when it ends, however it ends. --sluisd FILE measures
# that sluisd binary instead of the build's (a change tried on both engines).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$ROOT/build/release"
OUT=""
PARTNERS=200
WORKERS=500
CLIENTS=10000
FRAGMENTS=10
CONNECTIONS=64
DURATION=10
WARMUP=2
ROUNDS=2
POOL=""
PG_BIN="${SLUIS_PG_BIN:-/usr/lib/postgresql/15/bin}"
KEEP=0
SLUISD_BIN=""
TINY=0
DATASET_EXTRA=()

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "engines: $*" >&2; exit 2; }
say() { echo "engines: $*" >&2; }
number() { [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 needs a number, not '$2'"; }
whole() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a whole number from 1, not '$2'"; }

while [[ $# -gt 0 ]]; do
  opt="$1"
  case "$opt" in
    --help|-h) usage; exit 0 ;;
    --keep) KEEP=1; shift; continue ;;
    --tiny)
      PARTNERS=8; WORKERS=16; CLIENTS=300; FRAGMENTS=2; CONNECTIONS=8; DURATION=0.7; WARMUP=0.3
      ROUNDS=1; TINY=1; DATASET_EXTRA=(--read-clients 20 --read-fragments 3 --fields 2)
      shift; continue ;;
    --build|--out|--partners|--workers|--clients|--fragments|--connections|--duration) ;;
    --warmup|--rounds|--pool-size|--pg-bin|--sluisd) ;;
    *) die "unknown option $opt; see --help" ;;
  esac
  [[ $# -ge 2 ]] || die "$opt needs a value; see --help"
  val="$2"
  case "$opt" in
    --build) BUILD="$(cd "$val" 2>/dev/null && pwd)" || die "--build $val is not a directory" ;;
    --out) OUT="$val" ;;
    --partners) whole "$opt" "$val"; PARTNERS="$val" ;;
    --workers) whole "$opt" "$val"; WORKERS="$val" ;;
    --clients) whole "$opt" "$val"; CLIENTS="$val" ;;
    --fragments) whole "$opt" "$val"; FRAGMENTS="$val" ;;
    --connections) whole "$opt" "$val"; CONNECTIONS="$val" ;;
    --duration) number "$opt" "$val"; DURATION="$val" ;;
    --warmup) number "$opt" "$val"; WARMUP="$val" ;;
    --rounds) whole "$opt" "$val"; ROUNDS="$val" ;;
    --pool-size) whole "$opt" "$val"; POOL="$val" ;;
    --pg-bin) [[ -x "$val/pg_ctl" ]] || die "--pg-bin $val holds no pg_ctl"; PG_BIN="$val" ;;
    --sluisd) [[ -x "$val" ]] || die "--sluisd $val is not an executable"
              SLUISD_BIN="$(cd "$(dirname "$val")" && pwd)/$(basename "$val")" ;;
    *) die "unknown option $opt; see --help" ;;
  esac
  shift 2
done

# shellcheck source=tools/bench/bench_common.sh
source "$ROOT/tools/bench/bench_common.sh"  # stop_pid, jnum, jlat, now_ns, port_open, launch_sluisd
find_binaries  # CTL, SLUISD, DATASET, LOADGEN
for b in initdb pg_ctl psql; do
  [[ -x "$PG_BIN/$b" ]] || die "no $b in $PG_BIN; install postgresql-15 (tools/setup.sh deps) or pass --pg-bin"
done

OUT="${OUT:-$BUILD/bench-engines}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluis-engines.XXXXXX")"
# The cluster's own directory: the server runs as the postgres user when this script runs as root
# (initdb refuses root), and that user cannot enter the 0700 work directory.
PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sluis-engines-pg.XXXXXX")"
AS_ROOT=0
if [[ "$(id -u)" == 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root, but there is no postgres user to run PostgreSQL"
  AS_ROOT=1
  chown postgres:postgres "$PG_DIR"
fi
PG_STARTED=0
PIDS=()  # the sluisd processes running now


as_pg() {  # as_pg COMMAND...: runs a PostgreSQL program as the cluster's owner, in its directory
  if [[ "$AS_ROOT" == 1 ]]; then (cd "$PG_DIR" && runuser -u postgres -- "$@"); else "$@"; fi
}
stop_nodes() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  PIDS=()
}
cleanup() {
  stop_nodes
  if [[ "$PG_STARTED" == 1 ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 60 -s -m fast stop >/dev/null 2>&1 ||
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -s -m immediate stop >/dev/null 2>&1 || true
  fi
  if [[ "$KEEP" == 1 ]]; then
    echo "engines: work files kept in $WORK and $PG_DIR" >&2
  else
    rm -rf "$WORK" "$PG_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {  # a loopback port nobody listens on now
  local p attempt
  for attempt in $(seq 1 50); do
    p=$(( 20000 + (RANDOM % 20000) ))
    port_open "$p" || { echo "$p"; return 0; }
  done
  die "found no free port"
}
# load_avg: the load average, and how many compilers (others' builds) run now.
load_avg() { echo "$(cut -d' ' -f1-3 /proc/loadavg), $(pgrep -c -x cc1plus || true) cc1plus"; }
sql() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U sluis -d "$1" -XAtq -c "$2"; }

# --- one home, and its copy moved into PostgreSQL ----------------------------------------------
SQ="$WORK/home-sqlcipher"
PG="$WORK/home-pg"
PG2="$WORK/home-pg2"
say "generating a sector with $CLIENTS clients ($PARTNERS partners, $WORKERS workers, $FRAGMENTS fragments per client)"
"$CTL" init --home "$SQ" --raw-key --port 0 --metrics-port 0 >/dev/null
"$DATASET" --home "$SQ" --partners "$PARTNERS" --workers "$WORKERS" --clients "$CLIENTS" \
  --fragments "$FRAGMENTS" "${DATASET_EXTRA[@]}" >"$OUT/dataset.txt"
grep -E 'done in' "$OUT/dataset.txt" >&2 || true
# sluis-dataset writes the store directly; the move wants the audit log a home with records has,
# and an operator act on the stopped home makes it (an empty audit.db).
"$CTL" partner list --home "$SQ" >/dev/null
# configure_home HOME NAME: a log file (every request is logged, as in production), no metrics
# listener, room for the connections, the pool size asked for.
configure_home() {
  sed -i -e "s|^destination = .*|destination = \"$WORK/sluisd-$2.log\"|" \
         -e "s|^max_connections = .*|max_connections = $((CONNECTIONS + 64))|" \
         -e "s|^enabled = true|enabled = false|" "$1/sluis.toml"
  [[ -z "$POOL" ]] || sed -i -e "s|^pool_size = .*|pool_size = $POOL|" "$1/sluis.toml"
}
configure_home "$SQ" sqlcipher
cp -a "$SQ" "$PG"
configure_home "$PG" pg

say "starting PostgreSQL 15 ($PG_BIN) in $PG_DIR, durable (fsync, synchronous_commit on)"
INITDB_EXTRA=()
[[ "$TINY" == 1 ]] && INITDB_EXTRA=(--no-sync)  # initdb's own final flush only; the server is durable
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U sluis --auth=trust -E UTF8 --locale=C \
  --no-instructions "${INITDB_EXTRA[@]}" >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
for attempt in 1 2 3 4 5; do
  PG_PORT="$(free_port)"
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 60 -s -l "$PG_DIR/server.log" \
       -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=100" \
       start; then
    PG_STARTED=1
    break
  fi
done
[[ "$PG_STARTED" == 1 ]] || { tail -20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
POSTMASTER="$(head -1 "$PG_DIR/data/postmaster.pid")"
[[ "$(sql postgres 'SHOW fsync')" == on && "$(sql postgres 'SHOW synchronous_commit')" == on ]] ||
  die "PostgreSQL is not running with fsync and synchronous_commit on"
sql postgres "CREATE DATABASE sluis_bench" >/dev/null
CONNINFO="host=127.0.0.1 port=$PG_PORT user=sluis dbname=sluis_bench"
say "moving the copy into PostgreSQL (port $PG_PORT)"
T0="$(now_ns)"
"$CTL" store migrate --to postgresql --home "$PG" --conninfo "$CONNINFO" --switch \
  >"$OUT/migrate.txt" 2>&1 || { cat "$OUT/migrate.txt" >&2; die "sluisctl store migrate failed"; }
MIGRATE_S="$(awk -v n="$(( $(now_ns) - T0 ))" 'BEGIN { printf "%.1f", n / 1e9 }')"
grep -q '^engine = "postgresql"' "$PG/sluis.toml" || die "the moved home does not name PostgreSQL in its [store]"
# Node B: the same gateway (keys, CA, server certificate, rule pack, [store]); its own port (0:
# a free one), log file and operator socket (relative to its home).
cp -a "$PG" "$PG2"
configure_home "$PG2" pg2

# --- runs --------------------------------------------------------------------------------------
# start_nodes NAME HOME...: one sluisd per home; sets PORTS (a,b) and SERVER_PIDS (a,b).
start_nodes() {
  local name="$1" home i=0 ports=() pids=()
  shift
  for home in "$@"; do
    i=$((i + 1))
    launch_sluisd "$SLUISD" "$home/sluis.toml" "$WORK/port-$i" "$WORK/sluisd-$name-$i.err"
    PIDS+=("$LAUNCHED_PID")
    ports+=("$LAUNCHED_PORT")
    pids+=("$LAUNCHED_PID")
  done
  PORTS="$(IFS=,; echo "${ports[*]}")"
  SERVER_PIDS="$(IFS=,; echo "${pids[*]}")"
}
# db_counters: the audit events sequenced so far, the database's committed transactions, the
# cluster's WAL syncs (pg_stat_wal) and the sequenced batches (each batch updates the one
# audit_sequence row once), space-separated.
db_counters() {
  sql sluis_bench "SELECT (SELECT next FROM audit_sequence WHERE id = 1) || ' ' ||
    (SELECT xact_commit FROM pg_stat_database WHERE datname = 'sluis_bench') || ' ' ||
    (SELECT wal_sync FROM pg_stat_wal) || ' ' ||
    (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'audit_sequence')"
}

# load NAME WORKLOAD DATABASE(0|1): one sluis-loadgen run over PORTS, JSON into $OUT/NAME.json, the
# load average at its start (and the compilers running then) into $OUT/NAME.load; with DATABASE=1 the cluster's CPU too, and the
# audit events the database sequenced, its commits and its WAL syncs per second of the measured
# time into $OUT/NAME.db ("events/s commits/s syncs/s batches/s").
load() {
  local name="$1" workload="$2" database="$3" extra=() c0="" c1 t0 t1
  [[ "$database" == 1 ]] && extra=(--database-pid "$POSTMASTER")
  say "$name: $workload, $CONNECTIONS connections over port(s) $PORTS, ${DURATION} s (load $(load_avg))"
  load_avg >"$OUT/$name.load"
  "$LOADGEN" --port "$PORTS" --ca "$SQ/tls/ca.crt" --workload "$workload" \
    --workload-file "$SQ/workload.tsv" --connections "$CONNECTIONS" --duration "$DURATION" \
    --warmup "$WARMUP" --server-pid "$SERVER_PIDS" "${extra[@]}" --json "$OUT/$name.json" \
    >"$OUT/$name.txt" 2>&1 &
  local lg=$!
  if [[ "$database" == 1 ]]; then
    # The counters are read when the warm-up ends and when the run has ended: rates over that
    # span (sluis-loadgen's own start-up makes it a little longer than its measured time; the
    # events are counted exactly, the statistics as the backends report them, within a second).
    sleep "$WARMUP"
    t0="$(now_ns)"; c0="$(db_counters)"
  fi
  wait "$lg" || { cat "$OUT/$name.txt" >&2; die "sluis-loadgen failed during $name"; }
  if [[ "$database" == 1 ]]; then
    t1="$(now_ns)"; c1="$(db_counters)"
    awk -v a="$c0" -v b="$c1" -v n="$((t1 - t0))" 'BEGIN {
      split(a, x, " "); split(b, y, " ")
      s = n / 1e9
      printf "%.1f %.1f %.1f %.1f\n", (y[1] - x[1]) / s, (y[2] - x[2]) / s, (y[3] - x[3]) / s, (y[4] - x[4]) / s }' \
      >"$OUT/$name.db"
  fi
  grep -E 'throughput|CPU' "$OUT/$name.txt" >&2 || true
  [[ -n "$(jnum "$OUT/$name.json" server_cpu_us_per_request)" ]] ||
    die "sluis-loadgen could not read sluisd's CPU time (processes $SERVER_PIDS) during $name"
  [[ "$database" == 0 || -n "$(jnum "$OUT/$name.json" database_cpu_us_per_request)" ]] ||
    die "sluis-loadgen could not read PostgreSQL's CPU time (postmaster $POSTMASTER) during $name"
}

for r in $(seq 1 "$ROUNDS"); do
  start_nodes "sqlcipher-$r" "$SQ"
  load "read-sqlcipher-$r" read 0
  stop_nodes
  start_nodes "pg-$r" "$PG"
  load "read-pg-$r" read 1
  stop_nodes
done
start_nodes pg-one "$PG"
for w in write mix; do load "$w-pg-one" "$w" 1; done
stop_nodes
start_nodes pg-two "$PG" "$PG2"
for w in read write mix; do load "$w-pg-two" "$w" 1; done
stop_nodes
# The read on one node for the comparison with two is the last PostgreSQL round's.
cp "$OUT/read-pg-$ROUNDS.json" "$OUT/read-pg-one.json"
cp "$OUT/read-pg-$ROUNDS.db" "$OUT/read-pg-one.db"
cp "$OUT/read-pg-$ROUNDS.load" "$OUT/read-pg-one.load"
say "checking the PostgreSQL audit log (sluisctl audit verify)"
"$CTL" audit verify --key "$PG/keys/root.key" --config "$PG/sluis.toml" >"$OUT/audit-verify.txt" 2>&1 ||
  { cat "$OUT/audit-verify.txt" >&2; die "the PostgreSQL audit log does not verify"; }

# The disk's own rate of one-at-a-time WAL flushes (what a commit waits for), for the scaling
# paragraph: PostgreSQL's pg_test_fsync, 1 s per method, after the runs (not in the smoke run).
if [[ "$TINY" == 0 ]]; then
  say "timing the disk's flushes (pg_test_fsync -s 1)"
  as_pg "$PG_BIN/pg_test_fsync" -s 1 -f "$PG_DIR/fsync-test" >"$OUT/pg_test_fsync.txt" 2>&1 || true
fi

# --- the tables ---------------------------------------------------------------------------------
f0() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.0f", v }'; }
f1() { awk -v v="$1" 'BEGIN { if (v == "") print "n/a"; else printf "%.1f", v }'; }
us() { f0 "$(jnum "$1" "$2")"; }
total_us() { awk -v a="$(jnum "$1" server_cpu_us_per_request)" -v b="$(jnum "$1" database_cpu_us_per_request)" \
               'BEGIN { printf "%.0f", a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
mean_of() {  # mean_of KEY FILE...: the mean of KEY over the files (CPU keys: absent = 0)
  local key="$1"; shift
  local f s=0 n=0
  for f in "$@"; do s="$(awk -v s="$s" -v v="$(jnum "$f" "$key")" 'BEGIN { print s + v }')"; n=$((n + 1)); done
  awk -v s="$s" -v n="$n" 'BEGIN { print s / n }'
}
SQ_RUNS=() PG_RUNS=()
for r in $(seq 1 "$ROUNDS"); do SQ_RUNS+=("$OUT/read-sqlcipher-$r.json"); PG_RUNS+=("$OUT/read-pg-$r.json"); done
SQ_RPS="$(mean_of throughput_rps "${SQ_RUNS[@]}")"
PG_RPS="$(mean_of throughput_rps "${PG_RUNS[@]}")"
SQ_CPU="$(mean_of server_cpu_us_per_request "${SQ_RUNS[@]}")"
PG_CPU="$(awk -v a="$(mean_of server_cpu_us_per_request "${PG_RUNS[@]}")" -v b="$(mean_of database_cpu_us_per_request "${PG_RUNS[@]}")" 'BEGIN { print a + b }')"
POOL_TEXT="${POOL:-$(sed -n 's/^pool_size = \([0-9]*\).*/\1/p' "$PG/sluis.toml") (default)}"
{
  echo "### Dossier read, SQLCipher against PostgreSQL ($CLIENTS clients, $CONNECTIONS connections, ${DURATION} s each after ${WARMUP} s, alternating)"
  echo
  echo "One sluisd node, default configuration; PostgreSQL 15 on the same machine with fsync and"
  echo "synchronous_commit on, sluisd's pool $POOL_TEXT sessions. CPU µs per read: sluisd's, the"
  echo "PostgreSQL cluster's (every backend and auxiliary process), and their sum."
  echo
  echo "| round | engine | reads/s | p50 ms | p99 ms | errors | sluisd CPU µs/read | postgres CPU µs/read | total CPU µs/read | load average at start |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
  for r in $(seq 1 "$ROUNDS"); do
    for e in sqlcipher pg; do
      f="$OUT/read-$e-$r.json"
      name=SQLCipher; pgcpu="—"; [[ "$e" == pg ]] && { name=PostgreSQL; pgcpu="$(us "$f" database_cpu_us_per_request)"; }
      echo "| $r | $name | $(f1 "$(jnum "$f" throughput_rps)") | $(jlat "$f" p50) | $(jlat "$f" p99) | $(jnum "$f" errors) | $(us "$f" server_cpu_us_per_request) | $pgcpu | $(total_us "$f") | $(cat "$OUT/read-$e-$r.load") |"
    done
  done
  echo
  echo "| PostgreSQL / SQLCipher (mean of the rounds) | throughput | total CPU per read |"
  echo "|---|---:|---:|"
  echo "| dossier read, one node | $(ratio "$PG_RPS" "$SQ_RPS") (target ≥ 0.50×) | $(ratio "$PG_CPU" "$SQ_CPU") |"
  echo
  echo "### One PostgreSQL node against two nodes of the same gateway ($CONNECTIONS connections in all, ${DURATION} s each)"
  echo
  echo "Every request appends its audit events (sequenced durably before the answer). From the"
  echo "database over the run: audit events/s (audit_sequence), committed transactions/s"
  echo "(pg_stat_database), WAL syncs/s (pg_stat_wal: every fsync of the WAL, the WAL writer's"
  echo "too) and sequenced batches/s (updates of the audit_sequence row: one durable commit each,"
  echo "one after another across nodes). CPU µs per request: every sluisd node's, the cluster's,"
  echo "and their sum."
  echo
  echo "| workload | nodes | requests/s | audit events/s | commits/s | WAL syncs/s | sequenced batches/s | events per batch | p50 ms | p99 ms | errors | sluisd CPU µs/req | postgres CPU µs/req | total CPU µs/req | load average at start |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for w in read write mix; do
    for n in one two; do
      f="$OUT/$w-pg-$n.json"
      nodes=1; [[ "$n" == two ]] && nodes=2
      read -r ev cm sy ba <"$OUT/$w-pg-$n.db"
      echo "| $w | $nodes | $(f1 "$(jnum "$f" throughput_rps)") | $ev | $cm | $sy | $ba | $(awk -v e="$ev" -v b="$ba" 'BEGIN { if (b > 0) printf "%.1f", e / b; else print "n/a" }') | $(jlat "$f" p50) | $(jlat "$f" p99) | $(jnum "$f" errors) | $(us "$f" server_cpu_us_per_request) | $(us "$f" database_cpu_us_per_request) | $(total_us "$f") | $(cat "$OUT/$w-pg-$n.load") |"
    done
  done
  echo
  echo "| two nodes / one node | requests/s | total CPU per request |"
  echo "|---|---:|---:|"
  for w in read write mix; do
    a="$OUT/$w-pg-one.json"; b="$OUT/$w-pg-two.json"
    echo "| $w | $(ratio "$(jnum "$b" throughput_rps)" "$(jnum "$a" throughput_rps)") | $(ratio "$(total_us "$b")" "$(total_us "$a")") |"
  done
  echo
  echo "Moving the home into PostgreSQL (sluisctl store migrate --switch): $MIGRATE_S s."
  echo "$(grep -m1 'verifies' "$OUT/audit-verify.txt" || true)"
  if [[ -s "$OUT/pg_test_fsync.txt" ]]; then
    echo
    echo "The disk under the cluster (pg_test_fsync, one 8 kB write then a flush, ops/s):"
    echo
    echo '```'
    sed -n '/one 8kB write/,/^$/p' "$OUT/pg_test_fsync.txt" | grep -E 'fdatasync|fsync |open_datasync' || true
    echo '```'
  fi
} >"$OUT/results.md"
cat "$OUT/results.md"
say "tables in $OUT/results.md; every run's JSON and text next to it"
