# Shared by the shell tests against the real binaries: counters, checks, starting sluisd.
# Source it after setting T (a scratch directory). Every check must be able to fail.
fails=0
pass=0
check() {  # check DESCRIPTION COMMAND... — the command must succeed
  local d="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d"; fails=$((fails + 1)); fi
}
refuse() {  # refuse DESCRIPTION EXPECTED_EXIT COMMAND... — the command must exit with that code
  local d="$1" want="$2"; shift 2
  local rc=0
  "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  if [[ $rc -eq $want ]]; then pass=$((pass + 1)); else
    echo "FAIL: $d (exit $rc, wanted $want)"; cat "$T/out" "$T/err"; fails=$((fails + 1)); fi
}
# start_gateway SLUISD CONFIG [sluisd options...]: starts sluisd in the background (PID), waits
# for $T/port; output appended to $T/sluisd.log.
PID=""
start_gateway() {
  local sluisd="$1" config="$2"; shift 2
  rm -f "$T/port"
  "$sluisd" --config "$config" --port-file "$T/port" "$@" >>"$T/sluisd.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do
    [[ -s "$T/port" ]] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$T/sluisd.log"; return 1; }
    sleep 0.1
  done
  return 1
}
stop_gateway() {
  kill -TERM "$PID"
  wait "$PID" || true
  PID=""
}
