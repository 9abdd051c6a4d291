// Property-based tests for the rest of the public API (fuzz.test.ts has
// probe() and the native layer): explain, describe, parseTarget/formatTarget,
// waitFor, check, monitor, healthHandler, inspect, probeMany, parsePorts,
// expandTargets, and the CLI's argument parser (pure, through main(), and as
// the real command in a child process). Each call returns or resolves to a
// well-formed value or throws/rejects with TypeError, RangeError or
// AbortError (waitFor also with its documented WaitTimeoutError; the CLI
// exits 0, 1 or 2 with a usage message); never a crash, a hang, an unhandled
// rejection or a leaked descriptor.
//
// NETWORK RULES: every generated host and target string goes through
// safeHost()/safeTarget()/safeTargetString() from support.ts, so probes,
// explain()'s UDP route check and the health helpers only reach loopback;
// names either are 'localhost' or fail inside the resolver library. Unix
// socket paths are kept under this suite's temporary directory.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import { inFlight } from '../../src/engine';
import { main, parseCommandLine, type CliIO } from '../../src/cli/main';
import {
  check,
  describe as describeResult,
  expandTargets,
  explain,
  formatTarget,
  healthHandler,
  inspect,
  monitor,
  parsePorts,
  parseTarget,
  probe,
  probeMany,
  waitFor,
  type AddressResult,
  type HealthHandler,
  type ProbeResult,
} from '../../src';
import { MAX_EXPANDED_TARGETS } from '../../src/many';
import { MAX_TIMEOUT_MS } from '../../src/validate';
import { BIN, cleanEnv } from '../cli-run';
import { closedPort, fdCount, openListener, silentPort, tmpDir } from '../helpers';
import { nativeEngine, needs } from '../preconditions';
import {
  LONG_LABEL,
  SEED,
  anyValue,
  buildSignal,
  checkProbeResult,
  describeArgs,
  isAllowedRejection,
  isErrorNamed,
  loopbackHost,
  oddNumber,
  oddString,
  safeHost,
  safeHostString,
  safePath,
  safeTarget,
  safeTargetString,
  signalSpec,
  withinMs,
} from './support';

jest.setTimeout(180_000);

/** Scales every run count (FC_RUNS=2500 is the default of fuzz.test.ts: 1x here). */
const SCALE = Number(process.env.FC_RUNS ?? 2500) / 2500;
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

let open4: Awaited<ReturnType<typeof openListener>>;
let open6: Awaited<ReturnType<typeof openListener>>;
let silent: Awaited<ReturnType<typeof silentPort>>;
let closed: number;
let dir: string;
let unixPath: string;
let unixServer: net.Server;
let httpServer: http.Server;
let httpPort: number;
let currentHandler: HealthHandler | undefined;
/** Real results of every kind, for describe(). */
const realResults: (ProbeResult | AddressResult)[] = [];

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  process.on('warning', onWarning);
  open4 = await openListener('127.0.0.1');
  open6 = await openListener('::1');
  silent = await silentPort();
  closed = await closedPort();
  dir = tmpDir();
  unixPath = path.join(dir, 'api.sock');
  unixServer = net.createServer((s) => s.destroy()).listen(unixPath);
  await once(unixServer, 'listening');
  httpServer = http.createServer((req, res) => {
    if (currentHandler === undefined) {
      res.writeHead(500).end();
      return;
    }
    currentHandler(req, res);
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  httpPort = (httpServer.address() as net.AddressInfo).port;
  for (const r of await Promise.all([
    probe('127.0.0.1', open4.port, { timeout: 2000 }),
    probe('localhost', closed, { timeout: 2000 }),
    probe('127.0.0.1', silent.port, { timeout: 5 }),
    probe(`${'x'.repeat(64)}.invalid`, 80, { timeout: 2000 }),
    probe({ path: unixPath }),
    probe({ path: path.join(dir, 'missing.sock') }),
    // Binding to an address this host does not have fails before anything is sent.
    probe('::1', closed, { localAddress: '::2' }),
  ])) {
    if (r === undefined) continue;
    realResults.push(r, ...r.attempts);
  }
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  process.off('warning', onWarning);
  await open4.close();
  await open6.close();
  await silent.close();
  await new Promise((r) => unixServer.close(r));
  await new Promise((r) => httpServer.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

function mostly<T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });
}

/** Anything but a number and never undefined: in a deadline slot, neither can be a long valid deadline. */
const notANumber = anyValue.filter((v) => typeof v !== 'number' && v !== undefined);

/** A deadline that is tiny when valid, or invalid; never absent (a default deadline could be long). */
const tinyTimeout: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 25 }) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 25, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, NaN, Infinity, -Infinity, 2 ** 31, -0, 0, MAX_TIMEOUT_MS + 1) },
  { weight: 1, arbitrary: notANumber },
);

/** Milliseconds for the other slots: small, odd, or not numbers at all. */
const smallMs: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 30 }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 30, noNaN: true }) },
  { weight: 1, arbitrary: oddNumber },
  { weight: 1, arbitrary: anyValue },
);

/** Ports that answer at once on loopback, or any port. */
const quickPort = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0).map(() => open4.port) },
  { weight: 2, arbitrary: fc.constant(0).map(() => open6.port) },
  { weight: 3, arbitrary: fc.constant(0).map(() => closed) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 65535 }) },
);
const anyPort = mostly(quickPort, fc.oneof(oddNumber, anyValue));

const hostArb = fc.oneof({ weight: 4, arbitrary: loopbackHost }, { weight: 2, arbitrary: safeHostString }, { weight: 1, arbitrary: anyValue });
const pathArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0).map(() => unixPath) },
  { weight: 1, arbitrary: fc.constant(0).map(() => path.join(dir, 'missing.sock')) },
  { weight: 1, arbitrary: oddString },
  { weight: 1, arbitrary: anyValue },
);
const nameArb = fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: oddString }, { weight: 1, arbitrary: anyValue });

/** A target object ({ host, port } or { path }, sometimes with a name), or junk; always made safe. */
const targetArb: fc.Arbitrary<unknown> = fc
  .oneof(
    { weight: 6, arbitrary: fc.record({ host: hostArb, port: anyPort, name: nameArb }, { requiredKeys: ['host', 'port'] }) },
    { weight: 2, arbitrary: fc.record({ path: pathArb, name: nameArb }, { requiredKeys: ['path'] }) },
    { weight: 1, arbitrary: fc.record({ host: hostArb, port: anyPort, path: pathArb }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: anyValue },
  )
  .map((t) => safeTarget(t, dir));

/** One target or a list of them (names may clash: RangeError). */
const targetsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: targetArb },
  { weight: 3, arbitrary: fc.array(targetArb, { maxLength: 4 }) },
  { weight: 1, arbitrary: anyValue },
);

/** The probe options the health helpers pass through, each mostly valid. */
const passThroughArb = {
  family: mostly(fc.constantFrom(undefined, 0, 4, 6), fc.oneof(oddNumber, anyValue)),
  localAddress: mostly(fc.constantFrom(undefined, '127.0.0.1', '127.0.0.2', '::1'), fc.oneof(loopbackHost, oddString, anyValue)),
  close: mostly(fc.constantFrom(undefined, 'reset', 'graceful'), fc.oneof(oddString, anyValue)),
  settle: mostly(fc.constantFrom(undefined, 0, 1, 2), fc.oneof(oddNumber, anyValue)),
  junk: anyValue,
};

/** Marks the slot where the run's signal goes. */
const SIGNAL = Symbol('signal slot');

/** Options with a deadline that is always present: a record, or (rarely) not an object at all. */
function optionsWith(timeoutKey: string, extra: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record<Record<string, unknown>>(
        { ...passThroughArb, ...extra, [timeoutKey]: tinyTimeout, signal: fc.constant(SIGNAL) } as { [k: string]: fc.Arbitrary<unknown> },
        { requiredKeys: [timeoutKey] },
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], 0, '', 'options', true) },
  );
}

/** Puts the run's signal where the generator left SIGNAL (one level deep in any argument). */
function placeSignal(args: unknown[], signal: unknown): unknown[] {
  return args.map((a) => {
    if (typeof a === 'object' && a !== null && !Array.isArray(a) && (a as Record<string, unknown>).signal === SIGNAL) {
      return { ...(a as Record<string, unknown>), signal };
    }
    return a;
  });
}

// ---------------------------------------------------------------------------
// Checks of what each function returns.
// ---------------------------------------------------------------------------

function must(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new Error(`${what}: ${describeArgs([value])}`);
}

const STEP_NAMES = new Set(['resolve', 'route', 'probe', 'listeners', 'socket-file']);
const VERDICTS = new Set(['pass', 'warn', 'fail', 'skip']);

function checkDiagnosis(value: unknown): string[] {
  const d = value as {
    target: unknown;
    ok: unknown;
    status: unknown;
    steps: unknown;
    cause: { code: unknown; text: unknown };
    next: unknown;
    elapsedMs: unknown;
  };
  must(typeof d.target === 'string' && d.target.length > 0, 'diagnosis target', d);
  must(typeof d.ok === 'boolean', 'diagnosis ok', d);
  must(Array.isArray(d.steps) && d.steps.length > 0, 'diagnosis steps', d);
  for (const s of d.steps as Record<string, unknown>[]) {
    must(STEP_NAMES.has(s.step as string) && VERDICTS.has(s.verdict as string), 'step name/verdict', s);
    must(typeof s.summary === 'string' && (s.summary as string).length > 0 && !(s.summary as string).includes('undefined'), 'step summary', s);
    must(Array.isArray(s.details) && (s.details as unknown[]).every((l) => typeof l === 'string'), 'step details', s);
    if (s.step === 'probe') {
      checkProbeResult(s.result as ProbeResult);
      must((s.result as ProbeResult).status === d.status, 'diagnosis status = probe status', d);
    }
    if (s.step === 'route') {
      // The route check is a UDP connect(): it may only ever have looked at loopback.
      for (const r of s.routes as { address: string }[]) must(safeHost(r.address) === r.address && r.address !== 'localhost', 'route to a non-loopback address', r);
    }
  }
  must(typeof d.cause.code === 'string' && typeof d.cause.text === 'string' && d.cause.text.length > 0, 'cause', d);
  must(typeof d.next === 'string' && d.next.length > 0, 'next', d);
  must(typeof d.elapsedMs === 'number' && d.elapsedMs >= 0, 'elapsedMs', d);
  must(JSON.stringify(JSON.parse(JSON.stringify(d))) === JSON.stringify(d), 'diagnosis is plain data', d);
  return [`${String(d.status)}/${String(d.cause.code)}`];
}

function checkReport(value: unknown): string[] {
  const r = value as { ok: unknown; results: { target: unknown; ok: unknown; result: ProbeResult }[]; durationMs: unknown };
  must(typeof r.ok === 'boolean' && Array.isArray(r.results) && r.results.length > 0, 'report', r);
  must(typeof r.durationMs === 'number' && r.durationMs >= 0, 'report duration', r);
  for (const t of r.results) {
    must(typeof t.target === 'string' && t.target.length > 0, 'report target', t);
    checkProbeResult(t.result);
    must(t.ok === (t.result.status === 'open'), 'report entry ok', t);
  }
  must(r.ok === r.results.every((t) => t.ok), 'report ok', r);
  return r.results.map((t) => t.result.status);
}

// ---------------------------------------------------------------------------
// The harness: one property per surface, signals in every state.
// ---------------------------------------------------------------------------

interface ApiSurface {
  name: string;
  runs: number;
  args: fc.Arbitrary<unknown[]>;
  /** Calls the function with the generated arguments (the run's signal already placed). */
  call(args: unknown[]): Promise<unknown>;
  /** Throws unless the value is well formed; returns labels to count. */
  check(value: unknown): string[];
  /** A documented rejection beyond TypeError, RangeError and AbortError: its label, else null. */
  alsoAllowed?(error: unknown): string | null;
  /** Labels the seeded run must have produced at least once. */
  expected: string[];
}

const surfaces: ApiSurface[] = [
  {
    name: 'explain()',
    runs: runs(400),
    args: fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: targetArb },
        {
          weight: 3,
          arbitrary: fc.oneof(
            fc.tuple(loopbackHost, quickPort).map(([h, p]) => `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${p}`),
            fc.constant(0).map(() => `unix:${unixPath}`),
            oddString.map((s) => `unix:${s}`),
          ),
        },
        { weight: 1, arbitrary: oddString },
      ),
      optionsWith('timeout', {}),
    ).map(([t, o]) => [typeof t === 'string' ? safeTargetString(t, dir, parseTarget) : t, o]),
    call: (a) => (explain as (...x: unknown[]) => Promise<unknown>)(...a),
    check: checkDiagnosis,
    expected: ['TypeError', 'RangeError', 'AbortError', 'open/open', 'refused/nothing-listening', 'dns-error/dns-error', 'unreachable/no-socket-file'],
  },
  {
    name: 'waitFor()',
    runs: runs(400),
    args: fc.oneof(
      fc.tuple(targetArb, optionsWith('timeout', waitForExtra())),
      fc.tuple(hostArb.map((h) => (typeof h === 'string' ? safeHost(h) : h)), anyPort, optionsWith('timeout', waitForExtra())),
    ),
    call: (a) => (waitFor as (...x: unknown[]) => Promise<unknown>)(...a),
    check: (v) => {
      checkProbeResult(v as ProbeResult);
      must((v as ProbeResult).status === 'open', 'waitFor resolved with a result that is not open', v);
      return ['open'];
    },
    alsoAllowed: (e) => {
      const w = e as { name?: unknown; code?: unknown; lastResult?: unknown; attempts?: unknown };
      if (w?.name !== 'WaitTimeoutError' || w.code !== 'SOCKPROBE_WAIT_TIMEOUT') return null;
      checkProbeResult(w.lastResult as ProbeResult);
      must(typeof w.attempts === 'number' && w.attempts >= 1, 'WaitTimeoutError attempts', w);
      return 'WaitTimeoutError';
    },
    expected: ['TypeError', 'RangeError', 'AbortError', 'open', 'WaitTimeoutError'],
  },
  {
    name: 'check()',
    runs: runs(400),
    args: fc.tuple(targetsArb, fc.oneof({ weight: 9, arbitrary: optionsWith('timeout', {}) }, { weight: 1, arbitrary: fc.constant(undefined) })),
    call: (a) => (check as (...x: unknown[]) => Promise<unknown>)(...a),
    check: checkReport,
    expected: ['TypeError', 'RangeError', 'AbortError', 'open', 'refused', 'dns-error'],
  },
  {
    name: 'monitor() started and stopped',
    runs: runs(300),
    args: fc.tuple(
      targetsArb,
      // timeout, its deprecated name timeoutMs, or both (equal or not).
      fc.oneof(optionsWith('timeout', monitorExtra()), optionsWith('timeoutMs', monitorExtra()), optionsWith('timeout', { ...monitorExtra(), timeoutMs: tinyTimeout })),
      fc.integer({ min: 0, max: 15 }),
      fc.boolean(),
    ),
    call: async ([targets, options, ms, iterate]) => {
      const m = monitor(targets as never, options as never);
      const seen: unknown[] = [];
      m.on('transition', (t) => seen.push(t));
      const it = iterate === true ? m[Symbol.asyncIterator]() : undefined;
      const pending = it?.next();
      await new Promise((r) => setTimeout(r, ms as number));
      const status = m.status();
      m.stop();
      m.stop(); // idempotent
      if (pending !== undefined) {
        // stop() ends every iterator: a pending next() settles.
        await withinMs(pending, 2000, 'the iterator after stop()');
        must((await it?.next())?.done === true, 'iterator done after stop()', null);
      }
      return { status, stopped: m.stopped, seen };
    },
    check: (v) => {
      const { status, stopped } = v as { status: { state: string; rounds: number; targets: { history: ProbeResult[]; state: string }[] }; stopped: boolean };
      must(stopped, 'monitor stopped', v);
      must(['starting', 'healthy', 'unhealthy'].includes(status.state) && Number.isInteger(status.rounds), 'monitor status', status);
      for (const t of status.targets) t.history.forEach(checkProbeResult);
      return [status.rounds > 0 ? 'rounds' : 'no-round', status.state];
    },
    // The caller's signal stops the monitor; it never makes monitor() throw.
    expected: ['TypeError', 'RangeError', 'rounds', 'starting'],
  },
  {
    name: 'healthHandler() built and asked',
    runs: runs(300),
    args: fc.tuple(
      targetsArb,
      fc.oneof(
        {
          weight: 9,
          arbitrary: fc.record(
            {
              timeout: tinyTimeout,
              cacheMs: smallMs,
              path: mostly(fc.constantFrom(undefined, '/', '/health', '/h?'), fc.oneof(oddString, anyValue)),
              metricsPath: mostly(fc.constantFrom(undefined, '/metrics', '/', '/m'), fc.oneof(oddString, anyValue)),
              ...passThroughArb,
            },
            { requiredKeys: [] },
          ),
        },
        { weight: 1, arbitrary: anyValue },
      ),
      fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'),
      fc.oneof(fc.constantFrom('/', '/health', '/metrics', '/m', '/?x=1', '/metrics?y', '/nope', '//'), oddString.map((s) => `/${encodeURIComponent(Buffer.from(s).toString())}`)),
    ),
    call: async ([targets, options, method, url]) => {
      const handler = healthHandler(targets as never, options as never);
      currentHandler = handler;
      try {
        const res = await withinMs(request(method as string, url as string), 8000, 'health request');
        return { ...res, method, rounds: handler.rounds };
      } finally {
        currentHandler = undefined;
      }
    },
    check: (v) => {
      const r = v as { status: number; body: string; type: string; method: string };
      must([200, 503, 404, 405].includes(r.status), 'health status code', r);
      if (r.method === 'HEAD') must(r.body === '', 'HEAD has no body', r);
      else if (r.type.startsWith('application/json')) {
        const j = JSON.parse(r.body) as { status?: string; targets?: unknown[]; error?: string };
        if (r.status === 200 || r.status === 503) must(j.status === (r.status === 200 ? 'healthy' : 'unhealthy') && Array.isArray(j.targets), 'health body', r);
        else must(typeof j.error === 'string', 'error body', r);
      } else must(r.status === 200 && r.body.includes('probe_success'), 'metrics body', r);
      return [String(r.status)];
    },
    expected: ['TypeError', 'RangeError', '200', '404', '405'],
  },
  {
    name: 'probeMany()',
    runs: runs(400),
    args: fc.tuple(
      fc.oneof(
        { weight: 6, arbitrary: fc.array(targetArb, { maxLength: 8 }) },
        { weight: 2, arbitrary: fc.array(targetArb, { maxLength: 8 }).map((l) => ({ kind: 'generator', list: l })) },
        { weight: 1, arbitrary: fc.array(targetArb, { maxLength: 4 }).map((l) => new Set(l)) },
        { weight: 1, arbitrary: fc.array(targetArb, { maxLength: 4 }).map((l) => [, ...l]) }, // eslint-disable-line no-sparse-arrays
        { weight: 1, arbitrary: anyValue },
      ),
      optionsWith('timeout', { concurrency: mostly(fc.integer({ min: 1, max: 4 }), fc.oneof(oddNumber, anyValue)) }),
      fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 3 })),
    ),
    call: async ([targets, options, stopAfter]) => {
      const t =
        typeof targets === 'object' && targets !== null && (targets as { kind?: unknown }).kind === 'generator'
          ? (function* gen() {
              yield* (targets as { list: unknown[] }).list;
            })()
          : targets;
      const out: unknown[] = [];
      for await (const r of probeMany(t as never, options as never)) {
        out.push(r);
        if (out.length >= (stopAfter as number)) break; // return(): every socket still open is closed
      }
      return out;
    },
    check: (v) =>
      (v as (ProbeResult & { index: number })[]).map((r) => {
        checkProbeResult(r);
        must(Number.isInteger(r.index) && r.index >= 0, 'probeMany index', r);
        return r.status;
      }),
    expected: ['TypeError', 'RangeError', 'AbortError', 'open', 'refused', 'dns-error'],
  },
];

function monitorExtra(): Record<string, fc.Arbitrary<unknown>> {
  return {
    periodMs: smallMs,
    failureThreshold: mostly(fc.integer({ min: 1, max: 3 }), fc.oneof(oddNumber, anyValue)),
    successThreshold: mostly(fc.integer({ min: 1, max: 3 }), fc.oneof(oddNumber, anyValue)),
    startPeriodMs: smallMs,
    historySize: mostly(fc.integer({ min: 1, max: 5 }), fc.oneof(oddNumber, anyValue)),
  };
}

function waitForExtra(): Record<string, fc.Arbitrary<unknown>> {
  return {
    probeTimeout: fc.oneof(smallMs, fc.constant(undefined)),
    interval: fc.oneof(smallMs, fc.constant(undefined)),
    backoff: mostly(fc.constantFrom(undefined, 1, 1.5, 2), fc.oneof(oddNumber, anyValue)),
    maxInterval: fc.oneof(smallMs, fc.constant(undefined)),
    jitter: mostly(fc.constantFrom(undefined, 0, 0.2, 1), fc.oneof(oddNumber, anyValue)),
    stableMs: fc.oneof(smallMs, fc.constant(undefined)),
  };
}

function request(method: string, url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: httpPort, method, path: url, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function count(outcomes: Map<string, number>, k: string): void {
  outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
}

function summary(name: string, n: number, outcomes: Map<string, number>): void {
  console.log(`${name}: ${n} runs, outcomes ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
}

function checkAfter(before: number): Promise<void> {
  expect(inFlight()).toBe(0);
  return new Promise<void>((r) => setTimeout(r, 50)).then(() => {
    // Fewer is fine (a socket of an earlier test closing); more is a leak.
    expect(fdCount()).toBeLessThanOrEqual(before);
    expect(unhandled).toEqual([]);
    expect(warnings.map(String)).toEqual([]);
  });
}

describe('property: the rest of the public API settles with a valid value or an allowed error', () => {
  test.each(surfaces.map((s) => [s.name, s] as const))('%s', async (_name, surface) => {
    const before = fdCount();
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(surface.args, signalSpec, async (generated, spec) => {
        const built = buildSignal(spec);
        try {
          const args = placeSignal(generated, built.signal);
          const p = surface.call(args).then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          );
          built.after();
          const settled = await withinMs(p, 10_000, `${surface.name}(${describeArgs(args)})`);
          if (settled.ok) {
            for (const label of surface.check(settled.value)) count(outcomes, label);
            return;
          }
          const extra = surface.alsoAllowed?.(settled.error) ?? null;
          if (extra !== null) return count(outcomes, extra);
          if (!isAllowedRejection(settled.error)) throw new Error(`disallowed rejection ${String(settled.error)} for ${describeArgs(args)}`);
          const name = (settled.error as Error).name;
          if (name === 'AbortError' && !built.mayAbort) throw new Error(`AbortError without an aborting signal: ${describeArgs(args)}`);
          count(outcomes, name);
        } finally {
          built.dispose();
        }
      }),
      { seed: SEED, numRuns: surface.runs, interruptAfterTimeLimit: 120_000 },
    );
    summary(surface.name, surface.runs, outcomes);
    if (SCALE >= 1) expect(surface.expected.filter((label) => (outcomes.get(label) ?? 0) === 0)).toEqual([]);
    await checkAfter(before);
  });
});

// ---------------------------------------------------------------------------
// Synchronous functions: no I/O, so many more runs.
// ---------------------------------------------------------------------------

/** Runs `fn` on every generated input: it returns (checked, labelled) or throws TypeError/RangeError. */
function syncProperty<T>(name: string, n: number, arb: fc.Arbitrary<T>, fn: (input: T) => string[], expected: string[]): void {
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(arb, (input) => {
      let labels: string[];
      try {
        labels = fn(input);
      } catch (e) {
        if (!isErrorNamed(e, 'TypeError') && !isErrorNamed(e, 'RangeError')) throw new Error(`${name}: disallowed ${String(e)} for ${describeArgs([input])}`);
        labels = [(e as Error).name];
      }
      for (const l of labels) count(outcomes, l);
    }),
    { seed: SEED, numRuns: n },
  );
  summary(name, n, outcomes);
  if (SCALE >= 1) expect(expected.filter((label) => (outcomes.get(label) ?? 0) === 0)).toEqual([]);
}

/** Target strings as people might type them, and as they should not. */
const targetText: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(loopbackHost, fc.integer({ min: 0, max: 70000 })).map(([h, p]) => `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${p}`),
  fc.tuple(oddString, fc.oneof(fc.integer({ min: 1, max: 65535 }).map(String), oddString)).map(([h, p]) => `${h}:${p}`),
  fc.tuple(oddString, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `[${h}]:${p}`),
  fc.tuple(fc.ipV6(), fc.constantFrom('', '%lo', '%1', '%eth0', '%', '%%', '%]'), fc.integer({ min: 1, max: 65535 })).map(([a, z, p]) => `[${a}${z}]:${p}`),
  oddString.map((s) => `unix:${s}`),
  oddString,
  fc.constantFrom('unix:', 'unix:/', ':80', '[]:80', '[::1]', '[::1]80', '[::1]:', 'host:', 'host:0', 'host:65536', 'host:080', 'host:+80', 'host:8e1', 'a:b:c', 'host: 80'),
);

describe('property: the synchronous API', () => {
  test('parseTarget() and formatTarget() read back what they write', () => {
    syncProperty('parseTarget()', runs(4000), fc.oneof({ weight: 9, arbitrary: targetText }, { weight: 1, arbitrary: anyValue }), (text) => {
      const t = parseTarget(text as string) as Record<string, unknown>;
      if ('path' in t) must(typeof t.path === 'string' && Object.keys(t).length === 1, 'unix target', t);
      else must(typeof t.host === 'string' && (t.host as string).length > 0 && Number.isInteger(t.port) && (t.port as number) >= 1 && (t.port as number) <= 65535, 'tcp target', t);
      const again = formatTarget(t as never);
      expect(parseTarget(again)).toEqual(t);
      return ['path' in t ? 'unix' : 'tcp'];
    }, ['TypeError', 'RangeError', 'unix', 'tcp']);
    syncProperty('formatTarget()', runs(3000), fc.oneof(targetArb, anyValue), (t) => {
      const text = formatTarget(t as never);
      must(typeof text === 'string' && text.length > 0 && !text.includes('undefined'), 'formatted target', text);
      // What was formatted from a loopback host reads back as the same target.
      const host = (t as { host?: unknown }).host;
      if (typeof host === 'string' && safeHost(host) === host && !host.startsWith('x'.repeat(64))) {
        const bare = host.replace(/^\[(.*)\]$/, '$1');
        expect(parseTarget(text)).toEqual({ host: bare, port: (t as { port: number }).port });
      }
      return ['string'];
    }, ['TypeError', 'RangeError', 'string']);
  });

  test('describe() words every real result and refuses what is not one', () => {
    const mutated = fc.tuple(fc.constantFrom(...realResults), fc.constantFrom('status', 'reason', 'port', 'address', 'attempts', 'host'), fc.oneof(oddString, anyValue)).map(
      ([r, key, value]) => ({ ...r, [key]: value }),
    );
    syncProperty(
      'describe()',
      runs(3000),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...realResults).map((r) => ({ real: true, r })) }, { weight: 3, arbitrary: mutated.map((r) => ({ real: false, r })) }, { weight: 1, arbitrary: anyValue.map((r) => ({ real: false, r })) }),
      ({ real, r }) => {
        const text = describeResult(r as ProbeResult);
        must(typeof text === 'string' && text.length > 0, 'describe() text', text);
        if (real) must(!text.includes('undefined') && !text.includes('NaN'), 'describe() of a real result', text);
        return [real ? 'real' : 'string'];
      },
      ['TypeError', 'real', 'string'],
    );
    // The real results cover every status this machine can produce without a lab.
    expect(new Set(realResults.map((r) => r.status))).toEqual(new Set(['open', 'refused', 'timeout', 'dns-error', 'unreachable', 'local-error']));
  });

  test('parsePorts() returns each port once, in order, or a RangeError', () => {
    const piece = fc.oneof(
      fc.integer({ min: 0, max: 70000 }).map(String),
      fc.tuple(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 }), fc.constantFrom('-', ' - ', '-  ')).map(([a, b, d]) => `${a}${d}${b}`),
      fc.constantFrom('1-65535', '0-65535', '1-65536', '99999999999999999999-1', '1-99999999999999999999', '1e3', '0x50', '-1', '1--2', '', ' ', '٣', '１', '80.0', '1_000'),
      oddString,
    );
    const spec = fc.oneof(
      { weight: 6, arbitrary: fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join(',')) },
      { weight: 1, arbitrary: fc.tuple(piece, fc.integer({ min: 1, max: 2000 })).map(([p, n]) => Array(n).fill(p).join(',')) },
      { weight: 1, arbitrary: anyValue },
    );
    syncProperty('parsePorts()', runs(1000), spec, (s) => {
      const ports = parsePorts(s as string);
      must(ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) && new Set(ports).size === ports.length, 'ports', ports.slice(0, 10));
      // A plain reference for what it must be, when that is cheap to compute.
      const parts = (s as string).split(',').map((x) => x.trim().split(/\s*-\s*/).map(Number));
      if (parts.reduce((n, [lo = 0, hi = lo]) => n + Math.max(0, hi - lo + 1), 0) <= 200_000) {
        const want: number[] = [];
        const seen = new Set<number>();
        for (const [lo = 0, hi = lo] of parts) for (let p = lo; p <= hi; p++) if (!seen.has(p)) (seen.add(p), want.push(p));
        expect(ports).toEqual(want);
      }
      return [ports.length === 65535 ? 'all' : 'ports'];
    }, ['TypeError', 'RangeError', 'all', 'ports']);
  });

  test('expandTargets() multiplies, or refuses with a RangeError before running out of memory', () => {
    const many = Array<string>(5000).fill('127.0.0.1');
    const hosts = fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.oneof(loopbackHost, oddString), { maxLength: 5 }) },
      { weight: 2, arbitrary: fc.oneof(loopbackHost, oddString) },
      { weight: 1, arbitrary: fc.constant(many) },
      { weight: 1, arbitrary: fc.array(loopbackHost, { maxLength: 3 }).map((l) => [, ...l]) }, // eslint-disable-line no-sparse-arrays
      { weight: 1, arbitrary: anyValue },
    );
    const ports = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('80', '1-1024', '1-65535', '22,80,8000-8100', '0', '', 'x') },
      { weight: 2, arbitrary: fc.array(fc.oneof(fc.integer({ min: 1, max: 65535 }), oddNumber), { maxLength: 5 }) },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }).map((l) => [, ...l]) }, // eslint-disable-line no-sparse-arrays
      { weight: 1, arbitrary: oddString },
      { weight: 1, arbitrary: anyValue },
    );
    syncProperty('expandTargets()', runs(1500), fc.tuple(hosts, ports), ([h, p]) => {
      const out = expandTargets(h as never, p as never);
      must(out.length <= MAX_EXPANDED_TARGETS, 'too many targets', out.length);
      for (const t of out.slice(0, 1000)) must(typeof t.host === 'string' && Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535, 'expanded target', t);
      return ['targets'];
    }, ['TypeError', 'RangeError', 'targets']);
  });

  // Some of the values reach the addon's inspect() (process.stdout is a descriptor).
  needs(nativeEngine).test('inspect() refuses anything that is not a connected TCP socket with a TypeError', () => {
    syncProperty('inspect(arbitrary)', runs(1500), fc.tuple(fc.oneof(anyValue, fc.constantFrom<unknown>(new net.Socket(), new net.Server(), process.stdout)), fc.oneof(anyValue, fc.constant(undefined))), ([s, o]) => {
      inspect(s as net.Socket, o as never);
      throw new Error(`inspect() accepted ${describeArgs([s])}`);
    }, ['TypeError']);
  });
});

// ---------------------------------------------------------------------------
// inspect() on real sockets in odd states.
// ---------------------------------------------------------------------------

const SOCKET_STATES = [
  'never-connected',
  'connecting',
  'connected',
  'connected-v6',
  'unread-data',
  'peer-ended',
  'peer-reset',
  'local-ended',
  'destroyed',
  'refused',
  'unix',
  'accepted-side',
] as const;
type SocketState = (typeof SOCKET_STATES)[number];

const TCP_STATES = new Set(['established', 'syn-sent', 'syn-recv', 'fin-wait-1', 'fin-wait-2', 'time-wait', 'close', 'close-wait', 'last-ack', 'closing', 'new-syn-recv', 'bound-inactive', 'unknown']);

/** A server whose accepted sockets do what `state` wants from the peer. */
async function socketIn(state: SocketState): Promise<{ socket: net.Socket; cleanup(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((c) => {
    accepted.push(c);
    c.on('error', () => undefined);
    if (state === 'unread-data') c.write('x'.repeat(4096));
    if (state === 'peer-ended') c.end();
    if (state === 'peer-reset') c.resetAndDestroy();
  });
  server.listen(0, state === 'connected-v6' ? '::1' : '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const cleanup = async (): Promise<void> => {
    socket.destroy();
    for (const c of accepted) c.destroy();
    await new Promise((r) => server.close(r));
  };
  let socket: net.Socket;
  const connect = async (options: net.NetConnectOpts): Promise<void> => {
    const s = net.connect(options);
    socket = s;
    s.on('error', () => undefined);
    // A refused connect ends in 'error' then 'close': wait for whichever comes.
    await new Promise((r) => {
      s.once('connect', r);
      s.once('close', r);
    });
  };
  switch (state) {
    case 'never-connected':
      socket = new net.Socket();
      break;
    case 'connecting':
      socket = net.connect({ host: '127.0.0.1', port: silent.port });
      socket.on('error', () => undefined);
      break;
    case 'refused':
      await connect({ host: '127.0.0.1', port: closed });
      break;
    case 'unix':
      await connect({ path: unixPath });
      break;
    case 'connected-v6':
      await connect({ host: '::1', port });
      break;
    case 'accepted-side': {
      await connect({ host: '127.0.0.1', port });
      while (accepted.length === 0) await new Promise((r) => setImmediate(r));
      const client = socket!;
      const side = accepted[0] as net.Socket;
      return { socket: side, cleanup: async () => (client.destroy(), cleanup()) };
    }
    default:
      await connect({ host: '127.0.0.1', port });
      // Let the peer's data, FIN or RST arrive.
      if (state === 'unread-data' || state === 'peer-ended' || state === 'peer-reset') {
        socket!.pause();
        await new Promise((r) => setTimeout(r, 5));
      }
      if (state === 'local-ended') socket!.end();
      if (state === 'destroyed') socket!.destroy();
  }
  return { socket: socket!, cleanup };
}

needs(nativeEngine).describe('property: inspect() on real sockets in odd states', () => {
  test('a snapshot of a TCP connection, or a TypeError', async () => {
    const before = fdCount();
    const outcomes = new Map<string, number>();
    const n = runs(300);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SOCKET_STATES), fc.oneof(fc.constantFrom<unknown>(undefined, {}, { takeError: true }, { takeError: false }), anyValue), async (state, options) => {
        const { socket, cleanup } = await socketIn(state);
        try {
          let snap;
          try {
            snap = inspect(socket, options as never);
          } catch (e) {
            if (!isErrorNamed(e, 'TypeError')) throw new Error(`inspect(${state}) threw ${String(e)}`);
            count(outcomes, `${state}:TypeError`);
            return;
          }
          must(Number.isInteger(snap.fd) && snap.fd >= 0 && (snap.family === 4 || snap.family === 6), 'snapshot fd/family', snap);
          must(snap.state === undefined || TCP_STATES.has(snap.state), 'snapshot state', snap);
          must(snap.error === null || snap.error.taken === false || (typeof snap.error.code === 'string' && Number.isInteger(snap.error.errno)), 'snapshot error', snap);
          must(typeof snap.peerClosed === 'boolean' && Number.isInteger(snap.sndbuf) && Number.isInteger(snap.rcvbuf), 'snapshot basics', snap);
          for (const [k, v] of Object.entries(snap)) if (typeof v === 'number') must(Number.isFinite(v) && v >= -1, `snapshot ${k}`, snap);
          must(JSON.stringify(JSON.parse(JSON.stringify(snap))) === JSON.stringify(snap), 'snapshot is plain data', snap);
          // inspect() borrows the descriptor: the socket is still usable afterwards.
          must(!socket.destroyed || state === 'peer-reset', 'socket destroyed by inspect()', state);
          count(outcomes, `${state}:${snap.state ?? 'no-state'}`);
        } finally {
          await cleanup();
        }
      }),
      { seed: SEED, numRuns: n, interruptAfterTimeLimit: 60_000 },
    );
    summary('inspect(real sockets)', n, outcomes);
    if (SCALE >= 1) {
      for (const state of ['never-connected', 'connecting', 'destroyed', 'refused', 'unix']) expect([state, outcomes.get(`${state}:TypeError`) ?? 0]).not.toEqual([state, 0]);
      expect(outcomes.get('connected:established') ?? 0).toBeGreaterThan(0);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(fdCount()).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// The CLI's argument parser: pure, through main() in this process, and as the
// real command in a child process.
// ---------------------------------------------------------------------------

const argToken: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      '-t', '--timeout', '-w', '--wait', '-4', '-6', '-j', '--json', '-q', '--quiet', '-h', '--help', '-V', '--version',
      '--', '-', '-x', '--nope', '--timeout=5', '--timeout=', '-t5', '-t0', '-t-1', '-t1e3', '-wq', '-46', '-jq', '--wait=1', '--json=yes',
      'explain', 'EXPLAIN', '5', '0.5', '10', '99999999999', '2147483647', '2147483648',
    ),
  },
  { weight: 5, arbitrary: targetText },
  { weight: 2, arbitrary: oddString },
);

/** argv whose targets are all safe: every word that parses as a target is made safe (words that are option values stay harmless). */
const argvArb = fc.array(argToken, { maxLength: 6 }).map((argv) => argv.map((w) => safeTargetString(w, dir, parseTarget)));

function checkParsed(parsed: ReturnType<typeof parseCommandLine>): string {
  if (parsed.kind !== 'run') return parsed.kind;
  const s = parsed.settings;
  must(s.command === 'probe' || s.command === 'explain', 'command', s);
  must(s.targets.length > 0 && (s.command === 'probe' || s.targets.length === 1), 'targets', s);
  for (const t of s.targets) {
    if ('path' in t) must(typeof t.path === 'string' && t.path.length > 0, 'unix target', t);
    else must(typeof t.host === 'string' && Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535, 'tcp target', t);
  }
  must(Number.isFinite(s.timeout) && s.timeout > 0 && s.timeout <= MAX_TIMEOUT_MS, 'timeout', s);
  must([0, 4, 6].includes(s.family) && typeof s.json === 'boolean' && typeof s.quiet === 'boolean' && typeof s.wait === 'boolean', 'flags', s);
  must(!(s.wait && s.command === 'explain'), 'explain --wait', s);
  return `run:${s.command}`;
}

/** A run main() may take for real here: bounded in time, and only at loopback (checked again after parsing). */
function runnable(parsed: ReturnType<typeof parseCommandLine>): boolean {
  if (parsed.kind !== 'run') return true;
  const s = parsed.settings;
  for (const t of s.targets) {
    if ('path' in t) must(safePath(t.path, dir) === t.path, 'unsafe path got through', t);
    else must(safeHost(t.host) === t.host || t.host.startsWith(`${LONG_LABEL}.`), 'unsafe host got through', t);
  }
  return s.wait ? s.timeout <= 100 : s.timeout <= 3000;
}

function parsedOrUndefined(argv: string[]): ReturnType<typeof parseCommandLine> | undefined {
  try {
    return parseCommandLine(argv);
  } catch {
    return undefined;
  }
}

class Sink {
  text = '';
  isTTY = false;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe('property: the CLI', () => {
  test("parseCommandLine() returns settings or throws a usage error, whatever argv holds", () => {
    const outcomes = new Map<string, number>();
    const n = runs(6000);
    fc.assert(
      fc.property(fc.oneof({ weight: 9, arbitrary: argvArb }, { weight: 1, arbitrary: fc.array(oddString, { maxLength: 4 }) }), (argv) => {
        let label: string;
        try {
          label = checkParsed(parseCommandLine(argv));
        } catch (e) {
          // UsageError is the CLI's own class: main() turns it (and only it) into exit status 2.
          if (!(e instanceof Error) || e.constructor.name !== 'UsageError' || e.message.length === 0)
            throw new Error(`parseCommandLine(${describeArgs(argv)}) threw ${String(e)}`);
          label = 'usage';
        }
        count(outcomes, label);
      }),
      { seed: SEED, numRuns: n },
    );
    summary('parseCommandLine()', n, outcomes);
    if (SCALE >= 1) for (const k of ['usage', 'help', 'version', 'run:probe', 'run:explain']) expect([k, (outcomes.get(k) ?? 0) > 0]).toEqual([k, true]);
  });

  test('main() exits 0, 1 or 2 (with a usage message), never throws', async () => {
    const before = fdCount();
    const outcomes = new Map<string, number>();
    const n = runs(500);
    await fc.assert(
      fc.asyncProperty(argvArb, async (argv) => {
        const parsed = parsedOrUndefined(argv);
        if (parsed !== undefined && !runnable(parsed)) return void count(outcomes, 'skipped (long wait)');
        const stdout = new Sink();
        const stderr = new Sink();
        const io = { stdout, stderr, env: { NO_COLOR: '1' } } as unknown as CliIO;
        const code = await withinMs(main(argv, io), 10_000, `main(${describeArgs(argv)})`);
        must([0, 1, 2].includes(code), 'exit status', { argv, code });
        if (code === 2) {
          must(parsed === undefined, 'exit 2 for argv that parses', argv);
          must(stderr.text.startsWith('sockprobe: ') && stderr.text.includes("Try 'sockprobe --help'"), 'usage message', stderr.text);
        } else {
          must(parsed !== undefined && !stderr.text.includes('internal error'), 'exit 0/1', { argv, err: stderr.text });
          if (parsed?.kind === 'run' && parsed.settings.json) JSON.parse(stdout.text);
          if (parsed?.kind === 'help') must(stdout.text.startsWith('Usage: sockprobe'), 'help text', stdout.text);
        }
        count(outcomes, `exit ${code}`);
      }),
      { seed: SEED, numRuns: n, interruptAfterTimeLimit: 60_000 },
    );
    summary('cli main()', n, outcomes);
    if (SCALE >= 1) for (const k of ['exit 0', 'exit 1', 'exit 2']) expect([k, (outcomes.get(k) ?? 0) > 0]).toEqual([k, true]);
    await checkAfter(before);
  });

  test('the real command in a child process: exit 0, 1 or 2, no crash', async () => {
    const outcomes = new Map<string, number>();
    const n = runs(24);
    await fc.assert(
      fc.asyncProperty(argvArb, async (argv) => {
        const parsed = parsedOrUndefined(argv);
        if (parsed !== undefined && !runnable(parsed)) return void count(outcomes, 'skipped (long wait)');
        const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stdout.resume();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
        clearTimeout(timer);
        must(signal === null && code !== null && [0, 1, 2].includes(code), 'child exit', { argv, code, signal, stderr });
        must(!stderr.includes('internal error') && !stderr.includes('    at '), 'child stderr', { argv, stderr });
        if (code === 2) must(stderr.includes("Try 'sockprobe --help'"), 'usage message', { argv, stderr });
        count(outcomes, `exit ${String(code)}`);
      }),
      { seed: SEED, numRuns: n, interruptAfterTimeLimit: 60_000 },
    );
    summary('cli child process', n, outcomes);
    if (SCALE >= 1) expect(outcomes.get('exit 2') ?? 0).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------
// Regressions for what the properties above found.
// ---------------------------------------------------------------------------

describe('regressions found by the properties', () => {
  test('expandTargets(): a huge product is a RangeError, not an out-of-memory', () => {
    // 5,000 hosts x 65,535 ports = 327,675,000 objects: before the cap, the heap ran out.
    expect(() => expandTargets(Array<string>(5000).fill('127.0.0.1'), '1-65535')).toThrow(RangeError);
    expect(() => expandTargets(['127.0.0.1', '::1'].concat(Array<string>(15).fill('localhost')), '1-65535')).toThrow(/more than 1048576 targets/);
    expect(expandTargets(Array<string>(16).fill('127.0.0.1'), '1-65535')).toHaveLength(16 * 65535);
  });

  test('expandTargets(): a hole in a sparse array is a TypeError, not a target with host undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => expandTargets([, '127.0.0.1'] as string[], [80])).toThrow(TypeError);
    // eslint-disable-next-line no-sparse-arrays
    expect(() => expandTargets('127.0.0.1', [80, , 81] as number[])).toThrow(/ports\[1\]/);
  });

  test('probeMany(): a hole in a sparse array is a TypeError naming it', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => probeMany([{ host: '127.0.0.1', port: closed }, , { host: '127.0.0.1', port: closed }] as never)).toThrow(/targets\[1\] must be/);
  });

  test('parsePorts(): repeated full ranges cost as little as repeated single ports (no walk per part)', () => {
    // Before: each '1-65535' walked 65,535 ports again (800 KB of them took 15 s).
    // A ratio, not a deadline: the same number of parts, full ranges vs single ports.
    const time = (spec: string): number => {
      const t = performance.now();
      parsePorts(spec);
      return performance.now() - t;
    };
    const full = Array<string>(20_000).fill('1-65535').join(',');
    const single = Array<string>(20_000).fill('65535').join(',');
    time(full);
    time(single); // warm up
    const ratio = Math.min(time(full), time(full)) / Math.max(0.05, Math.min(time(single), time(single)));
    expect(parsePorts(full)).toHaveLength(65535);
    expect(ratio).toBeLessThan(20); // was about 1,000 (the per-part walk)
  });

  test('monitor() and healthHandler(): options probe() refuses for a target are a RangeError at construction, not a warning every round', () => {
    const v6 = { host: '::1', port: open6.port };
    for (const [targets, options] of [
      [v6, { family: 4 }],
      [{ host: '127.0.0.1', port: open4.port }, { family: 4, localAddress: '::1' }],
      [{ host: '127.0.0.1', port: open4.port }, { localAddress: '::1' }],
      [{ path: unixPath }, { family: 6 }],
      [{ path: unixPath }, { localAddress: '127.0.0.1' }],
    ] as const) {
      expect(() => monitor(targets, options as never).stop()).toThrow(RangeError);
      expect(() => healthHandler(targets, options as never)).toThrow(RangeError);
    }
    // Names are resolved per family at probe time, so they pass.
    monitor({ host: 'localhost', port: open4.port }, { family: 4, localAddress: '127.0.0.1' }).stop();
    expect(warnings.map(String)).toEqual([]);
  });

  test('formatTarget(): checks its argument (TypeError/RangeError) and strips brackets it would double', () => {
    expect(() => formatTarget({} as never)).toThrow(TypeError);
    expect(() => formatTarget(null as never)).toThrow(TypeError);
    expect(() => formatTarget({ host: 'h', port: 0 })).toThrow(RangeError);
    expect(() => formatTarget({ host: '::1', path: '/x' } as never)).toThrow(TypeError);
    expect(formatTarget({ host: '[::1]', port: 80 })).toBe('[::1]:80');
    expect(parseTarget(formatTarget({ host: '[::1]', port: 80 }))).toEqual({ host: '::1', port: 80 });
  });

  test("describe(): a reason outside the union is a TypeError, never 'undefined' or Object.prototype's words", () => {
    const open = realResults.find((r) => r.status === 'open') as ProbeResult;
    expect(() => describeResult({ ...open, reason: 'constructor' } as never)).toThrow(TypeError);
    expect(() => describeResult({ ...open, reason: 'no-such-reason' } as never)).toThrow(TypeError);
    expect(() => describeResult(null as never)).toThrow(/probe result/);
    expect(describeResult(open)).toMatch(/is open/);
  });
});
