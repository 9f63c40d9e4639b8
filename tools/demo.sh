#!/usr/bin/env bash
# The README's first command ends here: a demo gateway with a small Brussels sector, walked
# through with plain curl, in words a social worker would understand. Leaves sluisd running.
#
#   tools/demo.sh BUILD_DIR      (normally called by: tools/setup.sh demo)
#
# Environment: SLUIS_DEMO_DIR (default ./demo), SLUIS_DEMO_PORT (default 8443; 0 = any free
# port), SLUIS_DEMO_STOP=1 stops the gateway at the end (the test suite uses this).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
CTL="$BUILD/tools/sluisctl/sluisctl"
SLUISD="$BUILD/gateway/main/sluisd"
CONSOLE="$BUILD/console/sluis-console"
DEMO="${SLUIS_DEMO_DIR:-$ROOT/demo}"
PORT_WANTED="${SLUIS_DEMO_PORT:-8443}"
H="$DEMO/gateway"

for b in "$CTL" "$SLUISD" "$CONSOLE"; do
  [[ -x "$b" ]] || { echo "demo: $b is missing; run ./tools/setup.sh demo" >&2; exit 1; }
done

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -1; }

# A demo from before is stopped and replaced.
for pidfile in "$DEMO/sluisd.pid" "$DEMO/console.pid"; do
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -TERM "$(cat "$pidfile")" || true
    sleep 1
  fi
done
rm -rf "$DEMO"
mkdir -p "$DEMO"
chmod 700 "$DEMO"

step "1. Setting up a gateway for a small Brussels sector"
"$CTL" init --home "$H" --raw-key --port "$PORT_WANTED" --metrics-port 0 >/dev/null
partner() { "$CTL" partner add --home "$H" --id "$1" --type "$2" --name "$3" >/dev/null; }
worker() { "$CTL" worker add --home "$H" --partner "$1" --worker "$2" --role "$3" >/dev/null; }
partner ocmw-brussel ocmw "OCMW Brussel"
partner caw-brussel caw "CAW Brussel"
partner thuiszorg-brussel home-care "Thuiszorg Brussel"
partner nachtopvang-brussel low-threshold "Nachtopvang Brussel"
worker ocmw-brussel an social-worker
worker caw-brussel bram social-worker
worker thuiszorg-brussel chloe nurse
worker nachtopvang-brussel dirk social-worker
worker ocmw-brussel olivia dpo
say "Four services are connected, each with its own certificate:"
say "  OCMW Brussel (An, social worker), CAW Brussel (Bram, social worker),"
say "  Thuiszorg Brussel (Chloé, nurse), Nachtopvang Brussel, a night shelter (Dirk);"
say "  Olivia is the OCMW's data protection officer."

"$SLUISD" --config "$H/sluis.toml" --port-file "$DEMO/port" >"$DEMO/sluisd.log" 2>&1 &
echo $! >"$DEMO/sluisd.pid"
for _ in $(seq 1 100); do
  [[ -s "$DEMO/port" ]] && break
  kill -0 "$(cat "$DEMO/sluisd.pid")" 2>/dev/null || { cat "$DEMO/sluisd.log" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$DEMO/port" ]] || { echo "demo: sluisd did not start; see $DEMO/sluisd.log" >&2; exit 1; }
PORT="$(cat "$DEMO/port")"
URL="https://127.0.0.1:$PORT"
say "The gateway is running at $URL (log: $DEMO/sluisd.log)."

# call PARTNER WORKER METHOD PATH [PURPOSE] [BODY] — the answer goes to $DEMO/body, its HTTP
# status to STATUS (no subshell, so STATUS survives).
call() {
  local p="$1" w="$2" m="$3" path="$4" purpose="${5:-}" body="${6:-}"
  local args=(-sS --cacert "$H/tls/ca.crt" --cert "$H/partners/$p/$p.crt"
              --key "$H/partners/$p/$p.key" -H "Sluis-Worker: $w" -X "$m"
              -o "$DEMO/body" -w '%{http_code}')
  [[ -n "$purpose" ]] && args+=(-H "Sluis-Purpose: $purpose")
  [[ -n "$body" ]] && args+=(-H "Content-Type: application/json" --data "$body")
  STATUS="$(curl "${args[@]}" "$URL$path")"
}
field() { json_field "$1" <"$DEMO/body"; }
count_fragments() { grep -o '"fragment":"' "$DEMO/body" | wc -l | tr -d ' '; }
expect() {  # expect STATUS what-it-means
  [[ "$STATUS" == "$1" ]] || { echo "demo: expected HTTP $1 for: $2, got $STATUS: $(cat "$DEMO/body")" >&2; exit 1; }
}
now() { date -u -d "${1:-now}" +%Y-%m-%dT%H:%M:%SZ; }

step "2. Mr. Peeters is registered at the OCMW and at the CAW"
NRN='{"identifier":{"scheme":"national-register","value":"85.07.30-033.28"}}'
call ocmw-brussel an POST /v1/clients "" "$NRN"; P_OCMW="$(field client)"; expect 201 "registration"
call caw-brussel bram POST /v1/clients "" "$NRN"; P_CAW="$(field client)"; expect 201 "registration"
say "The OCMW knows him as $P_OCMW"
say "The CAW knows him as   $P_CAW"
say "Same person, two unrelated names: the services cannot match their files behind his back."

step "3. An (OCMW) writes down his housing situation"
call ocmw-brussel an POST "/v1/clients/$P_OCMW/fragments" "" \
  '{"category":"housing","fields":{"situation":"sleeps at a friend'"'"'s place","since":"2025-01"}}'
expect 201 "fragment"
call ocmw-brussel an POST "/v1/clients/$P_OCMW/fragments" "" \
  '{"category":"contact","fields":{"phone":"+32 2 555 01 01"}}'
expect 201 "fragment"
say "Stored encrypted, field by field, under a key that belongs to this client and category."

step "4. Bram (CAW) asks to see the file, to coordinate care"
call caw-brussel bram GET "/v1/clients/$P_CAW/dossier" care-coordination; expect 200 "read"
say "He sees $(count_fragments) pieces of information: Mr. Peeters has not agreed to share anything."
say "(The answer looks exactly like a file with nothing in it: nothing hints that data exists.)"

step "5. Mr. Peeters agrees that the CAW may see his housing situation for 90 days"
CONSENT='{"id":"draft","status":"active","legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},"categories":["housing"],"purposes":["care-coordination"],"period":{"start":"'"$(now '-1 minute')"'","end":"'"$(now '+90 days')"'"}}],"evidence":{"recorded_by":{"partner":"ocmw-brussel","worker":"an","role":"social-worker"},"channel":"in-person","language":"nl","recorded_at":"'"$(now '-1 minute')"'"}}'
call ocmw-brussel an POST "/v1/clients/$P_OCMW/consents" "" "$CONSENT"; CONSENT_ID="$(field id)"
expect 201 "consent"
say "An records the consent (in person, in Dutch). A printable receipt exists:"
call ocmw-brussel an GET "/v1/clients/$P_OCMW/consents/$CONSENT_ID/receipt?lang=nl" \
  administration; cp "$DEMO/body" "$DEMO/receipt.html"
expect 200 "receipt"
say "  $DEMO/receipt.html"
call caw-brussel bram GET "/v1/clients/$P_CAW/dossier" care-coordination; expect 200 "read"
say "Bram asks again and now sees $(count_fragments) piece: the housing situation, and only that."

step "6. Mr. Peeters changes his mind"
call ocmw-brussel an DELETE "/v1/clients/$P_OCMW/consents/$CONSENT_ID" administration
expect 200 "revocation"
call caw-brussel bram GET "/v1/clients/$P_CAW/dossier" care-coordination; expect 200 "read"
say "Withdrawn at once: Bram sees $(count_fragments) pieces again."

step "7. An anonymous guest at the night shelter"
CODE="$("$CTL" card new --code-only --qr-svg "$DEMO/card.svg")"
say "Dirk gives the guest a card with code $CODE (QR code: $DEMO/card.svg)."
SP_SHELTER="$("$CTL" card pseudonym --service nachtopvang-brussel "$CODE")"
call nachtopvang-brussel dirk POST /v1/clients "" \
  '{"service_pseudonym":"'"$SP_SHELTER"'"}'; P_SHELTER="$(field client)"
expect 201 "anonymous registration"
call nachtopvang-brussel dirk POST "/v1/clients/$P_SHELTER/fragments" "" \
  '{"category":"appointment","fields":{"next":"Tuesday 10:00, medical check"}}'
expect 201 "fragment"
say "The shelter's system only ever sends a pseudonym derived from the card; no name, no number."
call nachtopvang-brussel dirk POST "/v1/clients/$P_SHELTER/fragments" "" \
  '{"category":"identity","fields":{"name":"J. Doe"}}'
expect 422 "identifying data on an anonymous client"
say "Trying to store a name on an anonymous guest is refused (HTTP $STATUS)."

step "8. The guest goes to the CAW and chooses to bring their history along"
SP_CAW="$("$CTL" card pseudonym --service caw-brussel "$CODE")"
call caw-brussel bram POST /v1/links "" \
  '{"own_pseudonym":"'"$SP_CAW"'","first_service":"nachtopvang-brussel","first_pseudonym":"'"$SP_SHELTER"'","consent_reference":"paper-form-2026-117"}'
P_LINK="$(field client)"
expect 200 "link"
say "The guest showed the card at the CAW and agreed: the two records are now linked."
LCONSENT='{"id":"draft","status":"active","legal_basis":"consent","provisions":[{"grantee":{"partner":"caw-brussel"},"categories":["appointment"],"purposes":["care-coordination"],"period":{"start":"'"$(now '-1 minute')"'","end":"'"$(now '+30 days')"'"}}],"evidence":{"recorded_by":{"partner":"caw-brussel","worker":"bram","role":"social-worker"},"channel":"paper-signed","language":"fr","recorded_at":"'"$(now '-1 minute')"'"}}'
call caw-brussel bram POST "/v1/clients/$P_LINK/consents" "" "$LCONSENT"
expect 201 "consent"
call caw-brussel bram GET "/v1/clients/$P_LINK/dossier" care-coordination; expect 200 "read"
say "With the link and the guest's consent, Bram sees $(count_fragments) piece: the appointment."

step "9. An emergency at home: Chloé (home care) breaks the glass"
call thuiszorg-brussel chloe POST /v1/clients "" "$NRN"; P_HOME="$(field client)"
call thuiszorg-brussel chloe POST "/v1/clients/$P_HOME/break-glass" "" \
  '{"categories":["contact"],"reason":"client unresponsive at home, need to reach his contacts","minutes":60}'
expect 201 "break-the-glass"
call thuiszorg-brussel chloe GET "/v1/clients/$P_HOME/dossier" emergency; expect 200 "read"
say "Without consent, with a stated reason, for one hour: Chloé sees $(count_fragments) piece (contact)."
say "It is flagged for the data protection officer and will appear in Mr. Peeters' access report."

step "10. Who saw Mr. Peeters' data? (his access report, in Dutch)"
call ocmw-brussel an GET "/v1/clients/$P_OCMW/access-report?lang=nl" administration
cp "$DEMO/body" "$DEMO/access-report.html"
expect 200 "access report"
grep -o '<tr[^>]*><td>.*</tr>' "$DEMO/access-report.html" | sed -e 's/<br>/ — /g' -e 's/<[^>]*>/ | /g' \
  -e 's/\( | \)\+/ | /g' -e 's/^ | //' -e 's/ | $//' | sed 's/^/    /'
say "Printable on paper, one page per month: $DEMO/access-report.html (also in French and English)."

step "11. The web console, for the people without a case-management system"
CONSOLE_PORT="${SLUIS_DEMO_CONSOLE_PORT:-8080}"
if [[ "$PORT_WANTED" == "0" ]]; then  # the test suite: any free port
  CONSOLE_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
fi
"$CONSOLE" init --home "$DEMO/console" --port "$CONSOLE_PORT" --gateway-home "$H" --gateway-port "$PORT" \
  --partner ocmw-brussel --partner caw-brussel --partner thuiszorg-brussel \
  --partner nachtopvang-brussel >/dev/null
# The DPO's log-health page witnesses the audit log with the verifier key the operator hands
# over out of band (here: read from the gateway's own files). A top-level key: before [[partner]].
VKEY="$("$CTL" audit checkpoint --key "$H/keys/root.key" --log "$H/data/audit.db" 2>/dev/null |
  sed -n 's/^Verifier key: //p' || true)"
if [[ -n "$VKEY" ]]; then
  { echo "audit_verifier_key = \"$VKEY\""; cat "$DEMO/console/console.toml"; } >"$DEMO/console/console.toml.new"
  cat "$DEMO/console/console.toml.new" >"$DEMO/console/console.toml" && rm "$DEMO/console/console.toml.new"
fi
"$CONSOLE" serve --config "$DEMO/console/console.toml" >"$DEMO/console.log" 2>&1 &
echo $! >"$DEMO/console.pid"
CONSOLE_URL="http://localhost:$CONSOLE_PORT"
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$CONSOLE_URL/login" && break
  kill -0 "$(cat "$DEMO/console.pid")" 2>/dev/null || { cat "$DEMO/console.log" >&2; exit 1; }
  sleep 0.1
done
curl -s -o /dev/null "$CONSOLE_URL/login" || { echo "demo: the console did not start; see $DEMO/console.log" >&2; exit 1; }
say "The console is running at $CONSOLE_URL (log: $DEMO/console.log). Open it in Chromium on this"
say "machine. Each demo worker enrols a passkey with a one-time link (valid 24 hours), as the"
say "console administrator of their service:"
for pw in ocmw-brussel:an:admin caw-brussel:bram:admin thuiszorg-brussel:chloe:admin \
  nachtopvang-brussel:dirk:admin ocmw-brussel:olivia:dpo; do
  IFS=: read -r p w r <<<"$pw"
  LINK="$("$CONSOLE" account invite --config "$DEMO/console/console.toml" --partner "$p" \
    --worker "$w" --role "$r")"
  say "  $w ($p, console role $r): $LINK"
done

step "The gateway keeps running"
say "Address:       $URL   (CA: $H/tls/ca.crt, partner certificates: $H/partners/)"
say "Try it:        curl --cacert $H/tls/ca.crt --cert $H/partners/caw-brussel/caw-brussel.crt \\"
say "                 --key $H/partners/caw-brussel/caw-brussel.key -H 'Sluis-Worker: bram' $URL/healthz"
say "Console:       $CONSOLE_URL"
say "Stop them:     kill \$(cat $DEMO/sluisd.pid) \$(cat $DEMO/console.pid)"
if [[ "${SLUIS_DEMO_STOP:-0}" == "1" ]]; then
  kill -TERM "$(cat "$DEMO/console.pid")"
  wait "$(cat "$DEMO/console.pid")" 2>/dev/null || true
  kill -TERM "$(cat "$DEMO/sluisd.pid")"
  wait "$(cat "$DEMO/sluisd.pid")" 2>/dev/null || true
  say "(stopped, as asked by SLUIS_DEMO_STOP=1)"
fi
