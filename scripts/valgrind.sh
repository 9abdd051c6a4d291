#!/usr/bin/env bash
# `npm run test:valgrind [rounds]`: valgrind memcheck of a probe workload
# (scripts/valgrind-workload.js) against the addon in build/Release (built
# with -g in a scratch copy so frames have lines; the tree here is untouched).
#
# Pass: no invalid read/write/free and no use of uninitialised values in the
# addon's frames, nothing definitely lost in the addon's frames, and the
# workload itself finishes. Node and V8 themselves are not judged: they hold
# allocations until exit by design; the report prints their totals for the record.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-40}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 1; }

work=$(mktemp -d /tmp/sockprobe-valgrind.XXXXXX)
trap '[ "${KEEP_VALGRIND_DIR:-}" = 1 ] || rm -rf "$work"' EXIT
mkdir -p "$work/tree"
(cd "$root" && tar --exclude=./node_modules --exclude=./build --exclude=./.git --exclude=./lib --exclude=./prebuilds -cf - .) \
  | tar -xf - -C "$work/tree" || exit 1
ln -s "$root/node_modules" "$work/tree/node_modules"
cd "$work/tree"
echo "== valgrind: building the addon with -g -O1"
CXXFLAGS="-g -O1 -fno-omit-frame-pointer" npx --no-install node-gyp rebuild >"$work/build.log" 2>&1 || {
  cat "$work/build.log"; exit 1; }
npx --no-install tsc -p tsconfig.json || exit 1

log="$work/memcheck.log"
echo "== valgrind: memcheck of $rounds rounds of the probe workload (slow: minutes)"
start=$(date +%s)
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite --track-origins=no --trace-children=no --num-callers=30 \
  --smc-check=all-non-file --log-file="$log" \
  node scripts/valgrind-workload.js "$rounds"
status=$?
echo "== valgrind: workload exit status $status after $(( $(date +%s) - start )) s"

# Split the log into records (blank-line separated) and judge the addon's own.
node - "$log" <<'JS'
const fs = require('node:fs');
const text = fs.readFileSync(process.argv[2], 'utf8').replace(/^==\d+== ?/gm, '');
const records = text.split(/\n\s*\n/);
const ours = (r) => /sockprobe\.node|native\/[a-z_]+\.cc/.test(r);
const access = /Invalid (read|write|free)|Mismatched free|uninitialised|Syscall param .* points to unaddressable|Source and destination overlap/;
const accessAll = records.filter((r) => access.test(r));
const accessOurs = accessAll.filter(ours);
const definite = records.filter((r) => /definitely lost in loss record/.test(r));
const definiteOurs = definite.filter(ours);
const possibleOurs = records.filter((r) => /possibly lost in loss record/.test(r) && ours(r));
const summary = (re) => (text.match(re) || [])[0] || '(none)';
console.log('valgrind summary:');
console.log('  ' + summary(/ERROR SUMMARY:.*/));
console.log('  ' + summary(/definitely lost:.*/));
console.log('  ' + summary(/indirectly lost:.*/));
console.log('  ' + summary(/possibly lost:.*/));
console.log(`  access errors: ${accessAll.length} in all, ${accessOurs.length} in the addon's frames`);
console.log(`  definitely-lost records: ${definite.length} in all, ${definiteOurs.length} in the addon's frames`);
console.log(`  possibly-lost records in the addon's frames: ${possibleOurs.length}`);
for (const r of [...accessOurs, ...definiteOurs, ...possibleOurs]) console.log('---\n' + r.trim());
process.exitCode = accessOurs.length + definiteOurs.length === 0 ? 0 : 1;
JS
judged=$?
tail -n 1 "$work/memcheck.log" >/dev/null
[ "$status" -eq 0 ] || { echo "valgrind: the workload failed"; exit 1; }
[ "$judged" -eq 0 ] || { echo "valgrind: reports in the addon's frames"; exit 1; }
echo "valgrind: clean"
