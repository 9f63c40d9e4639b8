#!/usr/bin/env bash
# Drives the real sluisctl binary: key files, cards, usage errors. Every check must be able to fail.
#   sluisctl_cli_test.sh SLUISCTL
set -euo pipefail
CTL="$1"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

# --- keys
printf 'correct horse battery staple\n' >"$T/pass"
printf 'wrong passphrase\n' >"$T/wrong"
check "sealed key is written" "$CTL" key new --out "$T/root.key" --passphrase-file "$T/pass" \
  --argon2-ops 2 --argon2-mem-mib 16
check "sealed key file is mode 0600" test "$(stat -c %a "$T/root.key")" = 600
check "sealed key opens" "$CTL" key check "$T/root.key" --passphrase-file "$T/pass"
refuse "wrong passphrase is refused" 1 "$CTL" key check "$T/root.key" --passphrase-file "$T/wrong"
check "wrong passphrase says so" grep -qi passphrase "$T/err"
refuse "existing key file is never overwritten" 1 "$CTL" key new --out "$T/root.key" --raw
check "raw key is written" "$CTL" key new --out "$T/raw.key" --raw
check "raw key opens" "$CTL" key check "$T/raw.key"
chmod 644 "$T/raw.key"
refuse "world-readable key file is refused" 1 "$CTL" key check "$T/raw.key"
refuse "missing key file is refused" 1 "$CTL" key check "$T/nope.key"
refuse "unknown option is a usage error" 2 "$CTL" key new --out "$T/x" --rwa
refuse "missing --out is a usage error" 2 "$CTL" key new --raw
refuse "unknown group is a usage error" 2 "$CTL" frobnicate

# --- cards
CODE="$("$CTL" card new --code-only --qr-svg "$T/card.svg")"
check "card code has 9 groups of 3" grep -Eq '^([0-9A-Y]{3}-){8}[0-9A-Y]{3}$' <<<"$CODE"
check "QR code is an SVG" grep -q '<svg' "$T/card.svg"
check "QR SVG holds no code text" bash -c "! grep -q '${CODE:0:7}' '$T/card.svg'"
A="$("$CTL" card pseudonym --service shelter-a "$CODE")"
B="$("$CTL" card pseudonym --service shelter-b "$CODE")"
A2="$("$CTL" card pseudonym --service shelter-a "$(tr 'A-Z' 'a-z' <<<"$CODE" | tr -d '-')")"
A3="$(printf '%s\n' "$CODE" | "$CTL" card pseudonym --service shelter-a)"
check "pseudonym format" grep -Eq '^sp1-[0-9a-f]{64}$' <<<"$A"
check "same card, same service: stable (forgiving of case and dashes)" test "$A" = "$A2"
check "code read from standard input" test "$A" = "$A3"
check "same card, two services: different pseudonyms" test "$A" != "$B"
first="${CODE:0:1}"
other=$([[ "$first" == "7" ]] && echo 8 || echo 7)
refuse "a typo is caught" 1 "$CTL" card pseudonym --service shelter-a "${other}${CODE:1}"
check "the typo message says typo" grep -q typo "$T/err"
refuse "garbage is not a card code" 1 "$CTL" card pseudonym --service shelter-a "hello world"
refuse "pseudonym without --service is a usage error" 2 "$CTL" card pseudonym "$CODE"

echo "sluisctl CLI: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
