#!/usr/bin/env bash
# Operator acts against a real sluisd: through its operator socket while it runs (no root key
# needed by sluisctl), directly on the files while it is stopped, audited either way; a client
# erased by the operator is gone from the API. Every check must be able to fail.
#   operator_channel_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$1"
SLUISD="$2"
T="$(mktemp -d /tmp/sluis-opch-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
start() { start_gateway "$SLUISD" "$H/sluis.toml" --passphrase-file "$T/pass"; }

H="$T/home"
printf 'operator channel test passphrase\n' >"$T/pass"
"$CTL" init --home "$H" --passphrase-file "$T/pass" --port 0 --metrics-port 0 \
  --argon2-ops 2 --argon2-mem-mib 16 >/dev/null

# --- stopped gateway: acts are done on the files, audited by sluisctl itself.
check "partner added while stopped" "$CTL" partner add --home "$H" --id ocmw-brussel --type ocmw \
  --name "OCMW Brussel" --passphrase-file "$T/pass"
check "worker added while stopped" "$CTL" worker add --home "$H" --partner ocmw-brussel \
  --worker an --role social-worker --passphrase-file "$T/pass"
refuse "status says the gateway is not running" 1 "$CTL" status --home "$H"
check "...in words" grep -q "not running" "$T/out"

# --- running gateway: acts go through the socket; sluisctl needs no passphrase.
check "gateway starts" start
check "socket is owner-only" test "$(stat -c %a "$H/run/operator.sock")" = 600
check "socket directory is owner-only" test "$(stat -c %a "$H/run")" = 700
check "status answers" "$CTL" status --home "$H"
check "partner added through the gateway (no passphrase)" "$CTL" partner add --home "$H" \
  --id caw-brussel --type caw --name "CAW Brussel"
check "worker added through the gateway" "$CTL" worker add --home "$H" --partner caw-brussel \
  --worker bram --role social-worker
check "worker disabled through the gateway" "$CTL" worker disable --home "$H" \
  --partner caw-brussel --worker bram
"$CTL" worker list --home "$H" --partner caw-brussel >"$T/workers"
check "worker list shows the change" grep -Eq "bram +social-worker +disabled" "$T/workers"
refuse "an unknown role is refused with a sentence" 1 "$CTL" worker add --home "$H" \
  --partner caw-brussel --worker x --role wizard
check "...naming the role" grep -q "wizard" "$T/err"
check "...and the roles the rule pack has" grep -Eq "roles are: .*nurse.*social-worker" "$T/err"
refuse "an unknown partner type is refused with a sentence" 1 "$CTL" partner add --home "$H" \
  --id x-org --type wizardry --name "X"
check "...naming the partner types the rule pack has" grep -q "partner types are: .*caw" "$T/err"
refuse "a second sluisd on the same home is refused" 1 "$SLUISD" --config "$H/sluis.toml" \
  --passphrase-file "$T/pass"
check "...because the audit log is held" grep -q "held by another process" "$T/err"

# A client registered through the API, then erased by the operator on the client's request.
PORT="$(cat "$T/port")"
api() {  # api METHOD PATH [BODY] -> status in $STATUS, body in $T/body
  local args=(-sS --cacert "$H/tls/ca.crt" --cert "$H/partners/ocmw-brussel/ocmw-brussel.crt"
              --key "$H/partners/ocmw-brussel/ocmw-brussel.key" -H "Sluis-Worker: an"
              -H "Sluis-Purpose: care-coordination" -X "$1" -o "$T/body" -w '%{http_code}')
  [[ -n "${3:-}" ]] && args+=(-H "Content-Type: application/json" --data "$3")
  STATUS="$(curl "${args[@]}" "https://127.0.0.1:$PORT$2")"
}
api POST /v1/clients '{"identifier":{"scheme":"national-register","value":"85073003328"}}'
check "client registered (201)" test "$STATUS" = 201
CLIENT="$(sed -E 's/.*"client":"([^"]+)".*/\1/' "$T/body")"
api GET "/v1/clients/$CLIENT/dossier"
check "dossier answers before the erasure" test "$STATUS" = 200
printf '85.07.30-033.28\n' >"$T/identifier"
refuse "erasure without confirmation is refused (no terminal)" 2 "$CTL" client erase --home "$H" \
  --scheme national-register --identifier-file "$T/identifier" --reason "request 2026/17"
refuse "erasure without a reason is refused" 2 "$CTL" client erase --home "$H" \
  --scheme national-register --identifier-file "$T/identifier" --yes
check "client erased through the gateway" "$CTL" client erase --home "$H" \
  --scheme national-register --identifier-file "$T/identifier" --reason "request 2026/17" --yes
api GET "/v1/clients/$CLIENT/dossier"
check "the erased client is gone from the API (404)" test "$STATUS" = 404
refuse "erasing again finds nobody" 1 "$CTL" client erase --home "$H" \
  --scheme national-register --identifier-file "$T/identifier" --reason "again" --yes
check "...and says so" grep -q "no client matches" "$T/err"
check "backup through the gateway" "$CTL" backup --home "$H" --out "$T/backup"
check "backup file written" compgen -G "$T/backup/data-*.db"
check "rotation through the gateway" "$CTL" rotate --home "$H"
check "SIGHUP reloads the rule pack" kill -HUP "$PID"
sleep 0.5
stop_gateway

# --- stopped again: direct acts continue the same log.
check "worker enabled while stopped" "$CTL" worker enable --home "$H" --partner caw-brussel \
  --worker bram --passphrase-file "$T/pass"
AUDIT=(--key "$H/keys/root.key" --passphrase-file "$T/pass" --log "$H/data/audit.db")
check "the audit log verifies" "$CTL" audit verify "${AUDIT[@]}"
"$CTL" audit export "${AUDIT[@]}" --format jsonl --out "$T/events.jsonl"
count() { grep -c "\"action\":\"$1\"" "$T/events.jsonl" || true; }
check "two partner-add events" test "$(count partner-add)" = 2
check "two worker-add events" test "$(count worker-add)" = 2
check "one worker-disable, one worker-enable" test "$(count worker-disable)$(count worker-enable)" = 11
check "one erasure event" test "$(count erasure)" = 1
check "one backup, one rotation, one policy reload" \
  test "$(count backup)$(count key-rotate)$(count policy-reload)" = 111
check "operator acts name the operator's account" \
  test "$(grep -c "\"worker\":\"operator:$(id -un)\"" "$T/events.jsonl")" = 9
check "the erasure carries the reason" grep -q '"purpose":"request 2026/17"' "$T/events.jsonl"
check "no event holds the identifier" bash -c "! grep -q 85073003328 '$T/events.jsonl'"
check "the reload names the signal" grep -q '"worker":"operator:sighup"' "$T/events.jsonl"

echo "operator channel: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
