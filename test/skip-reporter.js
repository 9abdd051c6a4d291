// A jest reporter that lists, after the summary, every test skipped because a
// precondition was missing (test/preconditions.ts puts the reason in the title)
// and any other skipped test. jest prints nothing of a test file whose tests
// were all skipped, not even its console.warn, so without this a skipped lab
// would be silent.
'use strict';
const path = require('node:path');

const MARK = '[SKIPPED: ';

class SkipReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    // Grouped by file and top-level block: "file › block (N tests)", with the reason.
    const groups = new Map();
    const plain = [];
    for (const file of results.testResults) {
      const rel = path.relative(this.rootDir, file.testFilePath);
      for (const t of file.testResults) {
        if (t.status !== 'pending' && t.status !== 'skipped') continue;
        const names = [...t.ancestorTitles, t.title];
        const marked = names.find((n) => n.includes(MARK));
        if (marked === undefined) {
          plain.push(`${rel} › ${names.join(' › ')}`);
          continue;
        }
        const reason = marked.slice(marked.indexOf(MARK) + MARK.length, -1);
        const block = names[0].includes(MARK) ? names[0].slice(0, names[0].indexOf(MARK)).trimEnd() : names[0];
        const key = `${rel} › ${block}\0${reason}`;
        groups.set(key, (groups.get(key) ?? 0) + 1);
      }
    }
    if (groups.size === 0 && plain.length === 0) return;
    const out = [''];
    if (groups.size > 0) {
      out.push('*** SKIPPED because something they need is missing here (not passed: nothing was tested;');
      out.push('*** SOCKPROBE_LAB=required, as .ci/run sets, makes each a failure):');
      for (const [key, n] of groups) {
        const [where, reason] = key.split('\0');
        out.push(`  - ${where} (${n} ${n === 1 ? 'test' : 'tests'})`);
        out.push(`      missing ${reason}`);
      }
    }
    if (plain.length > 0) {
      out.push('Other skipped tests:');
      for (const t of plain) out.push(`  - ${t}`);
    }
    process.stderr.write(`${out.join('\n')}\n`);
  }
}

module.exports = SkipReporter;
