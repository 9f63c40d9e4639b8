#!/usr/bin/env bash
# Sets up a Debian 12 machine for sluis (installs packages), builds, and runs the tests or the demo.
#
#   tools/setup.sh test        install, build with sanitizers (-Werror), run the whole test suite,
#                              then the concurrency tests under the thread sanitizer
#   tools/setup.sh demo        install, build release, start a demo gateway and walk through it
#   tools/setup.sh deps        install the Debian packages only
#   tools/setup.sh build NAME  install, then configure and build CMake preset NAME
#
# Idempotent: packages already installed are not fetched again; builds are incremental.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config git ca-certificates curl openssl
  clang-19 libclang-rt-19-dev libfuzzer-19-dev clang-format-19 clang-tidy-19
  # libraries (BRIEF.md §6)
  libboost1.81-dev libboost-system1.81-dev libboost-program-options1.81-dev
  libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlcipher-dev sqlcipher
  catch2 libbenchmark-dev libtomlplusplus-dev libqrencode-dev
  # the PostgreSQL engine (gateway/pgstore): its client library, and the server its tests start
  # (initdb + pg_ctl from /usr/lib/postgresql/15/bin, run as the package's postgres user as root)
  libpq-dev postgresql-15
  # test and measurement tools: the nginx baseline and the profiles (docs/performance.md), the
  # TLS scan and the core-dump canary check (docs/threat-model.md)
  nginx-light testssl.sh gdb linux-perf
  # the Debian package (tools/package.sh; dpkg-shlibdeps comes with build-essential's dpkg-dev)
  # and its test: lintian, strace for the units' system-call filter, python3 for its sandbox
  # wrapper (no_new_privs, PR_SET_MDWE)
  dpkg-dev lintian strace python3
  # the console's browser tests (tests/browser/): Debian's Chromium, driven from node; node also
  # runs the pseudonym.js test against the C++ card code (tests/console/); test tooling only
  chromium nodejs
)

say() { printf '\n== %s\n' "$*"; }

install_deps() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    say "All ${#PACKAGES[@]} Debian packages are installed"
    if ! command -v npm >/dev/null; then
      if [[ $EUID -ne 0 ]]; then install_npm sudo; else install_npm; fi
    fi
    return
  fi
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "setup: ${#missing[@]} packages are missing and this is not root; run as root." >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  say "Installing ${#missing[@]} Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
  install_npm "${sudo[@]}"
}

# npm for the browser tests' `npm ci`. Debian's nodejs comes without it (Debian's own `npm`
# package); a NodeSource nodejs already has it and conflicts with that package, so it is
# installed only when no npm is found.
install_npm() {
  command -v npm >/dev/null && return
  say "Installing Debian's npm (the browser tests run npm ci)"
  DEBIAN_FRONTEND=noninteractive "$@" apt-get install -y -q --no-install-recommends npm
}

build() {
  local preset="$1"
  say "Configuring and building preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
}

cmd="${1:-}"
case "$cmd" in
  deps)
    install_deps
    ;;
  build)
    [[ $# -ge 2 ]] || { echo "usage: tools/setup.sh build PRESET (dev|asan|release|fuzz)" >&2; exit 2; }
    install_deps
    build "$2"
    ;;
  test)
    install_deps
    build asan
    # The browser tests' npm packages, exactly as locked (no browser download: Debian's chromium).
    say "Installing the browser tests' npm packages (npm ci)"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund)
    # The concurrency tests run again under the thread sanitizer (store, audit group commit,
    # operator socket, sweeper). Their build goes on beside the suite at the lowest priority: the
    # suite's tests wait on sockets, processes and disks much of the time, and take the CPU
    # whenever they want it. The server tests stay out: OpenSSL and Asio are not built
    # instrumented; so do the PostgreSQL runs (libpq is not instrumented either; they ran under
    # asan).
    say "Configuring the thread-sanitizer build; it builds beside the suite (build/tsan-build.log)"
    cmake --preset tsan >/dev/null
    mkdir -p "$ROOT/build"
    nice -n 19 cmake --build --preset tsan >"$ROOT/build/tsan-build.log" 2>&1 &
    local_tsan_build=$!
    trap 'kill "$local_tsan_build" 2>/dev/null || true' EXIT
    say "Running the whole test suite (address+undefined sanitizers)"
    ctest --preset asan
    say "Waiting for the thread-sanitizer build"
    if ! wait "$local_tsan_build"; then
      tail -n 60 "$ROOT/build/tsan-build.log" >&2
      echo "setup: the thread-sanitizer build failed (build/tsan-build.log)" >&2
      exit 1
    fi
    trap - EXIT
    say "Running the concurrency tests under the thread sanitizer"
    ctest --test-dir build/tsan -R '^(gateway|operator):' -LE postgresql -j 2 --output-on-failure
    ;;
  demo)
    install_deps
    build release
    exec "$ROOT/tools/demo.sh" "$ROOT/build/release"
    ;;
  *)
    echo "usage: tools/setup.sh test|demo|deps|build PRESET" >&2
    exit 2
    ;;
esac
