# Shell functions the benchmark scripts share (sourced by baseline.sh and engines.sh, never run).
# The sourcing script defines die MESSAGE (print and exit) before calling them.

# find_binaries: the build's programs (BUILD; SLUISD_BIN, when set, replaces the build's sluisd)
# in CTL, SLUISD, DATASET and LOADGEN, or dies naming the one that is missing.
find_binaries() {
  CTL="$BUILD/tools/sluisctl/sluisctl"
  SLUISD="${SLUISD_BIN:-$BUILD/gateway/main/sluisd}"
  DATASET="$BUILD/tools/bench/sluis-dataset"
  LOADGEN="$BUILD/tools/bench/sluis-loadgen"
  local b
  for b in "$CTL" "$SLUISD" "$DATASET" "$LOADGEN"; do
    [[ -x "$b" ]] || die "$b is missing; build it first (cmake --build $BUILD --target sluisd sluisctl sluis-dataset sluis-loadgen)"
  done
}

# stop_pid PID: TERM, up to 20 s to finish, then KILL.
stop_pid() {
  local pid="$1" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# jnum FILE KEY: the first (top-level) number under KEY in a sluis-loadgen JSON report.
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }
# jlat FILE PCT: the run's overall latency percentile (p50, p90, p99, max) in ms.
jlat() { grep -o '"latency_ms":{[^}]*}' "$1" | head -1 | tr ',{' '\n\n' | grep "\"$2\"" |
         cut -d: -f2; }
now_ns() { date +%s%N; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch_sluisd BINARY CONFIG PORT_FILE ERR_FILE: starts sluisd in the background and waits (up to
# 60 s) until it has written its port; sets LAUNCHED_PID, LAUNCHED_PORT and LAUNCHED_MS (exec to
# port file: configuration, key, store, audit log, rule pack, listening socket).
launch_sluisd() {
  local bin="$1" config="$2" port_file="$3" err="$4" t0 i
  rm -f "$port_file"
  t0="$(now_ns)"
  "$bin" --config "$config" --port-file "$port_file" >"$err" 2>&1 &
  LAUNCHED_PID=$!
  for i in $(seq 1 6000); do
    [[ -s "$port_file" ]] && break
    kill -0 "$LAUNCHED_PID" 2>/dev/null || { cat "$err" >&2; die "sluisd did not start"; }
    sleep 0.01
  done
  [[ -s "$port_file" ]] || die "sluisd did not write its port within 60 s; see $err"
  LAUNCHED_MS=$(( ($(now_ns) - t0) / 1000000 ))
  LAUNCHED_PORT="$(cat "$port_file")"
}
