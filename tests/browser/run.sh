#!/usr/bin/env bash
# Browser tests of sluis-console (CTest label `browser`): a real sluisd with two partners, the
# real sluis-console serving both, and Debian's Chromium driven by playwright-core with a CDP
# virtual authenticator (every tests/browser/*.test.mjs, sharing tests/browser/lib.mjs).
# Screenshots go to docs/console/.
#
#   tests/browser/run.sh SLUISCTL SLUISD SLUIS_CONSOLE
set -euo pipefail
CTL="$1" SLUISD="$2" CONSOLE="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
T="$(mktemp -d)"
chmod 700 "$T"
. "$ROOT/tests/integration/testlib.sh"
CONSOLE_PID="" HTTPS_PID=""
cleanup() {
  [[ -n "$CONSOLE_PID" ]] && kill -TERM "$CONSOLE_PID" 2>/dev/null && wait "$CONSOLE_PID" || true
  [[ -n "$HTTPS_PID" ]] && kill -TERM "$HTTPS_PID" 2>/dev/null && wait "$HTTPS_PID" || true
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" || true
  rm -rf "$T"
}
trap cleanup EXIT

CHROMIUM="${SLUIS_CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] || { echo "browser tests: $CHROMIUM is missing; run ./tools/setup.sh deps" >&2; exit 1; }
if [[ ! -d "$HERE/node_modules/playwright-core" || ! -d "$HERE/node_modules/axe-core" ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null)
fi

# The gateway: two partners, each with an admin and a worker known to sluisd.
"$CTL" init --home "$T/gw" --raw-key --port 0 --metrics-port 0 >/dev/null
"$CTL" partner add --home "$T/gw" --id ocmw-brussel --type ocmw --name "OCMW Brussel" >/dev/null
"$CTL" partner add --home "$T/gw" --id caw-brussel --type caw --name "CAW Brussel" >/dev/null
for w in an an2 an3 ann zed; do
  "$CTL" worker add --home "$T/gw" --partner ocmw-brussel --worker "$w" --role social-worker >/dev/null
done
for w in bram carl; do
  "$CTL" worker add --home "$T/gw" --partner caw-brussel --worker "$w" --role social-worker >/dev/null
done
# Each test file has its own partners and workers, so the files never see each other's data:
# worker.test.mjs: ocmw-brussel wanda, wout; caw-brussel walt.
for w in wanda wout; do
  "$CTL" worker add --home "$T/gw" --partner ocmw-brussel --worker "$w" --role social-worker >/dev/null
done
"$CTL" worker add --home "$T/gw" --partner caw-brussel --worker walt --role social-worker >/dev/null
# lowthreshold.test.mjs: two low-threshold services, straat (lena) and nacht (luc).
"$CTL" partner add --home "$T/gw" --id straat --type low-threshold --name "Straatwerk Brussel" >/dev/null
"$CTL" partner add --home "$T/gw" --id nacht --type low-threshold --name "Nachtopvang Brussel" >/dev/null
"$CTL" worker add --home "$T/gw" --partner straat --worker lena --role social-worker >/dev/null
"$CTL" worker add --home "$T/gw" --partner nacht --worker luc --role social-worker >/dev/null
# dpo.test.mjs: ocmw-brussel dora (DPO), olga (the client's worker), adam (console admin);
# caw-brussel bart (breaks the glass).
"$CTL" worker add --home "$T/gw" --partner ocmw-brussel --worker dora --role dpo >/dev/null
"$CTL" worker add --home "$T/gw" --partner ocmw-brussel --worker olga --role social-worker >/dev/null
"$CTL" worker add --home "$T/gw" --partner ocmw-brussel --worker adam --role coordinator >/dev/null
"$CTL" worker add --home "$T/gw" --partner caw-brussel --worker bart --role social-worker >/dev/null
# story.test.mjs: the whole demo story across the areas — ocmw-story sonja (worker), dina (DPO);
# caw-story stef; low-threshold straat-story (sara) and nacht-story (simon).
"$CTL" partner add --home "$T/gw" --id ocmw-story --type ocmw --name "OCMW Verhaal" >/dev/null
"$CTL" partner add --home "$T/gw" --id caw-story --type caw --name "CAW Verhaal" >/dev/null
"$CTL" partner add --home "$T/gw" --id straat-story --type low-threshold --name "Straatwerk Verhaal" >/dev/null
"$CTL" partner add --home "$T/gw" --id nacht-story --type low-threshold --name "Nachtopvang Verhaal" >/dev/null
"$CTL" worker add --home "$T/gw" --partner ocmw-story --worker sonja --role social-worker >/dev/null
"$CTL" worker add --home "$T/gw" --partner ocmw-story --worker dina --role dpo >/dev/null
"$CTL" worker add --home "$T/gw" --partner caw-story --worker stef --role social-worker >/dev/null
"$CTL" worker add --home "$T/gw" --partner straat-story --worker sara --role social-worker >/dev/null
"$CTL" worker add --home "$T/gw" --partner nacht-story --worker simon --role social-worker >/dev/null
start_gateway "$SLUISD" "$T/gw/sluis.toml"
GPORT="$(cat "$T/port")"

# The console on a free loopback port (plain HTTP on localhost: a secure context for Chromium).
CPORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$CONSOLE" init --home "$T/console" --port "$CPORT" --gateway-home "$T/gw" --gateway-port "$GPORT" \
  --partner ocmw-brussel --partner caw-brussel --partner straat --partner nacht \
  --partner ocmw-story --partner caw-story --partner straat-story --partner nacht-story >/dev/null
# dpo.test.mjs: the console witnesses the audit log with the verifier key sluisctl prints (a
# top-level key, so it goes before the [[partner]] tables).
VKEY="$("$CTL" audit checkpoint --key "$T/gw/keys/root.key" --log "$T/gw/data/audit.db" 2>/dev/null | sed -n 's/^Verifier key: //p' || true)"
[[ -n "$VKEY" ]] || { echo "browser tests: no audit verifier key from sluisctl" >&2; exit 1; }
{ echo "audit_verifier_key = \"$VKEY\""; cat "$T/console/console.toml"; } >"$T/console/console.toml.new"
cat "$T/console/console.toml.new" >"$T/console/console.toml" && rm "$T/console/console.toml.new"
"$CONSOLE" serve --config "$T/console/console.toml" >"$T/console.log" 2>&1 &
CONSOLE_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://localhost:$CPORT/login" && break
  kill -0 "$CONSOLE_PID" 2>/dev/null || { cat "$T/console.log"; exit 1; }
  sleep 0.1
done

rc=0
# SLUIS_BROWSER_ONLY=story runs only tests/browser/story.test.mjs (default: every file).
FILES=("$HERE"/*.test.mjs)
[[ -n "${SLUIS_BROWSER_ONLY:-}" ]] && FILES=("$HERE/${SLUIS_BROWSER_ONLY}.test.mjs")
# A second console as production runs it: https with its own server certificate (a fresh key;
# https.test.mjs makes Chromium trust exactly that key with --ignore-certificate-errors-spki-list,
# as an organisation's managed browsers trust its certificate — no warning is clicked away).
HPORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$CONSOLE" init --home "$T/console-https" --port "$HPORT" --origin "https://localhost:$HPORT" \
  --gateway-home "$T/gw" --gateway-port "$GPORT" --partner ocmw-brussel >/dev/null
mkdir -p "$T/console-https/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost" -keyout "$T/console-https/tls/console.key" \
  -out "$T/console-https/tls/console.crt" 2>/dev/null
chmod 600 "$T/console-https/tls/console.key"
HTTPS_SPKI="$(openssl x509 -in "$T/console-https/tls/console.crt" -pubkey -noout |
  openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)"
"$CONSOLE" serve --config "$T/console-https/console.toml" >"$T/console-https.log" 2>&1 &
HTTPS_PID=$!
for _ in $(seq 1 100); do
  curl -sk -o /dev/null "https://localhost:$HPORT/login" && break
  kill -0 "$HTTPS_PID" 2>/dev/null || { cat "$T/console-https.log"; exit 1; }
  sleep 0.1
done

CONSOLE_URL="http://localhost:$CPORT" CONSOLE_BIN="$CONSOLE" CONSOLE_CONFIG="$T/console/console.toml" \
  CHROMIUM="$CHROMIUM" SCREENSHOTS="$ROOT/docs/console" CATALOGUES="$ROOT/console/web/i18n" \
  CONSOLE_LOG="$T/console.log" SLUISD_LOG="$T/sluisd.log" GATEWAY_HOME="$T/gw" \
  HTTPS_URL="https://localhost:$HPORT" HTTPS_SPKI="$HTTPS_SPKI" HTTPS_CONFIG="$T/console-https/console.toml" \
  node --test --test-concurrency=1 "${FILES[@]}" || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "--- console log"; tail -50 "$T/console.log"; echo "--- sluisd log"; tail -20 "$T/sluisd.log"
fi
exit $rc
