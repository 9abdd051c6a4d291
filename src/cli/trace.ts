// `sockprobe trace [options] HOST:PORT`: which hop stops the connection, one
// line per hop as traceroute prints them, then the verdict. Exit 0 when the
// target was reached and open (as for a probe), 1 otherwise.
import { parseTarget } from '../target';
import type { TraceHop, TraceResult } from '../trace';
import type { AddressResult } from '../types';
import { literalFamily } from '../validate';
import { EXIT_NOT_OPEN, EXIT_OPEN } from './exit-codes';
import { COMMON_OPTIONS, familyFlag, parseOptions, parseTimeout, UsageError } from './options';
import { BOLD, colourOn, DIM, GREEN, painter, RED, type CliIO, type Paint } from './output';

// Required when a trace runs: it loads the native addon.
type TraceModule = typeof import('../trace.js');
const loadTrace = (): TraceModule => require('../trace') as TraceModule;

export const TRACE_OPTIONS = {
  ...COMMON_OPTIONS,
  'max-hops': { type: 'string', short: 'm' },
  'first-hop': { type: 'string', short: 'f' },
  tries: { type: 'string' },
} as const;

export interface TraceSettings {
  host: string;
  port: number;
  timeout: number | undefined;
  maxHops: number | undefined;
  firstHop: number | undefined;
  tries: number | undefined;
  family: 0 | 4 | 6;
  json: boolean;
  quiet: boolean;
}

export type TraceParsed = { kind: 'help' } | { kind: 'run'; settings: TraceSettings };

function count(text: string | undefined, name: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < 1 || value > max) throw new UsageError(`--${name} takes a whole number from 1 to ${max}, got '${text}'`);
  return value;
}

/** The command line after the word `trace`. */
export function parseTraceCommandLine(argv: readonly string[]): TraceParsed {
  const { values, positionals } = parseOptions(argv, TRACE_OPTIONS);
  if (values.help === true) return { kind: 'help' };
  const words = positionals.filter((w, i) => !(i === 0 && w === 'trace'));
  if (words.length !== 1) throw new UsageError(words.length === 0 ? 'trace needs a TARGET (host:port)' : `trace takes one TARGET, got ${words.length}`);
  let target;
  try {
    target = parseTarget(words[0] as string);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if ('path' in target) throw new UsageError('trace needs host:port: a Unix socket has no hops');
  const family = familyFlag(values);
  const literal = literalFamily(target.host);
  if (family !== 0 && literal !== 0 && literal !== family)
    throw new UsageError(`${words[0] as string} is an IPv${literal} address but -${family} asks for IPv${family} only`);
  const maxHops = count(values['max-hops'], 'max-hops', 255);
  const firstHop = count(values['first-hop'], 'first-hop', 255);
  if (firstHop !== undefined && firstHop > (maxHops ?? 30)) throw new UsageError(`--first-hop ${firstHop} is above the last hop ${maxHops ?? 30}`);
  return {
    kind: 'run',
    settings: {
      host: target.host,
      port: target.port,
      timeout: values.timeout === undefined ? undefined : parseTimeout(values.timeout),
      maxHops,
      firstHop,
      tries: count(values.tries, 'tries', 10),
      family,
      json: values.json === true,
      quiet: values.quiet === true,
    },
  };
}

const ms = (value: number): string => `${value.toFixed(3)} ms`;

/** What a try that did not just pass the hop on says: open (syn-ack), blocked (admin-prohibited, ICMP 3/13). */
function answerWords(r: AddressResult): string {
  const icmp = 'icmp' in r && r.icmp !== undefined ? `, ICMP ${r.icmp.type}/${r.icmp.code}` : '';
  return `${r.status} (${r.reason}${icmp})`;
}

function hopLine(h: TraceHop, paint: Paint): string {
  let line = `${String(h.ttl).padStart(2)}  `;
  const parts: string[] = [];
  let named = false;
  for (const r of h.tries) {
    if (r.status === 'timeout') {
      parts.push('*');
      continue;
    }
    const from = 'from' in r && r.from !== undefined ? r.from : r.status === 'open' || r.status === 'refused' ? r.address : null;
    if (!named && from !== null) {
      parts.push(from);
      named = true;
    }
    parts.push(ms(r.elapsedMs));
    if (!(r.status === 'unreachable' && r.reason === 'time-exceeded')) {
      const words = answerWords(r);
      parts.push(r.status === 'open' ? paint(GREEN, words) : paint(RED, words));
    }
  }
  line += parts.join('  ');
  return `${line}\n`;
}

export function traceLines(t: TraceResult, paint: Paint, maxHops: number): string {
  const target = t.target.address === null || t.target.address === t.target.host ? t.target.host : `${t.target.host} (${t.target.address})`;
  let out = `${paint(BOLD, `sockprobe trace ${target} port ${t.target.port}`)}${paint(DIM, `, ${maxHops} hops max`)}\n`;
  // As traceroute warns: a name with several addresses is traced to the first.
  if (t.target.addresses.length > 1)
    out += `${paint(DIM, `${t.target.host} has ${t.target.addresses.length} addresses (${t.target.addresses.join(', ')}): tracing the first; -4, -6 or an address picks another`)}\n`;
  for (const h of t.hops) out += hopLine(h, paint);
  out += `${paint(BOLD, 'verdict:')} ${t.verdict.words}\n`;
  return out;
}

export async function runTrace(s: TraceSettings, io: CliIO, signal: AbortSignal): Promise<number> {
  const { trace, DEFAULT_MAX_HOPS } = loadTrace();
  const t = await trace(s.host, s.port, {
    ...(s.timeout === undefined ? {} : { timeout: s.timeout }),
    ...(s.maxHops === undefined ? {} : { maxHops: s.maxHops }),
    ...(s.firstHop === undefined ? {} : { firstHop: s.firstHop }),
    ...(s.tries === undefined ? {} : { tries: s.tries }),
    family: s.family,
    signal,
  });
  if (s.json) io.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
  else if (!s.quiet) io.stdout.write(traceLines(t, painter(colourOn(io.stdout, io.env)), s.maxHops ?? DEFAULT_MAX_HOPS));
  return t.verdict.kind === 'reached' && t.verdict.result?.status === 'open' ? EXIT_OPEN : EXIT_NOT_OPEN;
}
