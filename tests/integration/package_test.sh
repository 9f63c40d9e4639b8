#!/usr/bin/env bash
# The Debian package (issue 16): tools/package.sh builds it from the build under test; its
# contents, modes, owners, conffiles and maintainer scripts are what docs/operations.md says;
# systemd-analyze accepts its units; lintian finds no error; and the packaged sluisd, sluisctl
# and sluis-console, run from the extracted tree (no source tree, no systemd), set up a home the
# documented way and serve a real mTLS request and the console's login page; then the package is
# installed, used, removed and purged for real in a throwaway overlay (package_install_test.sh).
# Every check must be able to fail.
#   package_test.sh BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "$1" && pwd)"
T="$(mktemp -d /tmp/sluis-package-test-XXXXXX)"
PID=""
CPID=""
LPID=""
cleanup() {
  [[ -n "$LPID" ]] && kill -TERM "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
  [[ -n "$CPID" ]] && kill -TERM "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
  [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

# --- build the package from this build's binaries (gzip: xz would take a minute here)
DEB="$("$ROOT/tools/package.sh" --build "$BUILD" --out "$T" --compress gzip)"
VERSION="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")"
check "the package is named sluis_VERSION_amd64.deb" test "$DEB" = "$T/sluis_${VERSION}_amd64.deb"
check "...and exists" test -s "$DEB"
# lintian takes a while: it runs alongside the checks below, its verdict is read at the end.
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$DEB" >"$T/lintian" 2>&1 &
  LPID=$!
fi

# --- contents, modes and owners as the archive records them
dpkg-deb -c "$DEB" >"$T/contents"
entry() {  # entry MODE PATH — that path is in the archive with that mode, owned root/root
  grep -Eq "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2$" "$T/contents"
}
for b in sluisd sluisctl sluis-console; do
  check "usr/bin/$b is in the package, 0755 root" entry -rwxr-xr-x "usr/bin/$b"
done
check "the home check the units run" entry -rwxr-xr-x usr/lib/sluis/check-home
check "the gateway's configuration is a 0640 file" entry -rw-r----- etc/sluis/sluis.toml
check "the console's configuration is a 0640 file" entry -rw-r----- etc/sluis/console.toml
check "the sluisd unit" entry -rw-r--r-- lib/systemd/system/sluisd.service
check "the console unit" entry -rw-r--r-- lib/systemd/system/sluis-console.service
check "the console's templates" entry -rw-r--r-- usr/share/sluis/console/web/templates/login.html
check "the console's catalogues" entry -rw-r--r-- usr/share/sluis/console/web/i18n/nl.toml
check "the console's styles" entry -rw-r--r-- usr/share/sluis/console/web/static/console.css
check "the default rule pack" entry -rw-r--r-- usr/share/sluis/policy/packs/brussels-welfare.toml
check "the copyright file" entry -rw-r--r-- usr/share/doc/sluis/copyright
check "the changelog" entry -rw-r--r-- usr/share/doc/sluis/changelog.gz
check "the operations guide" entry -rw-r--r-- usr/share/doc/sluis/operations.md
check "every file in the archive is root/root" \
  test "$(awk '$2 != "root/root"' "$T/contents" | wc -l)" = 0
check "nothing in the archive is group- or world-writable" \
  test "$(awk 'substr($1,6,1) == "w" || substr($1,9,1) == "w"' "$T/contents" | wc -l)" = 0
check "nothing under /var/lib/sluis is shipped (postinst creates it)" \
  test "$(grep -c '\./var/' "$T/contents" || true)" = 0
check "every web file of the source tree is packaged" test \
  "$(cd "$ROOT/console/web" && find . -type f | wc -l)" = \
  "$(grep -c '\./usr/share/sluis/console/web/.*[^/]$' "$T/contents")"

# --- control files
dpkg-deb -e "$DEB" "$T/control"
check "exactly the two configurations are conffiles" test "$(cat "$T/control/conffiles")" = \
  "$(printf '/etc/sluis/sluis.toml\n/etc/sluis/console.toml')"
field() { sed -n "s/^$1: //p" "$T/control/control"; }
check "Package: sluis" test "$(field Package)" = sluis
check "Version is the CMake project version" test "$(field Version)" = "$VERSION"
check "Architecture: amd64" test "$(field Architecture)" = amd64
for lib in libssl3 libsodium23 libsqlcipher0 libc6 'libstdc\+\+6' adduser procps; do
  check "Depends names $lib" grep -Eq "^Depends: (.*, )?$lib( |,|$)" "$T/control/control"
done
check "the maintainer scripts are executable" test -x "$T/control/postinst" -a \
  -x "$T/control/prerm" -a -x "$T/control/postrm"
for s in postinst prerm postrm; do check "$s is valid sh" sh -n "$T/control/$s"; done
check "postinst makes a system user sluis, only when missing" \
  grep -Eq 'getent passwd sluis >/dev/null; then' "$T/control/postinst"
check "...with adduser --system" grep -q 'adduser --system' "$T/control/postinst"
check "postinst creates /var/lib/sluis 0750 sluis:sluis" \
  grep -q 'install -d -o sluis -g sluis -m 0750 /var/lib/sluis' "$T/control/postinst"
# The purge) branch deletes /var/lib/sluis and no other branch does.
case_of() { awk -v c="  $1)" '$0 ~ "^" c {on=1} on {print} on && /;;/ {exit}' "$T/control/postrm"; }
check "postrm purge deletes /var/lib/sluis" grep -q 'rm -rf /var/lib/sluis' <(case_of purge)
check "...and says what is lost" grep -q 'audit log' <(case_of purge)
check "postrm remove keeps it" test "$(grep -c 'rm -rf' <(case_of remove) || true)" = 0
check "only one place deletes it" test "$(grep -c 'rm -rf /var/lib/sluis' "$T/control/postrm")" = 1

# --- the extracted tree
R="$T/root"
dpkg-deb -x "$DEB" "$R"
for k in key_file data_dir ca_certificate operator_socket rule_pack; do
  check "sluis.toml's $k points into /var/lib/sluis" \
    grep -Eq "^$k *= \"/var/lib/sluis/" "$R/etc/sluis/sluis.toml"
done
check "sluisd logs to stderr (the journal)" grep -Eq '^destination = "stderr"' "$R/etc/sluis/sluis.toml"
for k in root_key_file database; do
  check "console.toml's $k points into /var/lib/sluis/console" \
    grep -Eq "^$k = \"/var/lib/sluis/console/" "$R/etc/sluis/console.toml"
done
check "console.toml's web_root is the packaged web files" \
  grep -q '^web_root = "/usr/share/sluis/console/web"' "$R/etc/sluis/console.toml"
check "the binaries carry no debug information" \
  test "$(readelf -S "$R/usr/bin/sluisd" | grep -c debug_info || true)" = 0

# --- the units: the sandboxing lines docs/operations.md explains, and systemd-analyze verify
for u in sluisd sluis-console; do
  for line in User=sluis ProtectSystem=strict ReadWritePaths=/var/lib/sluis NoNewPrivileges=yes \
      LimitCORE=0 MemoryDenyWriteExecute=yes PrivateTmp=yes ProtectHome=yes \
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' CapabilityBoundingSet= \
      SystemCallFilter=@system-service; do
    check "$u.service has $line" grep -qx "$line" "$R/lib/systemd/system/$u.service"
  done
  check "$u.service checks the home first" \
    grep -q '^ExecStartPre=/usr/lib/sluis/check-home ' "$R/lib/systemd/system/$u.service"
done
check "sluisd.service reloads with SIGHUP" \
  grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$R/lib/systemd/system/sluisd.service"
if command -v systemd-analyze >/dev/null; then
  # verify checks that every Exec path exists: point them at the extracted tree.
  mkdir -p "$T/units"
  for u in sluisd sluis-console; do
    sed -e "s#=/usr/bin/#=$R/usr/bin/#" -e "s#=/usr/lib/sluis/#=$R/usr/lib/sluis/#" \
      "$R/lib/systemd/system/$u.service" >"$T/units/$u.service"
  done
  # verify exits 0 on a directive it ignores (a typo, a wrong value) but says so: no output either.
  verify_clean() { systemd-analyze verify --man=no "$@" >"$T/verify.out" 2>&1 && test ! -s "$T/verify.out"; }
  check "systemd-analyze verify accepts both units, without a warning" \
    verify_clean "$T/units/sluisd.service" "$T/units/sluis-console.service"
  [[ -s "$T/verify.out" ]] && cat "$T/verify.out"
  printf '[Service]\nExecStart=%s\n' "$R/usr/bin/no-such-sluisd" >"$T/units/bad.service"
  refuse "...and would refuse a unit whose program is missing" 1 verify_clean "$T/units/bad.service"
  printf '[Service]\nExecStart=%s\nProtectSystem=stricter\n' "$R/usr/bin/sluisd" >"$T/units/bad.service"
  refuse "...or one with a value systemd ignores" 1 verify_clean "$T/units/bad.service"
else
  echo "SKIP: systemd-analyze verify (systemd-analyze is not installed)"
fi

# --- first run, the documented way, in the scratch tree instead of / (no root, no systemd):
# the conffiles with /var/lib/sluis and /usr/share/sluis moved under $T, the links postinst makes.
H="$T/var/lib/sluis"
install -d -m 0750 "$H" "$T/etc/sluis"
install -d -m 0700 "$H/console"
sed -e "s#/var/lib/sluis#$H#g" -e 's/^port = 8443/port = 0/' -e 's/^port = 9464/port = 0/' \
  "$R/etc/sluis/sluis.toml" >"$T/etc/sluis/sluis.toml"
ln -s "$T/etc/sluis/sluis.toml" "$H/sluis.toml"
cp "$T/etc/sluis/sluis.toml" "$T/sluis.toml.before"

refuse "the unit's home check refuses an uninitialised gateway" 1 \
  "$R/usr/lib/sluis/check-home" gateway "$T/etc/sluis/sluis.toml"
check "...saying it is not initialised" grep -q "the gateway is not initialised" "$T/err"
check "...and the command to run" \
  grep -q "runuser -u sluis -- sluisctl init --home /var/lib/sluis --raw-key" "$T/err"
refuse "the packaged sluisd refuses to start on it too" 1 \
  "$R/usr/bin/sluisd" --config "$T/etc/sluis/sluis.toml"

CTL="$R/usr/bin/sluisctl"
mkdir -p "$T/other"
ln -s "$T/etc/sluis/sluis.toml" "$T/other/sluis.toml"
refuse "init refuses --port with a packaged configuration (edit the file instead)" 2 \
  "$CTL" init --home "$T/other" --raw-key --port 9999
check "...saying where to set it" grep -q "set the address and ports there" "$T/err"
check "...creating nothing" test ! -e "$H/keys"
refuse "sluisctl init --raw-key initialises the packaged home" 0 \
  "$CTL" init --home "$H" --raw-key
check "...copying the packaged rule pack, not the source tree's" \
  grep -q "(from $R/usr/share/sluis/policy/packs/brussels-welfare.toml)" "$T/out"
refuse "a second init refuses the initialised home" 1 "$CTL" init --home "$H" --raw-key
check "...saying it holds a gateway" grep -q "already holds a gateway" "$T/err"
check "the configuration is still the conffile (a link)" test -L "$H/sluis.toml"
check "...and unchanged" cmp -s "$T/etc/sluis/sluis.toml" "$T/sluis.toml.before"
check "the home's directory keeps the package's mode" test "$(stat -c %a "$H")" = 750
check "the root key is 0600" test "$(stat -c %a "$H/keys/root.key")" = 600
check "the CA key is 0600" test "$(stat -c %a "$H/tls/ca.key")" = 600
check "the data directory is 0700" test "$(stat -c %a "$H/data")" = 700
check "the unit's home check passes now" \
  "$R/usr/lib/sluis/check-home" gateway "$T/etc/sluis/sluis.toml"
check "a partner is added" "$CTL" partner add --home "$H" --id ocmw-brussel --type ocmw \
  --name "OCMW Brussel"
check "a worker is added" "$CTL" worker add --home "$H" --partner ocmw-brussel --worker an \
  --role social-worker

# The daemons run as the units run them, as far as that works without systemd:
# no_new_privs (NoNewPrivileges=yes) and the kernel's refusal of writable+executable memory
# (PR_SET_MDWE, what MemoryDenyWriteExecute=yes asks for) when the kernel has it.
cat >"$T/sandbox" <<'EOF'
#!/usr/bin/env python3
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 38, 65, 1
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("sandbox: PR_SET_NO_NEW_PRIVS failed")
if os.environ.get("SLUIS_TEST_MDWE") == "1" and libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit("sandbox: PR_SET_MDWE failed")
os.execvp(sys.argv[1], sys.argv[1:])
EOF
chmod 755 "$T/sandbox"
SANDBOX=()
if command -v python3 >/dev/null; then
  SANDBOX=("$T/sandbox")
  if python3 -c 'import ctypes,sys; l=ctypes.CDLL(None); sys.exit(0 if l.prctl(65,1,0,0,0)==0 else 1)'; then
    export SLUIS_TEST_MDWE=1
  else
    echo "SKIP: MemoryDenyWriteExecute (this kernel has no PR_SET_MDWE); no_new_privs only"
  fi
else
  echo "SKIP: the sandbox wrapper (python3 is missing): the daemons run without no_new_privs/MDWE"
fi
if [[ "${SLUIS_TEST_MDWE:-0}" == 1 ]]; then
  refuse "the sandbox really refuses writable+executable memory" 1 "${SANDBOX[@]}" \
    "$(command -v python3)" -c 'import mmap,sys
try: mmap.mmap(-1, 4096, prot=mmap.PROT_READ|mmap.PROT_WRITE|mmap.PROT_EXEC)
except OSError: sys.exit(1)'
fi
# SystemCallFilter=@system-service: every system call the daemons make here (start, mTLS
# requests, an operator act over the socket, SIGHUP, stop) must be in that set.
TRACE=()
if command -v strace >/dev/null && command -v systemd-analyze >/dev/null; then
  TRACE=(strace -f -qq -o "$T/sluisd.trace")
  # An address-sanitizer build's leak check cannot run under ptrace and would fail the exit; the
  # other tests run these binaries with it.
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
else
  echo "SKIP: the SystemCallFilter=@system-service check (strace or systemd-analyze is missing)"
fi
cat >"$T/sluisd" <<EOF
#!/bin/sh
exec ${SANDBOX[*]} ${TRACE[*]} "$R/usr/bin/sluisd" "\$@"
EOF
chmod 755 "$T/sluisd"
# The system calls of a strace -f log that @system-service (expanded) does not allow.
outside_system_service() {
  python3 - "$1" <<'PY'
import re, subprocess, sys
out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                     check=True).stdout
groups, cur = {}, None
for line in out.splitlines():
    if line.startswith("@"):
        cur = line.strip()
        groups[cur] = []
    elif cur and line.strip() and not line.strip().startswith("#"):
        groups[cur].append(line.strip())
def expand(group, seen):
    names = set()
    for m in groups.get(group, []):
        if m.startswith("@"):
            if m not in seen:
                seen.add(m)
                names |= expand(m, seen)
        else:
            names.add(m)
    return names
allowed = expand("@system-service", set())
used = {m.group(1) for line in open(sys.argv[1])
        if (m := re.match(r"^\d+\s+([a-z0-9_]+)\(", line))}
if not used:
    sys.exit("no system calls in " + sys.argv[1])
print(" ".join(sorted(used - allowed)))
PY
}

check "the packaged sluisd starts on the home (sandboxed)" \
  start_gateway "$T/sluisd" "$T/etc/sluis/sluis.toml"
PORT="$(cat "$T/port" 2>/dev/null || echo 0)"
# The daemon itself: under strace it is strace's child (strace does not pass signals on).
daemon_of() {
  if [[ ${#TRACE[@]} -gt 0 ]]; then ps -o pid= --ppid "$1" | tr -d ' ' | head -n 1; else echo "$1"; fi
}
DPID="$(daemon_of "$PID")"
api() {  # api METHOD PATH [BODY] -> HTTP status in $STATUS, body in $T/body
  local args=(-sS --max-time 10 --cacert "$H/tls/ca.crt"
              --cert "$H/partners/ocmw-brussel/ocmw-brussel.crt"
              --key "$H/partners/ocmw-brussel/ocmw-brussel.key" -H "Sluis-Worker: an"
              -X "$1" -o "$T/body" -w '%{http_code}')
  [[ $# -ge 3 ]] && args+=(-H "Content-Type: application/json" --data "$3")
  STATUS="$(curl "${args[@]}" "https://127.0.0.1:$PORT$2" 2>"$T/curl.err")" || STATUS="curl-failed"
}
api GET /healthz
check "an mTLS request with the partner's certificate is answered (healthz $STATUS)" \
  test "$STATUS" = 200
api POST /v1/clients '{"identifier":{"scheme":"national-register","value":"85.07.30-033.28"}}'
check "a client is registered through the packaged sluisd ($STATUS)" test "$STATUS" = 201
STATUS="$(curl -sS --max-time 10 --cacert "$H/tls/ca.crt" -o /dev/null -w '%{http_code}' \
  "https://127.0.0.1:$PORT/healthz" 2>/dev/null)" || STATUS="refused"
check "...and without a partner certificate nothing is answered" test "$STATUS" != 200
check "an operator act goes through the running sluisd's socket" "$CTL" worker add --home "$H" \
  --partner ocmw-brussel --worker bram --role social-worker
kill -HUP "$DPID"
sleep 0.5
api GET /healthz
check "SIGHUP (the unit's reload) keeps it serving" test "$STATUS" = 200
check "...having reloaded the rule pack" grep -q rule_pack_reloaded "$T/sluisd.log"

# The console, the documented way: its conffile moved under $T, init on the linked home, one
# [[partner]] table added by hand.
CONSOLE_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed -e "s#/var/lib/sluis#$H#g" -e "s#/usr/share/sluis#$R/usr/share/sluis#g" \
  -e "s/^port = 8080/port = $CONSOLE_PORT/" -e "s#localhost:8080#localhost:$CONSOLE_PORT#" \
  "$R/etc/sluis/console.toml" >"$T/etc/sluis/console.toml"
cat >>"$T/etc/sluis/console.toml" <<EOF

[[partner]]
id = "ocmw-brussel"
certificate = "$H/partners/ocmw-brussel/ocmw-brussel.crt"
private_key = "$H/partners/ocmw-brussel/ocmw-brussel.key"
gateway_ca = "$H/tls/ca.crt"
gateway_port = $PORT
EOF
ln -s "$T/etc/sluis/console.toml" "$H/console/console.toml"
refuse "the console's home check refuses it before init" 1 \
  "$R/usr/lib/sluis/check-home" console "$T/etc/sluis/console.toml"
check "...naming sluis-console init" grep -q "sluis-console init --home /var/lib/sluis/console" "$T/err"
check "sluis-console init creates the key and database the conffile names" \
  "$R/usr/bin/sluis-console" init --home "$H/console"
check "...the key 0600" test "$(stat -c %a "$H/console/keys/root.key")" = 600
check "...and leaves the configuration a link" test -L "$H/console/console.toml"
refuse "a second console init refuses" 1 "$R/usr/bin/sluis-console" init --home "$H/console"
CTRACE=()
[[ ${#TRACE[@]} -gt 0 ]] && CTRACE=(strace -f -qq -o "$T/console.trace")
"${SANDBOX[@]}" "${CTRACE[@]}" "$R/usr/bin/sluis-console" serve --config "$T/etc/sluis/console.toml" \
  >"$T/console.log" 2>&1 &
CPID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://localhost:$CONSOLE_PORT/login" && break
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.1
done
STATUS="$(curl -sS -o "$T/login.html" -w '%{http_code}' "http://localhost:$CONSOLE_PORT/login" 2>/dev/null)" ||
  STATUS="curl-failed"
check "the packaged console's login page answers ($STATUS)" test "$STATUS" = 200
[[ "$STATUS" == 200 ]] || cat "$T/console.log"
check "...rendered from the packaged templates" grep -q '<form' "$T/login.html"
kill -TERM "$(daemon_of "$CPID")"
wait "$CPID" 2>/dev/null || true
CPID=""

kill -TERM "$DPID"
RC=0
wait "$PID" || RC=$?
PID=""
check "the packaged sluisd stops cleanly on SIGTERM (exit $RC)" test "$RC" = 0
[[ "$RC" == 0 ]] || tail -5 "$T/sluisd.log"
if [[ ${#TRACE[@]} -gt 0 ]]; then
  OUTSIDE="$(outside_system_service "$T/sluisd.trace")" || OUTSIDE="(no trace)"
  check "sluisd made no system call outside @system-service (${OUTSIDE:-none})" test -z "$OUTSIDE"
  OUTSIDE="$(outside_system_service "$T/console.trace")" || OUTSIDE="(no trace)"
  check "sluis-console made none either (${OUTSIDE:-none})" test -z "$OUTSIDE"
fi

# --- the real thing: dpkg -i, first run as the sluis user, dpkg -r, dpkg --purge, in a
# throwaway overlay of / (skipped, with the reason printed, where that is not possible)
"$(dirname "${BASH_SOURCE[0]}")/package_install_test.sh" "$DEB" >"$T/install.log" 2>&1 || true
grep -E '^(FAIL|SKIP)' "$T/install.log" || true
check "the installed package works and goes away again (package_install_test.sh)" \
  grep -Eq '^(package install: [0-9]+ checks passed, 0 failed|SKIP: )' "$T/install.log"

# --- lintian: no errors (warnings such as no-manual-page are accepted)
if [[ -n "$LPID" ]]; then
  LRC=0
  wait "$LPID" || LRC=$?
  LPID=""
  # lintian exits 1 when it reports an error, 2 when it could not check the package.
  check "lintian checked the package and reports no error (exit $LRC)" test "$LRC" = 0 -a \
    "$(grep -c '^E: ' "$T/lintian" || true)" = 0
  if [[ "$LRC" != 0 ]]; then cat "$T/lintian"; fi
else
  echo "FAIL: lintian is not installed (tools/setup.sh deps installs it)"
  fails=$((fails + 1))
fi

echo "package test: $pass checks passed, $fails failed"
[[ $fails -eq 0 ]]
