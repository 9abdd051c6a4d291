// The `sockprobe` command: probe targets (exit 0 only when all are open, as
// Docker's HEALTHCHECK wants), wait for them, or explain what is wrong.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describe } from './describe';
import { AbortError } from './errors';
// Types only: the modules that load the native addon are required when a
// probe runs, so --help, --version and usage errors work without a binary.
import type { Diagnosis, Verdict } from './explain';
import type { ProbeTarget } from './probe';
import { formatTarget, parseTarget } from './target';
import type { ProbeResult } from './types';
import { MAX_TIMEOUT_MS, literalFamily } from './validate';

export const EXIT_OPEN = 0;
export const EXIT_NOT_OPEN = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C. */
const EXIT_INTERRUPTED = 130;

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/** With --wait on a terminal: how often the progress line is redrawn. */
const PROGRESS_MS = 250;

const USAGE = `Usage: sockprobe [options] TARGET...
       sockprobe explain [options] TARGET
       sockprobe scan [options] HOST -p PORTS

Connects to each TARGET and says what happened: open, refused, blocked by a
firewall, unreachable, timed out, a local error, or a name that did not resolve.
TARGET is host:port, [ipv6-address]:port or unix:/path/to.sock.

Commands:
  explain TARGET   run the troubleshooting checklist: resolution, route, probe of
                   every address, listeners on the port (local targets), then the
                   likely cause and the next thing to check
  scan HOST        probe every port of -p PORTS on HOST (only the host you name), then
                   list the ports that did not refuse and a count per status
                   -p, --ports PORTS    ports and ranges, e.g. 1-1024,8080 (required)
                   -c, --concurrency N  most probes in flight at once (default 256)
                   -t, --timeout MS     deadline per port (default 1000)
                   -o, --open           list open ports only
                   also -4, -6, --json (every result and a summary), --quiet.
                   Exit 0 when the scan ran, whatever the ports said; 1 HOST does
                   not resolve; 2 usage error; 130 interrupted (partial summary)

Options:
  -t, --timeout MS  deadline in ms (default ${DEFAULT_TIMEOUT_MS}; with --wait, the whole wait: default ${DEFAULT_WAIT_TIMEOUT_MS})
  -w, --wait        retry until every target is open or --timeout passes, as waitFor()
                    does: backoff from 250 ms, x1.5 per attempt, capped at 2 s, with jitter
  -4                IPv4 addresses only
  -6                IPv6 addresses only
  -j, --json        print one JSON document
  -q, --quiet       print nothing; only the exit status speaks
  -h, --help        show this help
  -V, --version     show the version

Exit status: 0 every target is open, 1 otherwise, 2 usage error.
Colour only on a terminal, never when NO_COLOR is set.
`;

/** Where the CLI writes and what it reads from the environment; the real process by default. */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export class UsageError extends Error {}

interface Settings {
  command: 'probe' | 'explain';
  targets: ProbeTarget[];
  timeout: number;
  family: 0 | 4 | 6;
  json: boolean;
  quiet: boolean;
  wait: boolean;
}

type Parsed = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; settings: Settings };

export function parseTimeout(text: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw new UsageError(`--timeout takes a number of milliseconds, got '${text}'`);
  const value = Number(text);
  if (value <= 0 || value > MAX_TIMEOUT_MS) throw new UsageError(`--timeout must be above 0 and at most ${MAX_TIMEOUT_MS} ms, got ${text}`);
  return value;
}

function checkFamily(target: ProbeTarget, family: 0 | 4 | 6): void {
  if (family === 0) return;
  if ('path' in target) throw new UsageError(`-${family} does not apply to a Unix socket (${formatTarget(target)})`);
  const literal = literalFamily(target.host);
  if (literal !== 0 && literal !== family)
    throw new UsageError(`${formatTarget(target)} is an IPv${literal} address but -${family} asks for IPv${family} only`);
}

/** util.parseArgs, strict and with positionals, its errors turned into UsageError (exit 2). */
export function parseOptions<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>> {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The address family -4 / -6 ask for (0: both); UsageError for both at once. */
export function familyFlag(values: { ipv4?: boolean | undefined; ipv6?: boolean | undefined }): 0 | 4 | 6 {
  if (values.ipv4 === true && values.ipv6 === true) throw new UsageError('-4 and -6 exclude each other');
  return values.ipv4 === true ? 4 : values.ipv6 === true ? 6 : 0;
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  const { values, positionals } = parseOptions(argv, {
    timeout: { type: 'string', short: 't' },
    wait: { type: 'boolean', short: 'w' },
    ipv4: { type: 'boolean', short: '4' },
    ipv6: { type: 'boolean', short: '6' },
    json: { type: 'boolean', short: 'j' },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  });
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const family = familyFlag(values);
  const command = positionals[0] === 'explain' ? 'explain' : 'probe';
  const words = command === 'explain' ? positionals.slice(1) : positionals;
  if (words.length === 0) throw new UsageError(command === 'explain' ? 'explain needs a TARGET' : 'no TARGET given');
  if (command === 'explain' && words.length > 1) throw new UsageError(`explain takes one TARGET, got ${words.length}`);
  const wait = values.wait === true;
  if (command === 'explain' && wait) throw new UsageError('--wait does not apply to explain');
  const targets = words.map((word) => {
    let target: ProbeTarget;
    try {
      target = parseTarget(word);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    checkFamily(target, family);
    return target;
  });
  const timeout =
    values.timeout === undefined ? (wait ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS) : parseTimeout(values.timeout);
  return {
    kind: 'run',
    settings: { command, targets, timeout, family, json: values.json === true, quiet: values.quiet === true, wait },
  };
}

// ---------------------------------------------------------------- output

/** https://no-color.org: a NO_COLOR that is present and not empty turns colour off. */
export function colourOn(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const noColor = env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === '');
}

export type Paint = (code: number, text: string) => string;

export function painter(on: boolean): Paint {
  return on ? (code, text) => `\u001b[${code}m${text}\u001b[0m` : (_code, text) => text;
}

const GREEN = 32;
const RED = 31;
const YELLOW = 33;
const DIM = 2;
const BOLD = 1;

const marks: Record<Verdict, { mark: string; colour: number }> = {
  pass: { mark: '✓', colour: GREEN },
  warn: { mark: '!', colour: YELLOW },
  fail: { mark: '✗', colour: RED },
  skip: { mark: '-', colour: DIM },
};

function mark(verdict: Verdict, paint: Paint): string {
  const m = marks[verdict];
  return paint(m.colour, m.mark);
}

function probeLines(results: readonly ProbeResult[], paint: Paint): string {
  return results.map((r) => `${mark(r.status === 'open' ? 'pass' : 'fail', paint)} ${describe(r)}\n`).join('');
}

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

// ---------------------------------------------------------------- commands

type ProbeModule = typeof import('./probe.js');
type ExplainModule = typeof import('./explain.js');
type WaitForModule = typeof import('./health/waitFor.js');
const loadProbe = (): ProbeModule['probe'] => (require('./probe') as ProbeModule).probe;
const loadExplain = (): ExplainModule['explain'] => (require('./explain') as ExplainModule).explain;
const loadWaitFor = (): WaitForModule => require('./health/waitFor') as WaitForModule;
// Required when the command is `scan`, after this module has loaded (it imports from here).
type ScanModule = typeof import('./cli-scan.js');
const loadScan = (): ScanModule => require('./cli-scan') as ScanModule;

/** The first word that is not an option or an option's value: 'scan' picks the scan command. */
function commandWord(argv: readonly string[]): string | undefined {
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: { timeout: { type: 'string', short: 't' }, ports: { type: 'string', short: 'p' }, concurrency: { type: 'string', short: 'c' } },
  });
  const first = tokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator');
  return first?.kind === 'positional' ? first.value : undefined;
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

async function runProbe(s: Settings, io: CliIO, signal: AbortSignal): Promise<number> {
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

async function runExplain(s: Settings, io: CliIO, signal: AbortSignal): Promise<number> {
  const explain = loadExplain();
  const d = await explain(s.targets[0] as ProbeTarget, { timeout: s.timeout, family: s.family, signal });
  if (s.json) io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
  else if (!s.quiet) io.stdout.write(explainLines(d, painter(colourOn(io.stdout, io.env))));
  return d.ok ? EXIT_OPEN : EXIT_NOT_OPEN;
}

function version(): string {
  const file = path.join(__dirname, '..', 'package.json');
  const pkg: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
}

/** Runs the command line `argv` (without node and script) and resolves with the exit status. */
export async function main(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  const usage = (error: unknown): number => {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`sockprobe: ${error.message}\nTry 'sockprobe --help' for more information.\n`);
    return EXIT_USAGE;
  };
  if (commandWord(argv) === 'scan') {
    const scan = loadScan();
    let scanParsed;
    try {
      scanParsed = scan.parseScanCommandLine(argv);
    } catch (error) {
      return usage(error);
    }
    if (scanParsed.kind === 'help') {
      io.stdout.write(USAGE);
      return EXIT_OPEN;
    }
    try {
      return await scan.runScan(scanParsed.settings, io, signal);
    } catch (error) {
      if (error instanceof AbortError) return EXIT_INTERRUPTED;
      throw error;
    }
  }
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    return usage(error);
  }
  switch (parsed.kind) {
    case 'help':
      io.stdout.write(USAGE);
      return EXIT_OPEN;
    case 'version':
      io.stdout.write(`${version()}\n`);
      return EXIT_OPEN;
    case 'run':
      try {
        return parsed.settings.command === 'explain'
          ? await runExplain(parsed.settings, io, signal)
          : await runProbe(parsed.settings, io, signal);
      } catch (error) {
        if (error instanceof AbortError) return EXIT_INTERRUPTED;
        throw error;
      }
  }
}

/** Entry point of bin/sockprobe: Ctrl-C aborts the probes (sockets closed at once) and exits 130. */
export function run(): void {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  main(process.argv.slice(2), undefined, controller.signal).then(
    (code) => {
      process.removeListener('SIGINT', onSigint);
      process.exitCode = code;
    },
    (error: unknown) => {
      process.removeListener('SIGINT', onSigint);
      // The addon loader's error is written for users (what was tried, how to get a binary): no stack.
      const text =
        error instanceof Error
          ? error.message.startsWith('sockprobe: ')
            ? error.message
            : `sockprobe: internal error: ${error.stack ?? error.message}`
          : `sockprobe: internal error: ${String(error)}`;
      process.stderr.write(`${text}\n`);
      process.exitCode = EXIT_NOT_OPEN;
    },
  );
}
