#!/usr/bin/env bash
# The README's first command ends here: a guided walk through what sluis does, in plain words.
#
#   tools/demo.sh BUILD_DIR      (normally called by: tools/setup.sh demo)
#
# Until the networked gateway (sluisd) lands, the demo shows the parts that exist: a root key,
# an anonymous client's card and the pseudonyms two services derive from it, and the access
# policy deciding — and explaining — who may read what.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
CTL="$BUILD/tools/sluisctl/sluisctl"
PACK="$ROOT/policy/packs/brussels-welfare.toml"
DEMO="${SLUIS_DEMO_DIR:-$ROOT/demo}"

[[ -x "$CTL" ]] || { echo "demo: $CTL is missing; run ./tools/setup.sh demo" >&2; exit 1; }
mkdir -p "$DEMO"
chmod 700 "$DEMO"

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }

step "1. The gateway's root key"
say "Everything sluis stores is encrypted under keys that come from one root key."
say "We make a demo key, sealed under a passphrase with Argon2id."
rm -f "$DEMO/root.key"
printf 'demo passphrase, do not use in production\n' > "$DEMO/passphrase"
chmod 600 "$DEMO/passphrase"
"$CTL" key new --out "$DEMO/root.key" --passphrase-file "$DEMO/passphrase" \
  --argon2-ops 2 --argon2-mem-mib 64 | sed 's/^/  /'
"$CTL" key check "$DEMO/root.key" --passphrase-file "$DEMO/passphrase" | sed 's/^/  /'

step "2. An anonymous client at the night shelter"
say "Anonymity is the rule at low-threshold services. The shelter gives the client a card;"
say "the card holds a secret code. Only pseudonyms derived from it ever reach the gateway."
CODE="$("$CTL" card new --code-only --qr-svg "$DEMO/card.svg")"
say "Card code printed on the card: $CODE   (QR code: $DEMO/card.svg)"
P_SHELTER="$("$CTL" card pseudonym --service nachtopvang-brussel "$CODE")"
P_CAW="$("$CTL" card pseudonym --service caw-brussel "$CODE")"
say "The shelter's system sends:     $P_SHELTER"
say "The CAW's system would send:    $P_CAW"
say "The two are unrelated: no one can match them without the card in hand."
say "A typo in the code is caught:"
TYPO="${CODE:0:1}$( [[ "${CODE:1:1}" == "7" ]] && echo 8 || echo 7 )${CODE:2}"
if "$CTL" card pseudonym --service caw-brussel "$TYPO" >/dev/null 2>"$DEMO/typo.err"; then
  say "(unexpected: the mistyped code was accepted)"
  exit 1
fi
say "  $(cat "$DEMO/typo.err")"

step "3. The sector's rules"
say "The Brussels welfare rule pack says which role may read which kind of information,"
say "for which purpose, and when consent or an emergency is needed."
"$CTL" policy check "$PACK" | sed 's/^/  /'

explain() {
  "$CTL" policy explain --pack "$PACK" "$@" | sed 's/^/    /'
}
step "4. A CAW social worker asks for the OCMW's housing information (care coordination)"
say "Without the client's consent:"
explain --role social-worker --partner-type caw --owner-type ocmw --category housing \
  --purpose care-coordination --consent none --relationship yes || true
say "After the client agreed (consent recorded):"
explain --role social-worker --partner-type caw --owner-type ocmw --category housing \
  --purpose care-coordination --consent active --relationship yes || true
say "After the client withdrew the consent:"
explain --role social-worker --partner-type caw --owner-type ocmw --category housing \
  --purpose care-coordination --consent revoked --relationship yes || true

step "5. An emergency: a home-care nurse needs health information, no consent on file"
explain --role nurse --partner-type home-care --owner-type community-health --category health \
  --purpose emergency --consent none --relationship yes --break-glass valid || true
say "This is 'breaking the glass': allowed only for a stated reason, for a short time,"
say "flagged for the data protection officer and reported to the client."

step "Done"
say "Files of this demo are in $DEMO."
say "The networked gateway (sluisd) is not built yet; when it is, this demo will start it here."
