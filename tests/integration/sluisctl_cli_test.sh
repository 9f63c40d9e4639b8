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

# --- every command answers --help: usage on stdout, exit 0, nothing on stderr. The list comes
# from sluisctl's own command table (which dispatch goes through), so a new command is walked too.
"$CTL" commands >"$T/commands"
check "the command table lists the commands" test "$(wc -l <"$T/commands")" -ge 25
check "...including init and partner revoke" grep -qx "partner revoke" "$T/commands"
check "...and audit access-report" grep -qx "audit access-report" "$T/commands"
# Every group in the top-level usage is in the table (the usage cannot name a missing one).
"$CTL" --help >"$T/usage"
for g in init partner worker rotate backup client status key card policy audit; do
  check "top-level usage names $g" grep -Eq "^  $g( |$)" "$T/usage"
  check "the table has $g" grep -Eq "^$g( |$)" "$T/commands"
done
helps() {  # helps GROUP COMMAND ARGS... — usage naming both on stdout, nothing on stderr, exit 0
  local group="$1" command="$2" rc=0
  shift 2
  "$CTL" "$@" >"$T/help.out" 2>"$T/help.err" </dev/null || rc=$?
  [[ $rc -eq 0 && ! -s "$T/help.err" ]] && grep -q "usage" "$T/help.out" &&
    grep -q "sluisctl $group" "$T/help.out" && grep -qw -- "${command:-$group}" "$T/help.out"
}
while read -r group command; do
  w=("$group" ${command:+"$command"})
  check "sluisctl ${w[*]} --help" helps "$group" "$command" "${w[@]}" --help
  check "sluisctl ${w[*]} -h" helps "$group" "$command" "${w[@]}" -h
  check "sluisctl $group --help" helps "$group" "" "$group" --help
  check "sluisctl $group help" helps "$group" "" "$group" help
  # --help wins over everything else on the line: nothing runs, nothing is created.
  check "sluisctl ${w[*]} --home X --help does nothing" \
    helps "$group" "$command" "${w[@]}" --home "$T/never" --help
done <"$T/commands"
check "no --help created anything" test ! -e "$T/never"
refuse "an unknown command of a group is a usage error" 2 "$CTL" partner frobnicate
check "...naming the commands there are" grep -q "add, list, revoke" "$T/err"

# --- init: the API on loopback unless told otherwise; the ports are options.
check "init with defaults" bash -c "'$CTL' init --home '$T/gw1' --raw-key >/dev/null"
check "...listens on loopback only" grep -q '^listen_address = "127.0.0.1"' "$T/gw1/sluis.toml"
check "...on port 8443, metrics on 9464" \
  bash -c "grep -q '^port = 8443' '$T/gw1/sluis.toml' && grep -q '^port = 9464' '$T/gw1/sluis.toml'"
check "init --listen-address 0.0.0.0 --port 9443 --metrics-port 8443" "$CTL" init \
  --home "$T/gw2" --raw-key --listen-address 0.0.0.0 --port 9443 --metrics-port 8443
check "...writes the address" grep -q '^listen_address = "0.0.0.0"' "$T/gw2/sluis.toml"
check "...and both ports where they belong ([server] first, then [metrics])" \
  test "$(awk '/^port = /{print $3}' "$T/gw2/sluis.toml" | paste -sd,)" = "9443,8443"
check "init --listen-address ::1" "$CTL" init --home "$T/gw3" --raw-key --listen-address ::1
check "...writes it" grep -q '^listen_address = "::1"' "$T/gw3/sluis.toml"
refuse "a listen address that is not numeric is a usage error" 2 "$CTL" init --home "$T/gw4" \
  --raw-key --listen-address gateway.example
check "...saying what to give" grep -q "numeric IPv4 or IPv6" "$T/err"
check "...and creating nothing" test ! -e "$T/gw4"
refuse "a port over 65535 is a usage error" 2 "$CTL" init --home "$T/gw5" --raw-key --port 70000
check "...creating nothing" test ! -e "$T/gw5"

echo "sluisctl CLI: $pass passed, $fails failed"
[[ $fails -eq 0 ]]
