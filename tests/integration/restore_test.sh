#!/usr/bin/env bash
# Backup and restore against a real sluisd (issue 13): a key-store snapshot restored after a
# fragment was written in a new category loses nothing (the key journal); a client erased after
# the backup stays erased; a key that is really gone gives a partial 200 with a per-fragment
# marker, and sluisctl warns before such a restore; every 5xx has a cause in the log under its
# request id; every file sluis writes is owner-only. Every check must be able to fail.
#   restore_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$1"
SLUISD="$2"
T="$(mktemp -d /tmp/sluis-restore-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
H="$T/home"
start() { start_gateway "$SLUISD" "$H/sluis.toml"; }
# A umask that would leave files world-readable: sluis must not rely on the caller's.
umask 022
"$CTL" init --home "$H" --raw-key --port 0 --metrics-port 0 >/dev/null
"$CTL" partner add --home "$H" --id ocmw-brussel --type ocmw --name "OCMW Brussel" >/dev/null
"$CTL" worker add --home "$H" --partner ocmw-brussel --worker an --role social-worker >/dev/null

api() {  # api METHOD PATH [BODY] -> status in $STATUS, body in $T/body
  local args=(-sS --cacert "$H/tls/ca.crt" --cert "$H/partners/ocmw-brussel/ocmw-brussel.crt"
              --key "$H/partners/ocmw-brussel/ocmw-brussel.key" -H "Sluis-Worker: an"
              -H "Sluis-Purpose: care-coordination" -X "$1" -o "$T/body" -w '%{http_code}')
  [[ -n "${3:-}" ]] && args+=(-H "Content-Type: application/json" --data "$3")
  STATUS="$(curl "${args[@]}" "https://127.0.0.1:$(cat "$T/port")$2")"
}
register() {  # register NUMBER -> pseudonym on stdout
  api POST /v1/clients "{\"identifier\":{\"scheme\":\"national-register\",\"value\":\"$1\"}}"
  [[ "$STATUS" == 201 ]] || { echo "registration answered $STATUS" >&2; return 1; }
  sed -E 's/.*"client":"([^"]+)".*/\1/' "$T/body"
}
write() {  # write CLIENT CATEGORY FIELD VALUE -> $STATUS
  api POST "/v1/clients/$1/fragments" "{\"category\":\"$2\",\"fields\":{\"$3\":\"$4\"}}"
}
fragments_in() { grep -o '"fragment":"' "$T/body" | wc -l; }
lost_keys() { rm -f "$H/data/keys.db" "$H/data/keys.db-wal" "$H/data/keys.db-shm"; }

check "gateway starts" start
A="$(register 85073003328)"
B="$(register 90010100123)"
write "$A" housing street "Kerkstraat 1"
check "A's housing fragment written" test "$STATUS" = 201
write "$B" housing street "Molenweg 2"
check "B's housing fragment written" test "$STATUS" = 201
check "backup with a key snapshot" "$CTL" backup --home "$H" --out "$T/b1" --with-key-snapshot
S1="$(ls "$T"/b1/keys-*.db)"
D1="$(ls "$T"/b1/data-*.db)"
# After the snapshot: a fragment in a category A had no key for yet (a new data key).
write "$A" income source "leefloon INCOME-CANARY"
check "A's income fragment written after the snapshot (201)" test "$STATUS" = 201
check "B erased after the backup" "$CTL" client erase --home "$H" --partner ocmw-brussel \
  --pseudonym "$B" --reason "request 2026/99" --yes

# --- owner-only files, whatever the umask of whoever ran sluisctl and sluisd.
modes_ok() {
  local bad
  # Certificates are public (0644 on purpose); everything else is data, keys or configuration.
  bad="$(find "$H" "$T/b1" -type f ! -name '*.crt' -perm /077 -printf '%m %p\n')"
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
  bad="$(find "$H" "$T/b1" -type d -perm /077 -printf '%m %p\n')"
  [[ -z "$bad" ]] || { echo "$bad"; return 1; }
}
check "sluis.toml is 0600" test "$(stat -c %a "$H/sluis.toml")" = 600
check "data.db is 0600" test "$(stat -c %a "$H/data/data.db")" = 600
check "data.db-wal is 0600" test "$(stat -c %a "$H/data/data.db-wal")" = 600
check "keys.db is 0600" test "$(stat -c %a "$H/data/keys.db")" = 600
check "audit.db is 0600" test "$(stat -c %a "$H/data/audit.db")" = 600
check "the data backup is 0600" test "$(stat -c %a "$D1")" = 600
check "the key snapshot is 0600" test "$(stat -c %a "$S1")" = 600
check "no file or directory sluis wrote is open to group or others" modes_ok
cp "$D1" "$T/copied.db"
check "a copy of a backup keeps 0600" test "$(stat -c %a "$T/copied.db")" = 600
stop_gateway

# --- defect 3 as reported: the key store is lost and the documented restore copies the key
# snapshot into place while sluisd is stopped.
lost_keys
cp "$S1" "$H/data/keys.db"
check "gateway starts on the restored key store" start
api GET "/v1/clients/$A/dossier"
check "A's dossier answers 200 after the restore (not 500)" test "$STATUS" = 200
check "...with both fragments" test "$(fragments_in)" = 2
check "...the one written after the snapshot opened" grep -q 'INCOME-CANARY' "$T/body"
check "...and no fragment marked unreadable" bash -c "! grep -q unreadable '$T/body'"
api GET "/v1/clients/$B/dossier"
check "B, erased after the backup, stays erased (404)" test "$STATUS" = 404
stop_gateway

# --- the same loss, restored with sluisctl restore: checked first, then done.
lost_keys
refuse "sluisctl restore --keys" 0 "$CTL" restore --home "$H" --keys "$S1"
check "...says how many keys the journal gives back" grep -q "gives back 1 data keys" "$T/out"
check "...and writes a fresh backup with a key snapshot" \
  test "$(find "$T/b1" -name 'keys-*.db' | wc -l)" -ge 2
check "gateway starts" start
api GET "/v1/clients/$A/dossier"
check "A's dossier is whole after sluisctl restore" test "$STATUS:$(fragments_in)" = "200:2"
check "...with the income field" grep -q 'INCOME-CANARY' "$T/body"
stop_gateway

# --- both files from the old backup (and the live key store lost): B's erasure still holds.
lost_keys
check "restore of data backup and key snapshot" "$CTL" restore --home "$H" --data "$D1" \
  --keys "$S1" --out "$T/b3"
check "gateway starts" start
api GET "/v1/clients/$B/dossier"
check "B stays erased after restoring backups from before the erasure (404)" test "$STATUS" = 404
api GET "/v1/clients/$A/dossier"
check "A's dossier as in the data backup (200, 1 fragment)" test "$STATUS:$(fragments_in)" = "200:1"

# --- a key that is really gone: a newer snapshot is taken, then an older one is restored.
write "$A" income source "second INCOME-CANARY-2"
check "A's new income fragment written" test "$STATUS" = 201
check "a newer backup with a key snapshot" "$CTL" backup --home "$H" --out "$T/b4" \
  --with-key-snapshot
S4="$(ls "$T"/b4/keys-*.db)"
S3="$(ls -t "$T"/b3/keys-*.db | tail -1)"
stop_gateway
lost_keys
refuse "restoring an older snapshot that loses a key is refused without --force" 1 \
  "$CTL" restore --home "$H" --keys "$S3"
check "...with a warning" grep -q "WARNING: after this restore 1 fragments of 1 clients" "$T/out"
check "...naming the snapshot the journal continues" grep -q "restore that one (--keys $S4)" \
  "$T/out"
check "...and nothing was changed" grep -q "nothing was restored" "$T/err"
check "with --force it is done" "$CTL" restore --home "$H" --keys "$S3" --force --out "$T/b5"
check "gateway starts" start
api GET "/v1/clients/$A/dossier"
check "a dossier with a lost key answers 200 (partial)" test "$STATUS" = 200
check "...with both fragments listed" test "$(fragments_in)" = 2
check "...the one that opens, opened" grep -q '"street":"Kerkstraat 1"' "$T/body"
check "...the other marked key-unavailable, without fields" \
  grep -q '"unreadable":"key-unavailable","fields":{}' "$T/body"
check "...its value nowhere" bash -c "! grep -q 'INCOME-CANARY-2' '$T/body'"
check "the request log names the partial answer" \
  grep -q '"cause":"dossier_fragment_key_unavailable"' "$T/sluisd.log"
stop_gateway

# --- a 5xx has a cause under its request id: a sealed field is damaged on disk.
ROOT_HEX="$(sed -n 's/^key //p' "$H/keys/root.key")"
DBKEY="$(python3 - "$ROOT_HEX" <<'EOF'
import hashlib, sys
root = bytes.fromhex(sys.argv[1])
# libsodium crypto_kdf_derive_from_key: BLAKE2b(key=root, salt=LE64(id)||0^8, person=ctx||0^8)
salt = (1).to_bytes(8, "little") + bytes(8)
print(hashlib.blake2b(b"", digest_size=32, key=root, salt=salt,
                      person=b"sluis-v1" + bytes(8)).hexdigest())
EOF
)"
sqlcipher "$H/data/data.db" >/dev/null <<EOF
PRAGMA key = "x'$DBKEY'";
PRAGMA cipher_page_size = 4096;
UPDATE fragments SET fields = substr(fields, 1, length(fields) - 1) ||
  CASE WHEN substr(fields, length(fields), 1) = x'00' THEN x'01' ELSE x'00' END
  WHERE category = 'housing';
EOF
check "gateway starts on the damaged file" start
api GET "/v1/clients/$A/dossier"
check "a damaged field answers 500 internal-error" test "$STATUS" = 500
ID="$(sed -E 's/.*urn:sluis:request:([0-9a-f]+).*/\1/' "$T/body")"
check "...with a request id" test -n "$ID"
check "the log line of that request names the cause, at level error" \
  grep -Eq "\"level\":\"error\".*\"request_id\":\"$ID\".*\"cause\":\"store_crypto_failure\"" \
  "$T/sluisd.log"
check "no log line holds a field value" bash -c "! grep -q CANARY '$T/sluisd.log'"
stop_gateway

echo "restore: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
