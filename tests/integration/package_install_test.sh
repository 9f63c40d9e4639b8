#!/usr/bin/env bash
# Installs the Debian package for real — dpkg -i, the maintainer scripts, the documented first
# run as the sluis user, an mTLS request, dpkg -r and dpkg --purge — in a throwaway copy of this
# machine: an overlay over / in a private mount namespace, so nothing reaches the real system.
# Called by package_test.sh (which counts its FAIL lines); needs root and overlayfs.
#   package_install_test.sh DEB
set -euo pipefail
DEB="$1"
if [[ $EUID -ne 0 ]] || ! command -v unshare >/dev/null; then
  echo "SKIP: installing the package (needs root and unshare for a throwaway overlay of /)"
  exit 0
fi

# Re-run inside a private mount namespace, with the overlay mounted; its mounts end with it,
# and this process then removes the (empty) scratch directory.
if [[ "${SLUIS_IN_OVERLAY:-}" != 1 ]]; then
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: installing the package (no private mount namespace here: unshare -m failed)"
    exit 0
  fi
  T="$(mktemp -d /tmp/sluis-package-install-XXXXXX)"
  trap 'rm -rf "$T"' EXIT
  rc=0
  unshare -m --propagation private env SLUIS_IN_OVERLAY=1 SLUIS_OVERLAY_T="$T" \
    bash "${BASH_SOURCE[0]}" "$DEB" || rc=$?
  exit "$rc"
fi
T="$SLUIS_OVERLAY_T"
if ! mount -t tmpfs tmpfs "$T" 2>"$T.mount.err"; then
  echo "SKIP: installing the package (cannot mount a tmpfs here: $(cat "$T.mount.err"))"
  rm -f "$T.mount.err"
  exit 0
fi
rm -f "$T.mount.err"
mkdir -p "$T/upper" "$T/work" "$T/m"
if ! mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/m" 2>"$T/mount.err"; then
  echo "SKIP: installing the package (no overlay of / here: $(cat "$T/mount.err"))"
  exit 0
fi
M="$T/m"
mount --bind /proc "$M/proc"
mount --bind /dev "$M/dev"
mount -t tmpfs tmpfs "$M/run"   # no /run/systemd/system: the scripts skip systemctl, as in a container
mkdir -p "$M/tmp/deb"
cp "$DEB" "$M/tmp/deb/"
DEB_IN="/tmp/deb/$(basename "$DEB")"
in_root() { chroot "$M" "$@"; }
fails=0
pass=0
check() {
  local d="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $d"; fails=$((fails + 1)); fi
}
PID=""
trap '[[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true' EXIT

if in_root getent passwd sluis >/dev/null; then
  echo "SKIP: installing the package (this machine has a sluis account already)"
  exit 0
fi
check "dpkg -i installs the package" in_root dpkg -i "$DEB_IN" >"$T/install.out" 2>&1 ||
  cat "$T/install.out"
check "...and says what to do next" grep -q "sluisctl init --home /var/lib/sluis" "$T/install.out"
check "postinst made the system user sluis" in_root getent passwd sluis >/dev/null
check "...a system account (uid below 1000)" test "$(in_root id -u sluis)" -lt 1000
check "...that cannot log in" test "$(in_root getent passwd sluis | cut -d: -f7)" = /usr/sbin/nologin
check "/var/lib/sluis is sluis:sluis 0750" \
  test "$(in_root stat -c '%U:%G %a' /var/lib/sluis)" = "sluis:sluis 750"
check "/var/lib/sluis/console is sluis:sluis 0700" \
  test "$(in_root stat -c '%U:%G %a' /var/lib/sluis/console)" = "sluis:sluis 700"
check "the conffiles are root:sluis 0640" \
  test "$(in_root stat -c '%U:%G %a' /etc/sluis/sluis.toml /etc/sluis/console.toml | sort -u)" = \
  "root:sluis 640"
check "the home links the gateway's conffile" \
  test "$(in_root readlink /var/lib/sluis/sluis.toml)" = /etc/sluis/sluis.toml
check "the console's home links its conffile" \
  test "$(in_root readlink /var/lib/sluis/console/console.toml)" = /etc/sluis/console.toml
check "sluisctl is on the PATH" in_root sh -c 'command -v sluisctl' >/dev/null
check "a second dpkg -i (postinst configure again) succeeds" in_root dpkg -i "$DEB_IN" \
  >"$T/reinstall.out" 2>&1 || cat "$T/reinstall.out"
check "...keeping one sluis account" test "$(in_root getent passwd | grep -c '^sluis:')" = 1

# First run, as docs/operations.md says (with free ports: this machine runs other tests).
in_root sed -i -e 's/^port = 8443/port = 0/' -e 's/^port = 9464/port = 0/' /etc/sluis/sluis.toml
# A home made by root instead is refused by the unit's check, with the way out.
in_root sluisctl init --home /var/lib/sluis --raw-key >/dev/null 2>&1
check "the unit's check refuses a home sluisd cannot read (made by root)" \
  test "$(in_root runuser -u sluis -- /usr/lib/sluis/check-home gateway /etc/sluis/sluis.toml \
    2>&1 >/dev/null | grep -c 'not readable by sluis')" = 1
in_root sh -c 'cd /var/lib/sluis && rm -rf keys tls policy data partners'
check "sluisctl init as the sluis user" \
  in_root runuser -u sluis -- sluisctl init --home /var/lib/sluis --raw-key >"$T/init.out" 2>&1 ||
  cat "$T/init.out"
check "...its files are the sluis user's" \
  test "$(in_root stat -c '%U %a' /var/lib/sluis/keys/root.key)" = "sluis 600"
check "the unit's home check passes as the sluis user" \
  in_root runuser -u sluis -- /usr/lib/sluis/check-home gateway /etc/sluis/sluis.toml
check "a partner is added as the sluis user" in_root runuser -u sluis -- sluisctl partner add \
  --home /var/lib/sluis --id ocmw-brussel --type ocmw --name "OCMW Brussel" >/dev/null
in_root runuser -u sluis -- sluisctl worker add --home /var/lib/sluis --partner ocmw-brussel \
  --worker an --role social-worker >/dev/null
chroot "$M" runuser -u sluis -- /usr/bin/sluisd --config /etc/sluis/sluis.toml \
  --port-file /var/lib/sluis/port >"$T/sluisd.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do
  [[ -s "$M/var/lib/sluis/port" ]] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
P="$M/var/lib/sluis/partners/ocmw-brussel/ocmw-brussel"
STATUS="$(curl -sS --max-time 10 --cacert "$M/var/lib/sluis/tls/ca.crt" --cert "$P.crt" \
  --key "$P.key" -H "Sluis-Worker: an" -o /dev/null -w '%{http_code}' \
  "https://127.0.0.1:$(cat "$M/var/lib/sluis/port" 2>/dev/null || echo 1)/healthz" 2>/dev/null)" ||
  STATUS="curl-failed"
check "the installed sluisd, run as sluis, answers an mTLS request ($STATUS)" test "$STATUS" = 200
[[ "$STATUS" == 200 ]] || cat "$T/sluisd.log"
kill -TERM "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
PID=""

# An upgrade (the same package again) keeps the edited conffile, its owner and mode, and the home.
KEY_SUM="$(md5sum <"$M/var/lib/sluis/keys/root.key")"
check "dpkg -i over the initialised gateway (an upgrade) succeeds" in_root dpkg -i "$DEB_IN" \
  >"$T/upgrade.out" 2>&1 || cat "$T/upgrade.out"
check "...keeping the edited conffile" grep -q '^port = 0' "$M/etc/sluis/sluis.toml"
check "...still root:sluis 0640" \
  test "$(in_root stat -c '%U:%G %a' /etc/sluis/sluis.toml)" = "root:sluis 640"
check "...and the home as it was" test "$(md5sum <"$M/var/lib/sluis/keys/root.key")" = "$KEY_SUM" -a \
  "$(in_root stat -c '%U:%G %a' /var/lib/sluis)" = "sluis:sluis 750"
check "...without repeating the first-run note" test "$(grep -c 'Create the gateway' "$T/upgrade.out" || true)" = 0

check "dpkg -r removes the package" in_root dpkg -r sluis >"$T/remove.out" 2>&1 ||
  cat "$T/remove.out"
check "...the binaries are gone" test ! -e "$M/usr/bin/sluisd"
check "...the gateway's keys and store are kept" test -s "$M/var/lib/sluis/keys/root.key" -a \
  -s "$M/var/lib/sluis/data/data.db"
check "...and the (edited) conffile" test -e "$M/etc/sluis/sluis.toml"
check "dpkg --purge purges it" in_root dpkg --purge sluis >"$T/purge.out" 2>&1 ||
  cat "$T/purge.out"
check "...deleting /var/lib/sluis" test ! -e "$M/var/lib/sluis"
check "...with a note saying what is lost" grep -q "deleting /var/lib/sluis" "$T/purge.out"
check "...and /etc/sluis" test ! -e "$M/etc/sluis"
check "...and the conffiles' statoverrides" \
  test "$(in_root dpkg-statoverride --list | grep -c /etc/sluis || true)" = 0

echo "package install: $pass checks passed, $fails failed"
[[ $fails -eq 0 ]]
