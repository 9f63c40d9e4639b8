#!/usr/bin/env bash
# Scans a real sluisd with Debian's testssl.sh in its widest allowed configuration (TLS 1.2
# switched on) and checks: no protocol below TLS 1.2, only ECDHE + AEAD suites, no weak cipher
# category, strong curves only; and with OpenSSL's client: a connection without a client
# certificate is refused in the handshake, the default configuration refuses TLS 1.2.
#   tls_scan_test.sh SLUISCTL SLUISD
set -euo pipefail
CTL="$1"
SLUISD="$2"
TESTSSL="$(command -v testssl || command -v testssl.sh || true)"
if [[ -z "$TESTSSL" ]]; then
  echo "tls scan: testssl.sh is not installed; run 'tools/setup.sh deps' (Debian package testssl.sh)"
  exit 1
fi
T="$(mktemp -d /tmp/sluis-tlsscan-XXXXXX)"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
start() { start_gateway "$SLUISD" "$H/sluis.toml"; }
# probe [openssl s_client options...]: one HTTP request; stdout+stderr of the client in $T/probe
probe() {
  printf 'GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n' |
    timeout 20 openssl s_client -connect "127.0.0.1:$(cat "$T/port")" -CAfile "$H/tls/ca.crt" \
      -quiet "$@" >"$T/probe" 2>&1 || true
}

H="$T/home"
"$CTL" init --home "$H" --raw-key --port 0 --metrics-port 0 >/dev/null
"$CTL" partner add --home "$H" --id ocmw-brussel --type ocmw --name "OCMW Brussel" >/dev/null
CERT=(-cert "$H/partners/ocmw-brussel/ocmw-brussel.crt" -key "$H/partners/ocmw-brussel/ocmw-brussel.key")

# --- the default configuration: TLS 1.3 only
check "gateway starts (default configuration)" start
probe -tls1_2 "${CERT[@]}"
check "default: TLS 1.2 is refused" grep -q "alert protocol version" "$T/probe"
probe -tls1_3 "${CERT[@]}"
check "default: TLS 1.3 with a partner certificate is served" grep -q "HTTP/1.1 200" "$T/probe"
probe -tls1_3
check "without a client certificate: refused in the handshake" \
  grep -q "alert certificate required" "$T/probe"
check "without a client certificate: no HTTP answer" bash -c "! grep -q 'HTTP/1.1' '$T/probe'"
stop_gateway

# --- the widest configuration an operator may choose: TLS 1.2 with ECDHE + AEAD as well
sed -i 's/^allow_tls12 = false/allow_tls12 = true/' "$H/sluis.toml"
check "gateway starts (allow_tls12 = true)" start
probe -tls1_2
check "TLS 1.2 without a client certificate: refused" bash -c "! grep -q 'HTTP/1.1' '$T/probe'"
probe -tls1_2 "${CERT[@]}"
check "TLS 1.2 with a partner certificate is served" grep -q "HTTP/1.1 200" "$T/probe"

"$TESTSSL" --quiet --color 0 --warnings off --nodns none --ip 127.0.0.1 -p -s -f -E \
  --csvfile "$T/scan.csv" "127.0.0.1:$(cat "$T/port")" >"$T/scan.txt" 2>&1 || true
check "testssl.sh produced findings" test -s "$T/scan.csv"
finding() {  # finding ID -> the finding text of that id
  awk -F'","' -v id="$1" '{ gsub(/^"/, "", $1) } $1 == id { print $5 }' "$T/scan.csv"
}
for p in SSLv2 SSLv3 TLS1 TLS1_1; do
  check "$p not offered" test "$(finding "$p")" = "not offered"
done
check "TLS 1.2 offered (configured)" grep -q "^offered" <<<"$(finding TLS1_2)"
check "TLS 1.3 offered" grep -q "^offered" <<<"$(finding TLS1_3)"
for c in NULL aNULL EXPORT LOW 3DES_IDEA AVERAGE; do
  check "cipher category $c not offered" test "$(finding "cipherlist_$c")" = "not offered"
done
check "forward secrecy offered" test "$(finding PFS)" = "offered"
# Every suite the server accepts, per protocol: name in column 4 of the finding.
awk -F'","' '{ gsub(/^"/, "", $1) } $1 ~ /^cipher-tls1_[23]_x/ { print $5 }' "$T/scan.csv" \
  | awk '{ print $4 }' >"$T/suites"
check "the scan listed the accepted suites" test "$(wc -l <"$T/suites")" -ge 3
check "TLS 1.2 suites are ECDHE with AES-GCM or ChaCha20-Poly1305 only" \
  bash -c "! grep -v '^TLS_' '$T/suites' | grep -Ev '^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$'"
check "TLS 1.3 suites are AEAD" \
  bash -c "! grep '^TLS_' '$T/suites' | grep -Ev '^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$'"
check "no finite-field DH, RSA key exchange or CBC suite" bash -c "! grep -Eq '^(DHE|AES|CAMELLIA|DES)|CBC|SHA$' '$T/suites'"
curves="$(finding PFS_ECDHE_curves)"
check "key exchange groups are X25519 or NIST P-256 and larger" \
  bash -c "[[ -n '$curves' ]] && ! tr ' ' '\n' <<<'$curves' | grep -Ev '^(X25519|X448|prime256v1|secp384r1|secp521r1)$'"
stop_gateway

echo "tls scan: $pass passed, $fails failed ($(wc -l <"$T/suites") suites accepted: $(tr '\n' ' ' <"$T/suites"))"
[[ $fails -eq 0 ]]
