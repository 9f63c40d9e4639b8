#!/usr/bin/env bash
# A damaged or altered audit file against the real binaries: bytes flipped in a page of the
# events, in page 1, and rows edited with the key (stored tree, checkpoint). `sluisctl audit
# verify` must name the damage, where it is and what to do, and exit 1; sluisd must refuse to
# start with that sentence; the undamaged file must still verify and start.
#   audit_damage_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$1"
SLUISD="$2"
T="$(mktemp -d /tmp/sluis-auditdmg-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
H="$T/home"
LOG="$H/data/audit.db"
KEY="$H/keys/root.key"
PAGE=4096

"$CTL" init --home "$H" --raw-key --port 0 --metrics-port 0 >/dev/null
"$CTL" partner add --home "$H" --id ocmw-brussel --type ocmw --name "OCMW Brussel" >/dev/null
"$CTL" worker add --home "$H" --partner ocmw-brussel --worker an --role social-worker >/dev/null

# Enough events for the events table to span many pages: 400 refused reads over one connection.
check "gateway starts" start_gateway "$SLUISD" "$H/sluis.toml"
PORT="$(cat "$T/port")"
URLS=()
for i in $(seq 1 400); do URLS+=("https://127.0.0.1:$PORT/v1/clients/p1unknown$i/dossier"); done
curl -sS --cacert "$H/tls/ca.crt" --cert "$H/partners/ocmw-brussel/ocmw-brussel.crt" \
  --key "$H/partners/ocmw-brussel/ocmw-brussel.key" -H "Sluis-Worker: an" \
  -H "Sluis-Purpose: care-coordination" "${URLS[@]}" >/dev/null
stop_gateway
check "the WAL was folded into the file at the clean stop" test ! -s "$LOG-wal"
cp "$LOG" "$T/good.db"

# The undamaged file verifies, and its page map tells where the events lie.
refuse "the undamaged log verifies" 0 "$CTL" audit verify --key "$KEY" --log "$T/good.db" --page-map
check "...every page passes" grep -q "pages of the file pass their integrity check" "$T/out"
cp "$T/out" "$T/map"
# Leaf pages of the events table: "page N (bytes B): events #A to #Z".
grep -E '^page [0-9]+ \(bytes [0-9]+\): events #[0-9]+ to #[0-9]+$' "$T/map" >"$T/leaves" || true
check "the events span several leaf pages" test "$(wc -l <"$T/leaves")" -ge 5
MIDDLE="$(sed -n 3p "$T/leaves")"
MID_PAGE="$(sed -E 's/^page ([0-9]+) .*/\1/' <<<"$MIDDLE")"
MID_RANGE="$(sed -E 's/^.*: (events #[0-9]+ to #[0-9]+)$/\1/' <<<"$MIDDLE")"
# The newest events' page: start-up reads it (the newest event is where appends continue).
NEWEST_PAGE="$(sort -t'#' -k2 -n "$T/leaves" | tail -1 | sed -E 's/^page ([0-9]+) .*/\1/')"

flip() {  # flip FILE PAGE: three bytes in the middle of that page, as a disk or a hand would
  printf '\xde\xad\xbe' | dd of="$1" bs=1 seek=$((($2 - 1) * PAGE + 1000)) conv=notrunc status=none
}

# --- a page of the events table, in the middle of the log.
cp "$T/good.db" "$T/mid.db"
flip "$T/mid.db" "$MID_PAGE"
refuse "verify fails on a damaged events page" 1 "$CTL" audit verify --key "$KEY" --log "$T/mid.db"
check "...says the file is damaged or altered" grep -q "DAMAGED OR WAS ALTERED" "$T/out"
check "...names the page and its bytes" \
  grep -q "page $MID_PAGE (bytes $((($MID_PAGE - 1) * PAGE)) to $(($MID_PAGE * PAGE - 1))" "$T/out"
check "...names the events it held" grep -q "it holds $MID_RANGE" "$T/out"
check "...only that page" grep -q "1 of its" "$T/out"
check "...points to the DPO guide's incident steps" \
  grep -q 'docs/dpo-guide.md, "When the audit log is damaged or altered"' "$T/out"
check "...and does not hide behind a storage error" bash -c "! grep -q 'could not complete' '$T/out' '$T/err'"

# --- the newest events' page: sluisd refuses to start on it, with the sentence.
cp "$T/good.db" "$LOG"
flip "$LOG" "$NEWEST_PAGE"
refuse "sluisd refuses a log with a damaged page it reads" 1 timeout 60 "$SLUISD" --config "$H/sluis.toml"
check "...saying it is damaged or altered" grep -q "audit log .* is damaged or was altered" "$T/err"
check "...and what to do" grep -q "sluisctl audit verify" "$T/err"
check "...pointing to the incident steps" grep -q "When the audit log is damaged or altered" "$T/err"
refuse "verify names the newest page too" 1 "$CTL" audit verify --key "$KEY" --log "$LOG"
check "...by number" grep -q "page $NEWEST_PAGE (bytes" "$T/out"

# --- page 1: SQLite cannot open the file at all; not mistaken for a wrong key.
cp "$T/good.db" "$LOG"
flip "$LOG" 1
refuse "sluisd refuses a log with a damaged page 1" 1 timeout 60 "$SLUISD" --config "$H/sluis.toml"
check "...as damage, not as a wrong key" grep -q "is damaged or was altered" "$T/err"
refuse "verify names page 1" 1 "$CTL" audit verify --key "$KEY" --log "$LOG"
check "...as the file header" grep -q "page 1 (bytes 0 to 4095): it holds the file header" "$T/out"
check "...with the incident steps" grep -q "When the audit log is damaged or altered" "$T/out"

# --- edited with the key (every page authentic): the stored tree, then a checkpoint.
AUDIT_KEY="$(python3 - "$KEY" <<'EOF'
import hashlib, struct, sys
root = bytes.fromhex([l.split()[1] for l in open(sys.argv[1]) if l.startswith("key ")][0])
salt = struct.pack("<Q", 9) + bytes(8)  # KeyPurpose::audit_store (docs/crypto/key-hierarchy.md)
person = b"sluis-v1" + bytes(8)
print(hashlib.blake2b(b"", digest_size=32, key=root, salt=salt, person=person).hexdigest())
EOF
)"
edit() {  # edit FILE SQL: with the audit file's own key, as someone holding the root key could
  printf "PRAGMA key = \"x'%s'\";\nPRAGMA cipher_page_size = 4096;\n%s\n" "$AUDIT_KEY" "$2" |
    sqlcipher "$1" >/dev/null
}
cp "$T/good.db" "$LOG"
# The largest subtree's node: the tree start-up continues from, and the latest checkpoint's root.
edit "$LOG" "UPDATE merkle_node SET hash = zeroblob(32) WHERE idx = 0 AND level = (SELECT max(level) FROM merkle_node);"
refuse "sluisd refuses a log whose stored tree does not match its checkpoint" 1 \
  timeout 60 "$SLUISD" --config "$H/sluis.toml"
check "...saying so" grep -q "stored tree does not match its latest signed checkpoint" "$T/err"
check "...and what to do" grep -q "When the audit log is damaged or altered" "$T/err"
refuse "verify fails on the edited tree" 1 "$CTL" audit verify --key "$KEY" --log "$LOG"
check "...pages are intact (edited with the key)" bash -c "! grep -q 'DAMAGED OR WAS ALTERED' '$T/out'"
check "...names the tree node that differs" grep -q "tree node (level [0-9]*, index 0) is missing or differs" "$T/out"
check "...with the incident steps" grep -q "When the audit log is damaged or altered" "$T/out"

cp "$T/good.db" "$LOG"
edit "$LOG" "UPDATE audit_checkpoint SET note = replace(note, 'sluis', 'sluiz') WHERE size = (SELECT max(size) FROM audit_checkpoint);"
refuse "sluisd refuses a log whose latest checkpoint was edited" 1 timeout 60 "$SLUISD" --config "$H/sluis.toml"
check "...saying the log was altered" grep -q "was altered" "$T/err"
refuse "verify fails on the edited checkpoint" 1 "$CTL" audit verify --key "$KEY" --log "$LOG"
check "...naming the checkpoint" grep -q "signature does not verify" "$T/out"

# --- the undamaged file: verifies and starts.
cp "$T/good.db" "$LOG"
refuse "the undamaged log still verifies" 0 "$CTL" audit verify --key "$KEY" --log "$LOG"
check "gateway starts on the undamaged log" start_gateway "$SLUISD" "$H/sluis.toml"
stop_gateway

echo "audit damage test: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
