#!/usr/bin/env bash
# Leak canaries against a real sluisd: planted field values, identifiers, a card code, worker-typed
# text and the root key must never appear in the logs, in any answer to a bad request, in the
# metrics, in the bytes of the gateway's files, or in a core dump — sluisd refuses to dump core,
# and even a root debugger's memory image (gcore) holds no key material.
#   canary_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$(realpath "$1")"
SLUISD="$(realpath "$2")"
T="$(mktemp -d /tmp/sluis-canary-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
[[ -n "${SLUIS_KEEP:-}" ]] && trap - EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
absent() {  # absent WHAT FILE... — no canary in the files (binary-safe, fixed strings)
  local what="$1"; shift
  local c
  for c in "${CANARIES[@]}"; do
    if grep -a -F -q -- "$c" "$@" 2>/dev/null; then
      echo "FAIL: canary '$c' found in $what"
      fails=$((fails + 1))
      return
    fi
  done
  pass=$((pass + 1))
}

H="$T/home"
"$CTL" init --home "$H" --raw-key --port 0 --metrics-port 0 >/dev/null
for p in "ocmw-brussel ocmw" "caw-brussel caw" "nachtopvang low-threshold"; do
  set -- $p
  "$CTL" partner add --home "$H" --id "$1" --type "$2" --name "$1" >/dev/null
  "$CTL" worker add --home "$H" --partner "$1" --worker w1 --role social-worker >/dev/null
done
# Metrics on a port of our choosing (loopback only), logs to a file at the most verbose level.
METRICS_PORT=$((20000 + RANDOM % 20000))
sed -i "/^\[metrics\]/,/^\[/ s/^port = .*/port = $METRICS_PORT/" "$H/sluis.toml"
sed -i 's|^destination = "stderr".*|destination = "'"$T"'/sluisd.log"|; s|^level = "info".*|level = "debug"|' \
  "$H/sluis.toml"

# The canaries: what a client, a worker or the gateway's keys must never leave behind.
NRN="85073003328"                                        # a national register number
FIELD="CANARY-FIELD-$RANDOM$RANDOM"                      # a fragment field value
NOTE="CANARY-NOTE-$RANDOM$RANDOM"                        # free text in a consent
REASON="CANARY-REASON-$RANDOM$RANDOM seizure at home"    # a break-the-glass reason
CODE="$("$CTL" card new --code-only)"                    # a card code (never sent at all)
SP="$("$CTL" card pseudonym --service nachtopvang "$CODE")"
ROOT_HEX="$(sed -n 's/^key //p' "$H/keys/root.key")"      # the root key (raw key file: hex)
# Its first 16 bytes as a binary pattern for grep -P (memory holds bytes, not hex).
ROOT_PCRE="$(sed -E 's/(..)/\\x\1/g' <<<"${ROOT_HEX:0:32}")"
CANARIES=("$NRN" "85.07.30-033.28" "$FIELD" "$NOTE" "$REASON" "$CODE" "${CODE//-/}" "$ROOT_HEX")

# The gateway may write core dumps here if it let itself: prove that this environment writes
# them for an ordinary process, so "no core" below means something.
mkdir -p "$T/cwd"
(cd "$T/cwd" && ulimit -c unlimited && exec sleep 30) &
CONTROL=$!
sleep 0.2
kill -QUIT "$CONTROL"
wait "$CONTROL" 2>/dev/null || true
CORE_PATTERN="$(cat /proc/sys/kernel/core_pattern)"
control_core="$(ls "$T/cwd" | grep -c '^core' || true)"
rm -f "$T"/cwd/core*

(cd "$T/cwd" && ulimit -c unlimited &&
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:disable_coredump=0" exec "$SLUISD" --config "$H/sluis.toml" \
    --port-file "$T/port") >"$T/sluisd.stderr" 2>&1 &
PID=$!
for _ in $(seq 1 200); do [[ -s "$T/port" ]] && break; sleep 0.1; done
check "gateway starts" test -s "$T/port"
URL="https://127.0.0.1:$(cat "$T/port")"
n=0
api() {  # api PARTNER WORKER METHOD PATH [BODY] [extra curl args...] — body saved per call
  local p="$1" w="$2" m="$3" path="$4" body="${5:-}"
  shift 5 2>/dev/null || shift $#
  n=$((n + 1))
  local args=(-sS --cacert "$H/tls/ca.crt" --cert "$H/partners/$p/$p.crt"
              --key "$H/partners/$p/$p.key" -H "Sluis-Worker: $w"
              -H "Sluis-Purpose: care-coordination" -X "$m" -o "$T/answers/$n" -w '%{http_code}')
  [[ -n "$body" ]] && args+=(-H "Content-Type: application/json" --data-binary "$body")
  STATUS="$(curl "${args[@]}" "$@" "$URL$path")"
  cp "$T/answers/$n" "$T/last"
}
mkdir -p "$T/answers"
json_field() { sed -E 's/.*"'"$1"'":"([^"]+)".*/\1/' "$T/last"; }

# Normal use with the canaries.
api ocmw-brussel w1 POST /v1/clients '{"identifier":{"scheme":"national-register","value":"'"$NRN"'"}}'
check "registration (201)" test "$STATUS" = 201
C="$(json_field client)"
api ocmw-brussel w1 POST "/v1/clients/$C/fragments" '{"category":"housing","fields":{"situation":"'"$FIELD"'"}}'
check "fragment written (201)" test "$STATUS" = 201
NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
END="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
api ocmw-brussel w1 POST "/v1/clients/$C/consents" '{"legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},"categories":["housing"],"purposes":["care-coordination"],"period":{"start":"'"$NOW"'","end":"'"$END"'"}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"w1","role":"social-worker"},"channel":"other","channel_note":"'"$NOTE"'","language":"nl","recorded_at":"'"$NOW"'"}}'
check "consent recorded (201)" test "$STATUS" = 201
api caw-brussel w1 POST /v1/clients '{"identifier":{"scheme":"national-register","value":"'"$NRN"'"}}'
CC="$(json_field client)"
api caw-brussel w1 GET "/v1/clients/$CC/dossier"
check "the permitted read shows the field (so the canary really passed through)" \
  grep -q -F "$FIELD" "$T/last"
api nachtopvang w1 POST /v1/clients '{"service_pseudonym":"'"$SP"'"}'
check "anonymous registration (201)" test "$STATUS" = 201
rm -f "$T"/answers/*  # the answers above legitimately carry the data to its reader

# Bad requests that carry the canaries: no answer may echo them.
api ocmw-brussel w1 POST /v1/clients '{"identifier":{"scheme":"national-register","value":"'"$NRN"'X"}}'
api ocmw-brussel w1 POST /v1/clients '{"identifier":{"scheme":"passport","value":"'"$NRN"'"}}'
api ocmw-brussel w1 POST "/v1/clients/$C/fragments" '{"category":"'"$FIELD"'","fields":{"a":"'"$FIELD"'"}}'
api ocmw-brussel w1 POST "/v1/clients/$C/fragments" '{"category":"housing","fields":{"situation":"'"$FIELD"'"},"x":1}'
api ocmw-brussel w1 POST "/v1/clients/$C/fragments" '{"category":"housing","fields":{"situation":"'"$FIELD"'"'
api ocmw-brussel w1 POST "/v1/clients/$C/fragments" '{"category":"housing","fields":{"situation":"'"$FIELD"'"}}' -H "Content-Type: text/plain"
api ocmw-brussel w1 GET "/v1/clients/$FIELD/dossier"
api ocmw-brussel w1 GET "/v1/clients/$C/dossier?category=$FIELD"
api ocmw-brussel w1 GET "/v1/clients/$C/dossier" "" -H "Sluis-Purpose: $NOTE"
api nachtopvang w1 POST "/v1/clients/$C/fragments" '{"category":"identity","fields":{"name":"'"$FIELD"'"}}'
api caw-brussel w1 POST /v1/links '{"own_pseudonym":"'"$NRN"'","first_service":"nachtopvang","first_pseudonym":"'"$SP"'x","consent_reference":"'"$NOTE"'"}'
api caw-brussel w1 POST "/v1/clients/$CC/break-glass" '{"categories":["housing"],"reason":"'"$REASON"'","minutes":0}'
check "the bad requests were answered" test "$(ls "$T/answers" | wc -l)" -ge 12
absent "error answers" "$T"/answers/*

curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$T/metrics" || true
check "metrics answered" grep -q "sluis_" "$T/metrics"
absent "metrics" "$T/metrics"

# Files at rest (SQLCipher: nothing readable without the keys), logs.
sleep 1.2  # a checkpoint interval: the WAL files hold recent pages too
absent "the gateway's files (data, keys, audit, WAL)" "$H"/data/*
check "the log was written" test -s "$T/sluisd.log"
absent "the log and standard error" "$T/sluisd.log" "$T/sluisd.stderr"

# A root debugger's memory image (gcore), taken after the requests above: keys live in guarded
# pages excluded from dumps, and the plaintext a request or an answer carried was wiped before
# its memory was freed (zeroising HTTP bodies and buffers, OpenSSL's record buffer cleansed), so
# neither a key nor the field canary may be in it. When the image cannot be taken the test fails:
# a check that did not run must not pass. A sanitizer build cannot give a usable image
# (AddressSanitizer's reserved shadow makes a terabyte-sized one): there this check is the
# release build's (ctest --preset release -R canaries), and the output says so.
sanitized="$(ldd "$SLUISD" 2>/dev/null | grep -c libasan || true)"
if [[ "$sanitized" -ge 1 ]]; then
  echo "note: sanitizer build: the memory-image checks run in the release build's canary test"
else
  image=""
  if ! command -v gcore >/dev/null; then
    echo "FAIL: gcore (gdb) is not installed, so the memory image cannot be taken (tools/setup.sh deps)"
    fails=$((fails + 1))
  else
    gcore -o "$T/image" "$PID" >"$T/gcore.out" 2>&1 || true
    image="$(ls "$T"/image* 2>/dev/null | head -1)"
    if [[ -z "$image" ]]; then
      echo "FAIL: gcore could not take sluisd's memory image (ptrace refused?):"
      sed 's/^/  /' "$T/gcore.out" | tail -5
      fails=$((fails + 1))
    fi
  fi
  if [[ -n "$image" ]]; then
    check "the root key (bytes or hex) is not in the memory image" \
      bash -c "! LC_ALL=C grep -a -q -P -- '$ROOT_PCRE' '$image' && ! grep -a -q -F -- '$ROOT_HEX' '$image'"
    check "the card code is not in the memory image (it never reaches the gateway)" \
      bash -c "! grep -a -q -F -- '$CODE' '$image'"
    # The image's NOTE segment is not memory: it holds each thread's saved registers, and the
    # AVX-512 registers the last memcpy of a thread used keep up to 64 bytes each of what it
    # copied until that thread's next work overwrites them. Occurrences there are reported.
    read -r note_off note_size < <(readelf -lW "$image" | awk '$1 == "NOTE" {print $2, $5; exit}')
    note_off=$((note_off)) note_size=$((note_size))
    field_in_memory=0 field_in_registers=0
    while IFS=: read -r off _; do
      if ((off >= note_off && off < note_off + note_size)); then
        field_in_registers=$((field_in_registers + 1))
      else
        field_in_memory=$((field_in_memory + 1))
      fi
    done < <(grep -a -o -b -F -- "$FIELD" "$image" || true)
    check "the field canary is not in the memory image after the requests (found $field_in_memory times)" \
      test "$field_in_memory" -eq 0
    echo "note: memory image: the field canary occurs $field_in_registers times in the threads' saved registers (not memory)"
    # Not asserted yet (their paths run through the API layer's own copies): reported, so a
    # change that leaves them behind, or removes the last of them, is seen.
    for what in NRN NOTE REASON; do
      echo "note: memory image: the $what canary occurs $(grep -a -c -F -- "${!what}" "$image" || true) times"
    done
    rm -f "$image"
  fi
fi

# A crash: sluisd refuses core dumps (RLIMIT_CORE 0, not dumpable), even when started with
# core dumps allowed.
check "sluisd runs with a core-file limit of 0" \
  grep -Eq '^Max core file size +0 +0 ' "/proc/$PID/limits"
kill -QUIT "$PID"
wait "$PID" 2>/dev/null || true
PID=""
if [[ "$control_core" -ge 1 ]]; then
  check "a crashed sluisd left no core dump (this environment writes them: pattern '$CORE_PATTERN')" \
    bash -c "! ls '$T/cwd' | grep -q '^core'"
else
  echo "note: this environment does not write core files to the working directory (pattern '$CORE_PATTERN'); the crash check relies on the core-file limit above"
fi

echo "leak canaries: $pass passed, $fails failed (${#CANARIES[@]} canaries; logs, $(ls "$T/answers" | wc -l) error answers, metrics, $(ls "$H"/data | wc -l) data files, core dump)"
[[ $fails -eq 0 ]]
