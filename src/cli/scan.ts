// `sockprobe scan HOST -p RANGE`: every port of one host through probeMany(),
// a progress bar on a terminal, then a table of the ports that did not refuse
// and a count per status. Scans only ever target the one host the user names.
// The modules that load the native addon are required when the scan runs, so
// usage errors need no binary.
import { reasonWords } from '../describe';
import { AbortError } from '../errors';
import type { ProbeManyResult } from '../many';
import { parsePorts } from '../ports';
import { formatHost } from '../target';
import { assertNever, type ProbeResult, type Status } from '../types';
import { checkHost, literalFamily } from '../validate';
import { EXIT_INTERRUPTED, EXIT_SCANNED, EXIT_UNRESOLVED } from './exit-codes';
import { COMMON_OPTIONS, familyFlag, parseOptions, parseTimeout, UsageError } from './options';
import { BOLD, colourOn, DIM, GREEN, painter, RED, YELLOW, type CliIO, type Paint } from './output';

/** Per port: a scan wants an answer soon, and loopback or a LAN answers in well under a millisecond. */
export const DEFAULT_SCAN_TIMEOUT_MS = 1000;
export const DEFAULT_SCAN_CONCURRENCY = 256;
/** One port per probe, so more in flight than there are ports makes no sense. */
const MAX_SCAN_CONCURRENCY = 65535;
/** The progress bar is redrawn at most this often (10 times a second). */
const PROGRESS_MS = 100;
const BAR_WIDTH = 24;

export interface ScanSettings {
  host: string;
  ports: number[];
  timeout: number;
  concurrency: number;
  family: 0 | 4 | 6;
  json: boolean;
  quiet: boolean;
  openOnly: boolean;
}

export type ScanParsed = { kind: 'help' } | { kind: 'run'; settings: ScanSettings };

function positiveInteger(name: string, text: string, max: number): number {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`${name} takes a whole number, got '${text}'`);
  const value = Number(text);
  if (value < 1 || value > max) throw new UsageError(`${name} must be from 1 to ${max}, got ${text}`);
  return value;
}

/** Parses the whole command line of a scan (`scan` is its first positional). */
export function parseScanCommandLine(argv: readonly string[]): ScanParsed {
  const { values, positionals } = parseOptions(argv, {
    ...COMMON_OPTIONS,
    ports: { type: 'string', short: 'p' },
    concurrency: { type: 'string', short: 'c' },
    open: { type: 'boolean', short: 'o' },
  });
  if (values.help === true) return { kind: 'help' };
  const words = positionals.slice(1); // positionals[0] is 'scan'
  if (words.length === 0) throw new UsageError('scan needs a HOST');
  if (words.length > 1) throw new UsageError(`scan takes one HOST, got ${words.length}: ${words.join(' ')}`);
  if (values.ports === undefined) throw new UsageError('scan needs -p PORTS, e.g. -p 1-1024,8080');
  const family = familyFlag(values);
  let host = words[0] as string;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.startsWith('unix:')) throw new UsageError('scan takes a host name or address, not a Unix socket');
  let ports: number[];
  try {
    host = checkHost(host, 'HOST');
    ports = parsePorts(values.ports);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const literal = literalFamily(host);
  if (literal !== 0 && family !== 0 && literal !== family)
    throw new UsageError(`${host} is an IPv${literal} address but -${family} asks for IPv${family} only`);
  return {
    kind: 'run',
    settings: {
      host,
      ports,
      timeout: values.timeout === undefined ? DEFAULT_SCAN_TIMEOUT_MS : parseTimeout(values.timeout),
      concurrency:
        values.concurrency === undefined
          ? DEFAULT_SCAN_CONCURRENCY
          : positiveInteger('--concurrency', values.concurrency, MAX_SCAN_CONCURRENCY),
      family,
      json: values.json === true,
      quiet: values.quiet === true,
      openOnly: values.open === true,
    },
  };
}

// ---------------------------------------------------------------- output

function statusColour(status: Status): number {
  switch (status) {
    case 'open':
      return GREEN;
    case 'refused':
      return DIM;
    case 'timeout':
    case 'not-ready':
      return YELLOW;
    case 'blocked':
    case 'unreachable':
    case 'local-error':
    case 'dns-error':
      return RED;
    default:
      return assertNever(status, 'unknown probe status');
  }
}

function ms(value: number): string {
  return value < 10 ? `${Math.round(value * 100) / 100} ms` : `${Math.round(value)} ms`;
}

/** The time that says the most: the handshake for an open port, the whole probe otherwise. */
function timeOf(r: ProbeResult): number {
  return r.status === 'open' ? r.connectMs : r.elapsedMs;
}

function fromOf(r: ProbeResult): string {
  return (r.status === 'blocked' || r.status === 'unreachable') && r.from !== undefined ? r.from : '-';
}

interface Tally {
  /** Ports per status, most first. */
  counts: [Status, number][];
  /** Per status, ports per reason. */
  reasons: Map<Status, Map<string, number>>;
}

function tally(results: readonly ProbeResult[]): Tally {
  const reasons = new Map<Status, Map<string, number>>();
  const counts = new Map<Status, number>();
  for (const r of results) {
    counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
    let m = reasons.get(r.status);
    if (m === undefined) reasons.set(r.status, (m = new Map()));
    m.set(r.reason, (m.get(r.reason) ?? 0) + 1);
  }
  return { counts: [...counts].sort((a, b) => b[1] - a[1]), reasons };
}

/** `1021 refused, 2 open, 1 timeout`, optionally painted. */
function countLine(t: Tally, paint: Paint): string {
  return t.counts.map(([status, n]) => `${n} ${paint(statusColour(status), status)}`).join(', ');
}

/** `1021 refused (reset)`: what the table leaves out, with the reasons, as nmap's "Not shown:" line. */
function hiddenLine(t: Tally, shown: (s: Status) => boolean): string {
  const parts: string[] = [];
  for (const [status, n] of t.counts) {
    if (shown(status)) continue;
    const why = [...(t.reasons.get(status) ?? [])].sort((a, b) => b[1] - a[1]);
    const words = why.length === 1 ? (why[0] as [string, number])[0] : why.map(([reason, k]) => `${k} ${reason}`).join(', ');
    parts.push(`${n} ${status} (${words})`);
  }
  return parts.join(', ');
}

interface ScanReport {
  s: ScanSettings;
  addresses: string[];
  results: ProbeResult[];
  elapsedMs: number;
  interrupted: boolean;
}

function table(rows: readonly ProbeResult[], paint: Paint): string {
  const cells = rows.map((r) => [String(r.port), r.status, r.reason, fromOf(r), ms(timeOf(r))] as const);
  const head = ['PORT', 'STATUS', 'REASON', 'FROM', 'TIME'] as const;
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: readonly string[], status?: Status): string =>
    c
      .map((text, i) => {
        const padded = i === c.length - 1 ? text : text.padEnd(widths[i] as number);
        return i === 1 && status !== undefined ? paint(statusColour(status), padded) : padded;
      })
      .join('  ')
      .trimEnd();
  let out = `${paint(BOLD, line(head))}\n`;
  rows.forEach((r, i) => (out += `${line(cells[i] as readonly string[], r.status)}\n`));
  return out;
}

function textReport(rep: ScanReport, paint: Paint): string {
  const { s, results } = rep;
  const shown = (status: Status): boolean => (s.openOnly ? status === 'open' : status !== 'refused');
  const rows = results.filter((r) => shown(r.status));
  const t = tally(results);
  const target = rep.addresses.length === 0 || (rep.addresses.length === 1 && rep.addresses[0] === s.host)
    ? formatHost(s.host)
    : `${formatHost(s.host)} (${rep.addresses.join(', ')})`;
  let out = `${paint(BOLD, `sockprobe scan ${target}`)}\n`;
  if (rows.length > 0) out += table(rows, paint);
  const hidden = hiddenLine(t, shown);
  if (hidden !== '') out += `Not shown: ${hidden}\n`;
  const seconds = (rep.elapsedMs / 1000).toFixed(2);
  const total = s.ports.length;
  const scanned = rep.interrupted ? `${results.length} of ${total} ports` : `${total} port${total === 1 ? '' : 's'}`;
  const counts = results.length === 0 ? 'no result' : countLine(t, paint);
  out += `${rep.interrupted ? paint(YELLOW, 'Interrupted: ') : ''}${scanned} scanned in ${seconds} s: ${counts}\n`;
  return out;
}

function jsonReport(rep: ScanReport): string {
  const { s } = rep;
  const t = tally(rep.results);
  const doc = {
    host: s.host,
    addresses: rep.addresses,
    ports: s.ports.length,
    done: rep.results.length,
    interrupted: rep.interrupted,
    elapsedMs: rep.elapsedMs,
    counts: Object.fromEntries(t.counts),
    results: s.openOnly ? rep.results.filter((r) => r.status === 'open') : rep.results,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The bar on stderr: `[#####.....] 512/1024  50%  2 open  3400/s`, redrawn by a timer. */
class Progress {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private readonly paint: Paint;
  done = 0;
  open = 0;

  constructor(
    private readonly io: CliIO,
    private readonly total: number,
  ) {
    this.paint = painter(colourOn(io.stderr, io.env));
    this.draw();
    this.timer = setInterval(() => this.draw(), PROGRESS_MS);
  }

  private draw(): void {
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(this.done / seconds) : 0;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const open = this.paint(this.open > 0 ? GREEN : DIM, `${this.open} open`);
    this.io.stderr.write(`\r\u001b[K${bar} ${this.done}/${this.total} ${percent}  ${open}  ${rate}/s`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.io.stderr.write('\r\u001b[K');
  }
}

// ---------------------------------------------------------------- the scan

type ManyModule = typeof import('../many.js');
type ProbeModule = typeof import('../probe.js');

/** The resolver's failure in describe()'s words: 'the name does not exist (ENOTFOUND)'. */
function unresolvedWords(host: string, code: string, dnsReason: ProbeModule['dnsReason']): string {
  const r: ProbeResult = {
    status: 'dns-error', reason: dnsReason(code), code, errno: null, address: null, family: null,
    port: 0, elapsedMs: 0, host, attempts: [], dnsMs: 0,
  };
  return `${reasonWords(r)} (${code})`;
}

/**
 * Runs a parsed scan and resolves with the exit status. A name is resolved
 * first (exit 1 when it does not resolve); probeMany() then resolves it once
 * more for the whole scan and probes each port on every address, as probe() does.
 */
export async function runScan(s: ScanSettings, io: CliIO, signal: AbortSignal): Promise<number> {
  const { probeMany } = require('../many') as ManyModule;
  const { lookup, dnsReason } = require('../probe') as ProbeModule;
  const started = performance.now();
  let addresses: string[] = [];
  if (literalFamily(s.host) === 0) {
    const found = await lookup(s.host, s.family, s.timeout, signal);
    if (!found.ok) {
      if (s.json) io.stdout.write(`${JSON.stringify({ host: s.host, resolved: false, reason: dnsReason(found.code), code: found.code }, null, 2)}\n`);
      else if (!s.quiet) io.stderr.write(`sockprobe: ${s.host} does not resolve: ${unresolvedWords(s.host, found.code, dnsReason)}\n`);
      return EXIT_UNRESOLVED;
    }
    addresses = found.addresses.map((a) => a.address);
  } else {
    addresses = [s.host];
  }

  const targets = s.ports.map((port) => ({ host: s.host, port }));
  const results: ProbeManyResult[] = [];
  const progress = io.stderr.isTTY === true && !s.quiet ? new Progress(io, targets.length) : undefined;
  let interrupted = false;
  try {
    const options = { timeout: s.timeout, concurrency: s.concurrency, signal, ...(s.family === 0 ? {} : { family: s.family }) };
    for await (const r of probeMany(targets, options)) {
      results.push(r);
      if (progress !== undefined) {
        progress.done++;
        if (r.status === 'open') progress.open++;
      }
    }
  } catch (error) {
    if (!(error instanceof AbortError)) throw error;
    interrupted = true;
  } finally {
    progress?.stop();
  }

  results.sort((a, b) => (a.port ?? 0) - (b.port ?? 0));
  const plain: ProbeResult[] = results.map(({ index: _index, ...r }) => r as ProbeResult);
  const report: ScanReport = { s, addresses, results: plain, elapsedMs: Math.round(performance.now() - started), interrupted };
  if (s.json) io.stdout.write(jsonReport(report));
  else if (!s.quiet) io.stdout.write(textReport(report, painter(colourOn(io.stdout, io.env))));
  return interrupted ? EXIT_INTERRUPTED : EXIT_SCANNED;
}
