#!/usr/bin/env bash
# The DPO guide's "Opening the audit file for forensics" steps, run as written against a log that
# the real sluisd and sluisctl wrote: the key from 'sluisctl key sqlcipher', Debian's sqlcipher CLI
# (SQLCipher 3.4.1) on a copy, the tables the guide names, a leaf hash recomputed by hand. Every
# check must be able to fail.
#   audit_forensics_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$1"
SLUISD="$2"
T="$(mktemp -d /tmp/sluis-forensics-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
command -v sqlcipher >/dev/null || { echo "FAIL: the sqlcipher CLI is not installed"; exit 1; }

H="$T/home"
printf 'forensics test passphrase\n' >"$T/pass"
"$CTL" init --home "$H" --passphrase-file "$T/pass" --port 0 --metrics-port 0 \
  --argon2-ops 2 --argon2-mem-mib 16 >/dev/null
"$CTL" partner add --home "$H" --id caw-a --type caw --name "CAW A" \
  --passphrase-file "$T/pass" >/dev/null
"$CTL" worker add --home "$H" --partner caw-a --worker an --role social-worker \
  --passphrase-file "$T/pass" >/dev/null
check "gateway starts" start_gateway "$SLUISD" "$H/sluis.toml" --passphrase-file "$T/pass"
curl -sS --cacert "$H/tls/ca.crt" --cert "$H/partners/caw-a/caw-a.crt" \
  --key "$H/partners/caw-a/caw-a.key" -H "Sluis-Worker: an" -H "Content-Type: application/json" \
  --data '{"identifier":{"scheme":"case-number","value":"CASE-1"}}' -o /dev/null \
  "https://127.0.0.1:$(cat "$T/port")/v1/clients"
stop_gateway
AUDIT=(--key "$H/keys/root.key" --passphrase-file "$T/pass" --log "$H/data/audit.db")
"$CTL" audit export "${AUDIT[@]}" --format jsonl --out "$T/events.jsonl"
EVENTS="$(wc -l <"$T/events.jsonl")"
check "the log has events from sluisctl and sluisd" test "$EVENTS" -ge 3

# Step 1: a copy, never the live file (with the WAL if there is one).
F="$T/forensics"
mkdir -m 700 "$F"
cp -p "$H/data/audit.db" "$F/audit.db"
[[ -e "$H/data/audit.db-wal" ]] && cp -p "$H/data/audit.db-wal" "$F/audit.db-wal"
# Step 2: the key, derived from the root key by sluisctl.
check "sluisctl writes the audit file's SQLCipher key" "$CTL" key sqlcipher \
  --key "$H/keys/root.key" --passphrase-file "$T/pass" --file audit --out "$F/audit.sql"
check "...owner-only" test "$(stat -c %a "$F/audit.sql")" = 600
check "...as the raw-key PRAGMA" grep -Eq "^PRAGMA key = \"x'[0-9a-f]{64}'\";$" "$F/audit.sql"
check "...with the page size SQLCipher 3.4.1 does not read from the file" \
  grep -qx "PRAGMA cipher_page_size = 4096;" "$F/audit.sql"
refuse "the key file is never overwritten" 1 "$CTL" key sqlcipher --key "$H/keys/root.key" \
  --passphrase-file "$T/pass" --file audit --out "$F/audit.sql"
# Step 3: the sqlcipher CLI.
q() { sqlcipher -batch -init "$F/audit.sql" "$F/audit.db" "$1" 2>&1; }
check "the copy opens and passes SQLite's integrity check" test "$(q 'PRAGMA integrity_check;')" = ok
check "the tables the guide names are there" test "$(q "SELECT group_concat(name, ' ') FROM \
  (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name);")" \
  = "audit_checkpoint audit_event audit_meta merkle_node"
check "audit_event holds every event sluisctl exports" \
  test "$(q 'SELECT count(*) FROM audit_event;')" = "$EVENTS"
check "leaves run 0..N-1" test "$(q 'SELECT min(leaf) || "-" || max(leaf) FROM audit_event;')" \
  = "0-$((EVENTS - 1))"
check "the searchable columns name the operator act" \
  grep -q "partner-add" <<<"$(q 'SELECT action FROM audit_event WHERE leaf = 0;')"
check "the canonical bytes are the event sluisctl exports" \
  grep -qF "\"event\":$(q 'SELECT CAST(canonical AS TEXT) FROM audit_event WHERE leaf = 0;')}" \
  <<<"$(head -1 "$T/events.jsonl")"
# A leaf hash by hand (RFC 9162: SHA-256 of 0x00 followed by the canonical bytes) equals the
# stored tree's level-0 node.
by_hand="$( (printf '\000'; q 'SELECT hex(canonical) FROM audit_event WHERE leaf = 1;' |
  xxd -r -p) | sha256sum | cut -c1-64)"
stored="$(q 'SELECT lower(hex(hash)) FROM merkle_node WHERE level = 0 AND idx = 1;')"
check "a leaf hash recomputed by hand equals the stored tree node" test "$by_hand" = "$stored"
check "...and the leaf hash sluisctl exports" grep -q "\"leaf_hash\":\"$by_hand\"" \
  <<<"$(sed -n 2p "$T/events.jsonl")"
check "the latest checkpoint is a signed note of the whole log" \
  grep -q "^$EVENTS$" <<<"$(q 'SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1;')"
check "audit_meta holds the log's origin" \
  grep -q "." <<<"$(q "SELECT value FROM audit_meta WHERE name = 'origin';")"
check "opened as file:COPY?mode=ro, the copy refuses writes" grep -q "readonly database" \
  <<<"$(sqlcipher -batch -init "$F/audit.sql" "file:$F/audit.db?mode=ro" \
    'DELETE FROM audit_meta;' 2>&1 || true)"
check "...and still has its meta rows" test "$(q 'SELECT count(*) FROM audit_meta;')" -ge 1
# What goes wrong without the right key or settings, as the guide says.
grep -v cipher_page_size "$F/audit.sql" >"$F/no-page-size.sql"
check "without cipher_page_size the file does not open" \
  grep -q "file is encrypted or is not a database" \
  <<<"$(sqlcipher -batch -init "$F/no-page-size.sql" "$F/audit.db" 'SELECT count(*) FROM audit_event;' 2>&1 || true)"
"$CTL" key sqlcipher --key "$H/keys/root.key" --passphrase-file "$T/pass" --file data \
  --out "$F/data.sql" >/dev/null
check "another file's key does not open it" grep -q "file is encrypted or is not a database" \
  <<<"$(sqlcipher -batch -init "$F/data.sql" "$F/audit.db" 'SELECT count(*) FROM audit_event;' 2>&1 || true)"
check "the data key opens the data store" \
  test "$(sqlcipher -batch -init "$F/data.sql" "$H/data/data.db" 'SELECT count(*) FROM sqlite_master;' 2>&1)" -gt 0
# Step 4: nothing was changed — the original still verifies.
check "the live log still verifies" "$CTL" audit verify "${AUDIT[@]}"

echo "audit forensics: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
