#!/usr/bin/env bash
# `npm run test:asan`: builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer
# in a scratch copy of the tree (so build/ and lib/ here are left alone) and runs
# the whole jest suite against that binary. Zero sanitizer reports or it fails.
#
# Node itself is not built with ASan, so libasan is put first with LD_PRELOAD
# (the runtime must be loaded before anything it intercepts). Leak detection is
# off: Node and V8 keep allocations alive until exit by design and LeakSanitizer
# would report those; leaks in the addon are covered by the valgrind run
# (scripts/valgrind.sh) and by the in-flight/descriptor checks of the tests.
#
# ASan reports go to log files (log_path), also those of child processes whose
# stderr a test captures. UBSan (gcc 12, loaded this way) ignores log_path and
# writes to stderr; with halt_on_error it also ends the process with status 1,
# which fails the test or the child a test waits for. The script greps jest's
# own output for UBSan's "runtime error:" too, and fails on any report.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
  echo "asan: gcc's libasan.so not found (apt-get install g++ brings libasan)"; exit 1
fi

work=$(mktemp -d /tmp/sockprobe-asan.XXXXXX)
# mktemp makes it 0700; the lab's Unix test probes as `nobody` with the copied lib/, which must be
# reachable as in a normal checkout.
chmod 755 "$work"
cleanup() { [ "${KEEP_ASAN_DIR:-}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
logs="$work/reports"
mkdir -p "$logs"

echo "== asan: copying the tree to $work/tree"
mkdir -p "$work/tree"
tar --exclude=./node_modules --exclude=./build --exclude=./.git --exclude=./lib --exclude=./prebuilds \
  -cf - . | tar -xf - -C "$work/tree" || exit 1
ln -s "$root/node_modules" "$work/tree/node_modules"
cd "$work/tree"

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
echo "== asan: node-gyp rebuild with $san"
CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" npx --no-install node-gyp rebuild >"$work/build.log" 2>&1 || {
  cat "$work/build.log"; echo "asan: build failed"; exit 1; }
if ! ldd build/Release/sockprobe.node | grep libasan >/dev/null; then  # not -q: with pipefail, an early exit of grep fails ldd
  echo "asan: the addon is not linked against libasan"; exit 1
fi
npx --no-install tsc -p tsconfig.json || exit 1

export LD_PRELOAD="$libasan"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:log_path=$logs/report"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/report"

# Canary: prove the plumbing catches a report of each kind the way the addon
# would produce one (sanitized code dlopen()ed by this same node) before
# trusting "zero reports".
canary="$work/canary"
cat >"$canary.cc" <<'CC'
#include <cstdlib>
#include <cstring>
extern "C" __attribute__((constructor)) void sockprobe_canary() {
  const char* which = std::getenv("SOCKPROBE_CANARY");
  if (which == nullptr) return;
  if (std::strcmp(which, "asan") == 0) {
    char* p = static_cast<char*>(std::malloc(4));
    std::free(p);
    volatile char* q = p;
    q[std::strlen(which) - 4] = 1;  // use after free
  } else {
    volatile int big = 0x7fffffff;
    volatile int r = big + static_cast<int>(std::strlen(which));  // signed overflow
    (void)r;
  }
}
CC
g++ -shared -fPIC $san -o "$canary.so" "$canary.cc" || exit 1
load="try { process.dlopen({ exports: {} }, '$canary.so') } catch {}"
{ SOCKPROBE_CANARY=asan node -e "$load"; } >/dev/null 2>&1  # aborts, by design
if ! ls "$logs"/report.* >/dev/null 2>&1 || ! grep -q heap-use-after-free "$logs"/report.*; then
  echo "asan: the canary's use-after-free was not reported: the sanitizer setup is broken"; exit 1
fi
rm -f "$logs"/*
if SOCKPROBE_CANARY=ubsan node -e "$load" 2>"$work/canary.err" || ! grep -q 'runtime error:' "$work/canary.err"; then
  echo "asan: the canary's signed overflow was not reported: the sanitizer setup is broken"; exit 1
fi
echo "== asan: canaries reported (heap-use-after-free, signed overflow): the sanitizers are live"

echo "== asan: jest (whole suite) against the sanitized addon"
node node_modules/.bin/jest --ci "$@" 2>&1 | tee "$work/jest.log"
status=${PIPESTATUS[0]}

reports=$(ls "$logs" 2>/dev/null | wc -l)
ub=$(grep -c 'runtime error:' "$work/jest.log")
reports=$((reports + ub))
if [ "$reports" -ne 0 ]; then
  echo "== asan: $reports sanitizer report(s):"
  for f in "$logs"/*; do [ -e "$f" ] && { echo "--- $f"; cat "$f"; }; done
  grep -A8 'runtime error:' "$work/jest.log"
  [ "$status" -eq 0 ] && status=1
fi
echo "asan: $reports sanitizer reports, jest exit status $status"
exit "$status"
