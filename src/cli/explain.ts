// `sockprobe explain [options] TARGET`: the troubleshooting checklist, one
// marked line per step, then the likely cause and the next thing to check.
import type { Diagnosis } from '../explain';
import type { ProbeTarget } from '../probe';
import type { Settings } from './command-line';
import { EXIT_NOT_OPEN, EXIT_OPEN } from './exit-codes';
import { BOLD, colourOn, DIM, mark, painter, type CliIO, type Paint } from './output';

// Required when explain runs: it loads the native addon.
type ExplainModule = typeof import('../explain.js');
const loadExplain = (): ExplainModule['explain'] => (require('../explain') as ExplainModule).explain;

function explainLines(d: Diagnosis, paint: Paint): string {
  const width = Math.max(...d.steps.map((s) => s.step.length));
  let out = `${paint(BOLD, `sockprobe explain ${d.target}`)}\n`;
  for (const s of d.steps) {
    out += `${mark(s.verdict, paint)} ${s.step.padEnd(width)}  ${s.summary}\n`;
    for (const line of s.details) out += `  ${' '.repeat(width)}    ${paint(DIM, line)}\n`;
  }
  out += `${paint(BOLD, 'cause:')} ${d.cause.text}\n`;
  out += `${paint(BOLD, 'next:')}  ${d.next}\n`;
  return out;
}

export async function runExplain(s: Settings, io: CliIO, signal: AbortSignal): Promise<number> {
  const explain = loadExplain();
  const d = await explain(s.targets[0] as ProbeTarget, { timeout: s.timeout, family: s.family, signal, trace: s.trace });
  if (s.json) io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
  else if (!s.quiet) io.stdout.write(explainLines(d, painter(colourOn(io.stdout, io.env))));
  return d.ok ? EXIT_OPEN : EXIT_NOT_OPEN;
}
