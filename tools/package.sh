#!/usr/bin/env bash
# Builds the Debian package sluis_VERSION_amd64.deb from a build tree (docs/operations.md).
#
#   tools/package.sh [--build DIR] [--out DIR] [--compress xz|gzip]
#
#   --build DIR  the CMake build tree whose sluisd, sluisctl and sluis-console are packaged
#                (default: build/release, configured and built with the release preset first)
#   --out DIR    where the .deb is written (default: the build tree)
#   --compress   xz (default, the smallest) or gzip (fast: the package test uses it)
#
# VERSION is the CMake project version of that build. The package is assembled in a scratch
# directory and built with dpkg-deb --root-owner-group (every file root:root in the archive;
# postinst gives /var/lib/sluis and the conffiles to the sluis user). Prints the .deb's path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD=""
OUT=""
COMPRESS="xz"
while (($#)); do
  case "$1" in
    --build) BUILD="${2:?--build needs a directory}"; shift 2 ;;
    --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
    --compress) COMPRESS="${2:?--compress needs xz or gzip}"; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package: unknown option '$1'; see tools/package.sh --help" >&2; exit 2 ;;
  esac
done

if [[ -z "$BUILD" ]]; then
  BUILD="$ROOT/build/release"
  echo "package: building the release preset into $BUILD" >&2
  (cd "$ROOT" && cmake --preset release >/dev/null &&
     cmake --build --preset release --target sluisd sluisctl sluis-console >&2)
fi
case "$COMPRESS" in
  xz) DEB_COMPRESS=(-Zxz) ;;
  gzip) DEB_COMPRESS=(-Zgzip -z1) ;;
  *) echo "package: --compress must be xz or gzip, not '$COMPRESS'" >&2; exit 2 ;;
esac
BUILD="$(cd "$BUILD" && pwd)"
OUT="$(mkdir -p "${OUT:-$BUILD}" && cd "${OUT:-$BUILD}" && pwd)"

SLUISD="$BUILD/gateway/main/sluisd"
SLUISCTL="$BUILD/tools/sluisctl/sluisctl"
CONSOLE="$BUILD/console/sluis-console"
for b in "$SLUISD" "$SLUISCTL" "$CONSOLE"; do
  [[ -x "$b" ]] || { echo "package: $b is missing; build sluisd, sluisctl and sluis-console in $BUILD first" >&2; exit 1; }
done
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing; run tools/setup.sh deps" >&2; exit 1; }
done

VERSION="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  { echo "package: no project version in $BUILD/CMakeCache.txt (got '$VERSION')" >&2; exit 1; }
MAINTAINER="${SLUIS_MAINTAINER:-$(git -C "$ROOT" log -1 --format='%an <%ae>' 2>/dev/null || true)}"
[[ -n "$MAINTAINER" ]] || MAINTAINER="sluis maintainers <maintainers@sluis.invalid>"
# Reproducible: every date in the package is the commit's (or SOURCE_DATE_EPOCH's).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"

WORK="$(mktemp -d /tmp/sluis-package-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/root"
umask 022

# --- binaries, stripped (the build tree keeps its debug information)
install -d "$PKG/usr/bin" "$PKG/usr/lib/sluis"
for b in "$SLUISD" "$SLUISCTL" "$CONSOLE"; do
  install -m 0755 "$b" "$PKG/usr/bin/"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$PKG/usr/bin/$(basename "$b")"
done
install -m 0755 "$ROOT/packaging/check-home" "$PKG/usr/lib/sluis/check-home"

# --- what the binaries read at run time: the console's web files (web_root in console.toml)
# and the rule packs (sluisctl init copies BIN/../share/sluis/policy/packs/brussels-welfare.toml)
install -d "$PKG/usr/share/sluis/console" "$PKG/usr/share/sluis/policy/packs"
cp -r "$ROOT/console/web" "$PKG/usr/share/sluis/console/web"
install -m 0644 "$ROOT"/policy/packs/*.toml "$PKG/usr/share/sluis/policy/packs/"

# --- systemd units
install -d "$PKG/lib/systemd/system"
install -m 0644 "$ROOT/packaging/sluisd.service" "$ROOT/packaging/sluis-console.service" \
  "$PKG/lib/systemd/system/"

# --- documentation, copyright, changelog
DOC="$PKG/usr/share/doc/sluis"
install -d "$DOC/operations"
install -m 0644 "$ROOT/packaging/debian/copyright" "$DOC/copyright"
install -m 0644 "$ROOT/docs/operations.md" "$DOC/operations.md"
install -m 0644 "$ROOT/docs/operations/tls-and-transport.md" "$DOC/operations/tls-and-transport.md"
sed -e "s/@VERSION@/$VERSION/" -e "s/@MAINTAINER@/$MAINTAINER/" \
  -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" "$ROOT/packaging/debian/changelog" |
  gzip -9n >"$DOC/changelog.gz"

# --- conffiles: the documented defaults, written by the binaries' own init commands into a
# throwaway home, with every path pointing into /var/lib/sluis (secrets) or /usr/share/sluis.
install -d -m 0755 "$PKG/etc/sluis"
"$SLUISCTL" init --home "$WORK/gateway" --raw-key >/dev/null
sed -E \
  -e '1a # Installed by the sluis Debian package (a conffile: your changes are kept on upgrade).\n# sluisctl reads it as /var/lib/sluis/sluis.toml (a link to this file).' \
  -e 's#^(certificate|private_key|ca_certificate|revocation_list|data_dir|key_file|rule_pack|operator_socket)( *)= "([^/"][^"]*)"#\1\2= "/var/lib/sluis/\3"#' \
  "$WORK/gateway/sluis.toml" >"$PKG/etc/sluis/sluis.toml"
"$CONSOLE" init --home "$WORK/console" >/dev/null
sed -E \
  -e '1a # Installed by the sluis Debian package (a conffile: your changes are kept on upgrade).\n# Add a [[partner]] table per served partner at the end (docs/operations.md, "First run").' \
  -e 's#^(root_key_file|database|certificate|private_key)( *)= "([^/"][^"]*)"#\1\2= "/var/lib/sluis/console/\3"#' \
  -e 's#^(threads = .*)$#\1\n\# The console'"'"'s templates, catalogues and static files, installed by the package.\nweb_root = "/usr/share/sluis/console/web"#' \
  "$WORK/console/console.toml" >"$PKG/etc/sluis/console.toml"
chmod 0640 "$PKG/etc/sluis/sluis.toml" "$PKG/etc/sluis/console.toml"
for f in "$PKG/etc/sluis/sluis.toml" "$PKG/etc/sluis/console.toml"; do
  if grep -En '^(certificate|private_key|ca_certificate|revocation_list|data_dir|key_file|rule_pack|operator_socket|root_key_file|database|web_root) *= *"[^/]' "$f"; then
    echo "package: $f keeps a relative path (above); the sed rules above miss a key" >&2
    exit 1
  fi
done
grep -q '^web_root = ' "$PKG/etc/sluis/console.toml" ||
  { echo "package: console.toml got no web_root (its 'threads =' line moved?)" >&2; exit 1; }

# --- control files
install -d "$PKG/DEBIAN"
install -m 0755 "$ROOT/packaging/debian/postinst" "$ROOT/packaging/debian/prerm" \
  "$ROOT/packaging/debian/postrm" "$PKG/DEBIAN/"
printf '/etc/sluis/sluis.toml\n/etc/sluis/console.toml\n' >"$PKG/DEBIAN/conffiles"
chmod 0644 "$PKG/DEBIAN/conffiles"
# Depends: the shared libraries the three binaries load, as dpkg-shlibdeps finds them.
install -d "$WORK/shlibs/debian"
printf 'Source: sluis\n\nPackage: sluis\nArchitecture: amd64\n' >"$WORK/shlibs/debian/control"
DEPENDS="$(cd "$WORK/shlibs" && dpkg-shlibdeps -O \
  "$PKG/usr/bin/sluisd" "$PKG/usr/bin/sluisctl" "$PKG/usr/bin/sluis-console" 2>"$WORK/shlibdeps.err" |
  sed -n 's/^shlibs:Depends=//p')" ||
  { cat "$WORK/shlibdeps.err" >&2; exit 1; }
[[ -n "$DEPENDS" ]] || { cat "$WORK/shlibdeps.err" >&2; echo "package: dpkg-shlibdeps found no libraries" >&2; exit 1; }
INSTALLED_SIZE="$(du -sk --apparent-size --exclude=DEBIAN "$PKG" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@MAINTAINER@/$MAINTAINER/" -e "s/@DEPENDS@/$DEPENDS/" \
  -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" "$ROOT/packaging/debian/control.in" >"$PKG/DEBIAN/control"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
   xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/md5sums"

find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG/usr/share" -type f -exec chmod 0644 {} +
find "$PKG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB="$OUT/sluis_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group "${DEB_COMPRESS[@]}" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
