// Shared pieces of the reliability suites: input generators that can never
// send a packet off the machine, and checks that a result is a well-formed
// member of the union. Other public functions (inspect(), the health handler,
// the CLI's argument parser) plug into the property tests through `Surface`
// in fuzz.test.ts; the generators and checks here are written to be reused.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { AddressResult, LocalErrorStage, ProbeResult } from '../../src';
import { literalFamily } from '../../src/validate';

/** Seed of every property run: a failure is replayed by running again. Override with FC_SEED. */
export const SEED = Number(process.env.FC_SEED ?? 20260822);

// ---------------------------------------------------------------------------
// Network safety. NETWORK RULES: traffic only to loopback. Every generated
// value that could reach connect() is a loopback address, and every generated
// name either is 'localhost' or carries a label over 63 bytes, which glibc's
// resolver rejects while building the query (no packet leaves).
// ---------------------------------------------------------------------------

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** True when `s` (optionally [bracketed], optionally with a %zone) is an IP literal outside loopback. */
export function isNonLoopbackLiteral(s: string): boolean {
  let h = s;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const address = h.split('%')[0] ?? '';
  const family = net.isIP(address);
  if (family === 0) return false;
  return !loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The label that makes a name fail inside the resolver library. */
export const LONG_LABEL = 'x'.repeat(64);

/**
 * Makes any string safe to hand to probe() as a host: an IP literal outside
 * loopback becomes 127.0.0.1, and a string that could be looked up as a name
 * gets a label over 63 bytes in front (so the lookup fails locally).
 */
export function safeHost(s: string): string {
  if (isNonLoopbackLiteral(s)) return '127.0.0.1';
  let h = s;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  // The same test probe() applies: a literal is connected to, anything else is looked up.
  if (literalFamily(h) !== 0) return s;
  if (h === 'localhost') return s;
  return `${LONG_LABEL}.${s}`;
}

export const ipv4Loopback = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
  .map(([a, b, c]) => `127.${a}.${b}.${c}`);

/** Valid hosts that stay on this machine. */
export const loopbackHost = fc.oneof(
  ipv4Loopback,
  fc.constantFrom('::1', '[::1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1', '::1%lo', '::1%1', '[::1%lo]', 'localhost'),
);

/** Odd strings: NUL, very long, unicode, zone ids, brackets, percent signs, whitespace. */
export const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '\0',
    '127.0.0.1\0',
    '\x00127.0.0.1',
    '[]',
    '[',
    ']',
    '%',
    '::1%',
    '::1%%',
    '::1%no-such-interface0',
    '::1%4294967295',
    '::1%99999999999999999999',
    `::1%${'z'.repeat(300)}`,
    '127.0.0.1%lo',
    '[127.0.0.1]',
    ' 127.0.0.1',
    '127.0.0.1 ',
    '127.1',
    '0x7f.1',
    '127.0.0.256',
    '::1::',
    'localhost.',
    '..',
    '\u{1F4A9}',
    'ßüñ.例え.テスト',
    '\uD800',
    'a'.repeat(253),
    'a'.repeat(254),
    'a'.repeat(100_000),
  ),
);

/** Any host string that is safe to probe: loopback literals, 'localhost', or names that fail locally. */
export const safeHostString = fc.oneof(loopbackHost, oddString.map(safeHost));

/** Values of every type, with the numbers that break naive code. */
export const oddNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.5,
    1.5,
    65535,
    65536,
    NaN,
    Infinity,
    -Infinity,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32,
    2 ** 32 + 80,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53),
    1e308,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.EPSILON,
  ),
);

export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }),
  oddNumber,
  fc.bigInt(),
  fc.constantFrom<unknown>(
    undefined,
    null,
    true,
    false,
    Symbol('s'),
    () => 1,
    [],
    {},
    new Date(0),
    new EventTarget(),
    Object.create(null),
    Buffer.from('127.0.0.1'),
    new Uint8Array(4),
    Promise.resolve(1),
  ),
);

// ---------------------------------------------------------------------------
// Signals in every state, shared by the property suites.
// ---------------------------------------------------------------------------

/** A signal in every state, built fresh for each run (a signal cannot be un-aborted). */
export type SignalSpec =
  | { kind: 'none' }
  | { kind: 'pre-aborted'; reason: unknown }
  | { kind: 'never' }
  | { kind: 'abort-later'; ms: number; reason: unknown }
  | { kind: 'abort-sync' }
  | { kind: 'timeout'; ms: number }
  | { kind: 'any'; ms: number }
  | { kind: 'not-a-signal'; value: unknown };

export const signalSpec: fc.Arbitrary<SignalSpec> = fc.oneof(
  fc.constant<SignalSpec>({ kind: 'none' }),
  anyValue.map<SignalSpec>((reason) => ({ kind: 'pre-aborted', reason })),
  fc.constant<SignalSpec>({ kind: 'never' }),
  fc.record({ ms: fc.integer({ min: 0, max: 20 }), reason: anyValue }).map<SignalSpec>((r) => ({ kind: 'abort-later', ...r })),
  fc.constant<SignalSpec>({ kind: 'abort-sync' }),
  fc.integer({ min: 0, max: 20 }).map<SignalSpec>((ms) => ({ kind: 'timeout', ms })),
  fc.integer({ min: 0, max: 20 }).map<SignalSpec>((ms) => ({ kind: 'any', ms })),
  fc
    .oneof(anyValue, fc.constantFrom<unknown>({ aborted: true }, new EventTarget(), new AbortController()))
    .map<SignalSpec>((value) => ({ kind: 'not-a-signal', value })),
);

export interface Built {
  signal: unknown;
  /** Runs right after the function under test was called (abort-sync). */
  after(): void;
  dispose(): void;
  mayAbort: boolean;
}

export function buildSignal(spec: SignalSpec): Built {
  const nothing = (): void => undefined;
  switch (spec.kind) {
    case 'none':
      return { signal: undefined, after: nothing, dispose: nothing, mayAbort: false };
    case 'pre-aborted':
      return { signal: AbortSignal.abort(spec.reason), after: nothing, dispose: nothing, mayAbort: true };
    case 'never':
      return { signal: new AbortController().signal, after: nothing, dispose: nothing, mayAbort: false };
    case 'abort-later': {
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(spec.reason), spec.ms);
      return { signal: ac.signal, after: nothing, dispose: () => clearTimeout(t), mayAbort: true };
    }
    case 'abort-sync': {
      const ac = new AbortController();
      return { signal: ac.signal, after: () => ac.abort(), dispose: nothing, mayAbort: true };
    }
    case 'timeout':
      return { signal: AbortSignal.timeout(spec.ms), after: nothing, dispose: nothing, mayAbort: true };
    case 'any':
      return {
        signal: AbortSignal.any([new AbortController().signal, AbortSignal.timeout(spec.ms)]),
        after: nothing,
        dispose: nothing,
        mayAbort: true,
      };
    case 'not-a-signal':
      return { signal: spec.value, after: nothing, dispose: nothing, mayAbort: false };
    default: {
      const never: never = spec;
      throw new Error(`unknown signal spec ${JSON.stringify(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Result checks.
// ---------------------------------------------------------------------------

const statuses = new Set(['open', 'not-ready', 'refused', 'blocked', 'unreachable', 'timeout', 'local-error']);
/** Every word a local-error's stage may be: the typed record fails to compile when the union changes. */
const LOCAL_ERROR_STAGES: ReadonlySet<string> = new Set(
  Object.keys({
    socket: 0,
    'socket-option': 0,
    address: 0,
    bind: 0,
    connect: 0,
    watch: 0,
    handshake: 0,
    'error-queue': 0,
  } satisfies Record<LocalErrorStage, 0>),
);

function fail(what: string, value: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(value)}`);
}

/** Throws unless `a` is a well-formed AddressResult. */
export function checkAddressResult(a: AddressResult): void {
  if (!statuses.has(a.status)) fail('unknown status', a);
  if (typeof a.reason !== 'string' || a.reason.length === 0) fail('reason', a);
  if (typeof a.address !== 'string') fail('address', a);
  if (!(a.family === 4 || a.family === 6 || a.family === 'unix')) fail('family', a);
  if (!(a.port === null || (Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535))) fail('port', a);
  if (!(typeof a.elapsedMs === 'number' && a.elapsedMs >= 0 && Number.isFinite(a.elapsedMs))) fail('elapsedMs', a);
  switch (a.status) {
    case 'open':
      if (a.code !== null || a.errno !== null) fail('open with an error', a);
      if (!(a.connectMs >= 0)) fail('connectMs', a);
      if (typeof a.local.address !== 'string' || !Number.isInteger(a.local.port)) fail('local', a);
      break;
    case 'not-ready':
      if (!(a.code === null || (typeof a.code === 'string' && a.code !== ''))) fail('code', a);
      if (a.errno !== null) fail('not-ready with an errno', a);
      if (!(a.connectMs >= 0)) fail('connectMs', a);
      if (typeof a.check?.name !== 'string' || typeof a.check.detail !== 'string') fail('check', a);
      break;
    case 'refused':
    case 'blocked':
    case 'unreachable':
    case 'timeout':
    case 'local-error':
      if (typeof a.code !== 'string' || a.code === '') fail('code', a);
      if (!Number.isInteger(a.errno)) fail('errno', a);
      if (a.status === 'local-error' && !LOCAL_ERROR_STAGES.has(a.stage)) fail('stage', a);
      break;
    default: {
      const never: never = a;
      fail('unreachable switch', never);
    }
  }
}

/** Throws unless `r` is a well-formed ProbeResult that survives JSON unchanged. */
export function checkProbeResult(r: ProbeResult): void {
  if (typeof r !== 'object' || r === null) fail('not an object', r);
  if (typeof r.host !== 'string') fail('host', r);
  if (!Array.isArray(r.attempts)) fail('attempts', r);
  if (r.status === 'dns-error') {
    if (r.attempts.length !== 0 || r.errno !== null || r.address !== null) fail('dns-error shape', r);
    if (typeof r.code !== 'string') fail('dns-error code', r);
  } else {
    if (r.attempts.length === 0) fail('no attempts', r);
    checkAddressResult(r);
    r.attempts.forEach(checkAddressResult);
  }
  if (!(r.dnsMs >= 0 && r.elapsedMs >= 0)) fail('timings', r);
  const copy: unknown = JSON.parse(JSON.stringify(r));
  if (JSON.stringify(copy) !== JSON.stringify(r)) fail('not plain data', r);
}

/**
 * An Error of the given name, from any realm: jest runs test files in a vm
 * context, so an error made by the addon (main realm) is not `instanceof` the
 * test's TypeError. The API contract is about the kind, not the realm.
 */
export function isErrorNamed(e: unknown, name: 'TypeError' | 'RangeError' | 'AbortError'): boolean {
  if (typeof e !== 'object' || e === null) return false;
  if (Object.prototype.toString.call(e) !== '[object Error]') return false;
  const err = e as { name?: unknown; code?: unknown; constructor?: { name?: unknown } };
  if (err.name !== name) return false;
  if (name === 'AbortError') return err.code === 'ABORT_ERR';
  return err.constructor?.name === name;
}

/** The only rejections the public API may produce. */
export function isAllowedRejection(e: unknown): boolean {
  return isErrorNamed(e, 'TypeError') || isErrorNamed(e, 'RangeError') || isErrorNamed(e, 'AbortError');
}

/**
 * Settles `p` or fails after `ms`: a hang is a failure of the property, not
 * of the test runner. The timer is cleared so nothing is left behind.
 */
export async function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the child had to be killed at the time limit: a hang. */
  hung: boolean;
}

/**
 * Runs a Node script in a child process (so a crash, an exit or a resource
 * limit cannot take the test runner with it), killed with SIGKILL after `ms`.
 * `nofile` runs it under that RLIMIT_NOFILE (soft and hard), set by the shell.
 */
export async function runNode(
  script: string,
  opts: { ms?: number; nofile?: number; execArgv?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-rel-'));
  const file = path.join(dir, 'child.js');
  fs.writeFileSync(file, script);
  const node = [process.execPath, ...(opts.execArgv ?? []), file];
  const child =
    opts.nofile === undefined
      ? spawn(node[0] as string, node.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env })
      : spawn('sh', ['-c', `ulimit -n ${opts.nofile} && exec "$@"`, 'sh', ...node], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: opts.env ?? process.env,
        });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, opts.ms ?? 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (child.stdout.readable) await once(child.stdout, 'close').catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
  return { code, signal, stdout, stderr, hung };
}

/** The last line of a child's stdout, parsed as JSON. */
export function lastJson<T>(run: ChildRun): T {
  const lines = run.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`child printed no JSON (code ${String(run.code)}, signal ${String(run.signal)}):\n${run.stdout}\n${run.stderr}`);
  }
}

/**
 * For the native layer, which parses with inet_pton: a string whose part
 * before the first '%' is made only of characters an IP literal can hold,
 * and which is not a loopback address, gets an 'x' in front so inet_pton can
 * never accept it. Structural, so it does not depend on Node's and glibc's
 * parsers agreeing.
 */
export function safeNativeAddress(s: string): string {
  const address = s.split('%')[0] ?? '';
  if (!/^[0-9a-fA-F:.]*$/.test(address)) return s;
  const family = net.isIP(address);
  if (family !== 0 && loopback.check(address, family === 4 ? 'ipv4' : 'ipv6')) return s;
  return `x${s}`;
}

/** Generated arguments as one line for a failure message (long values cut). */
export function describeArgs(args: unknown[]): string {
  return args
    .map((a) => {
      try {
        const s = typeof a === 'string' ? JSON.stringify(a) : typeof a === 'bigint' ? `${a}n` : typeof a === 'symbol' ? a.toString() : JSON.stringify(a) ?? String(a);
        return s.length > 200 ? `${s.slice(0, 200)}...` : s;
      } catch {
        return Object.prototype.toString.call(a);
      }
    })
    .join(', ');
}

/**
 * A generated target object made safe: a string host goes through safeHost(),
 * and an absolute Unix socket path outside `dir` is moved under it, so no
 * generated value connects to a socket of the machine's own services.
 */
export function safeTarget(value: unknown, dir: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (typeof copy.host === 'string') copy.host = safeHost(copy.host);
  if (typeof copy.path === 'string') copy.path = safePath(copy.path, dir);
  return copy;
}

/** An absolute path outside `dir` (and any path with '..') is put under `dir`; relative paths stay (cwd holds no sockets). */
export function safePath(p: string, dir: string): string {
  if (p.includes('..') || (p.startsWith('/') && !p.startsWith(`${dir}/`))) return path.join(dir, 'elsewhere', p.replaceAll('..', '__'));
  return p;
}

/**
 * A target string ('host:port', '[v6]:port', 'unix:/path') made safe the same
 * way: parsed as parseTarget() parses it; a host that safeHost() changes, or a
 * path that safePath() moves, is replaced. Strings parseTarget() refuses stay
 * as they are (every consumer refuses them the same way).
 */
export function safeTargetString(s: string, dir: string, parse: (text: string) => unknown): string {
  let t: unknown;
  try {
    t = parse(s);
  } catch {
    return s;
  }
  const r = t as { host?: string; port?: number; path?: string };
  if (r.path !== undefined) {
    const p = safePath(r.path, dir);
    return p === r.path ? s : `unix:${p}`;
  }
  const host = r.host as string;
  const safe = safeHost(host);
  if (safe === host) return s;
  return `${safe.includes(':') ? `[${safe}]` : safe}:${String(r.port)}`;
}
