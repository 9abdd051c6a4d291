// `sockprobe [options] TARGET...`: probe every target at once, one line each
// (exit 0 only when all are open, as Docker's HEALTHCHECK wants), or with
// --wait, wait for them as waitFor() does.
import { describe } from '../describe';
import type { ProbeTarget } from '../probe';
import { formatTarget } from '../target';
import type { ProbeResult } from '../types';
import type { Settings } from './command-line';
import { EXIT_NOT_OPEN, EXIT_OPEN } from './exit-codes';
import { colourOn, DIM, mark, painter, type CliIO, type Paint } from './output';

/** With --wait on a terminal: how often the progress line is redrawn. */
const PROGRESS_MS = 250;

// Types only: the modules that load the native addon are required when a
// probe runs, so --help, --version and usage errors work without a binary.
type ProbeModule = typeof import('../probe.js');
type WaitForModule = typeof import('../health/waitFor.js');
const loadProbe = (): ProbeModule['probe'] => (require('../probe') as ProbeModule).probe;
const loadWaitFor = (): WaitForModule => require('../health/waitFor') as WaitForModule;

function probeLines(results: readonly ProbeResult[], paint: Paint): string {
  return results.map((r) => `${mark(r.status === 'open' ? 'pass' : 'fail', paint)} ${describe(r)}\n`).join('');
}

interface WaitOutcome {
  results: ProbeResult[];
  elapsedMs: number;
}

/**
 * --wait: waitFor() on every target at once, each with the whole --timeout,
 * so the command waits exactly as the library does (backoff, jitter, cap).
 * On a terminal a line on stderr says which targets are still awaited.
 */
async function waitForAll(s: Settings, io: CliIO, signal: AbortSignal): Promise<WaitOutcome> {
  const { waitFor, WaitTimeoutError } = loadWaitFor();
  const started = performance.now();
  const waiting = new Set(s.targets.map((t) => formatTarget(t)));
  let ticker: NodeJS.Timeout | undefined;
  if (io.stderr.isTTY === true && !s.quiet) {
    const paint = painter(colourOn(io.stderr, io.env));
    const total = (s.timeout / 1000).toFixed(1);
    const show = (): void => {
      const [first] = waiting;
      if (first === undefined) return;
      const more = waiting.size > 1 ? ` and ${waiting.size - 1} more` : '';
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      io.stderr.write(`\r\u001b[K${paint(DIM, `waiting for ${first}${more} (${seconds} s of ${total} s)`)}`);
    };
    show();
    ticker = setInterval(show, PROGRESS_MS);
  }
  try {
    const results = await Promise.all(
      s.targets.map(async (t) => {
        try {
          return await waitFor(t, { timeout: s.timeout, ...(s.family === 0 ? {} : { family: s.family }), signal });
        } catch (error) {
          if (error instanceof WaitTimeoutError) return error.lastResult;
          throw error;
        } finally {
          waiting.delete(formatTarget(t));
        }
      }),
    );
    return { results, elapsedMs: Math.round(performance.now() - started) };
  } finally {
    if (ticker !== undefined) {
      clearInterval(ticker);
      io.stderr.write('\r\u001b[K');
    }
  }
}

export async function runProbe(s: Settings, io: CliIO, signal: AbortSignal): Promise<number> {
  let results: ProbeResult[];
  let wait: { elapsedMs: number } | undefined;
  if (s.wait) {
    const outcome = await waitForAll(s, io, signal);
    results = outcome.results;
    wait = { elapsedMs: outcome.elapsedMs };
  } else {
    const probe = loadProbe();
    results = await Promise.all(s.targets.map((t) => probe(t, { timeout: s.timeout, family: s.family, signal })));
  }
  const ok = results.every((r) => r.status === 'open');
  if (s.json) {
    const targets = results.map((result, i) => ({ target: formatTarget(s.targets[i] as ProbeTarget), result }));
    io.stdout.write(`${JSON.stringify({ ok, ...(wait === undefined ? {} : { wait }), targets }, null, 2)}\n`);
  } else if (!s.quiet) {
    io.stdout.write(probeLines(results, painter(colourOn(io.stdout, io.env))));
  }
  return ok ? EXIT_OPEN : EXIT_NOT_OPEN;
}
