// Resource faults and races, on real sockets: descriptor exhaustion under a
// low RLIMIT_NOFILE, thousands of aborts and deadlines racing completions, and
// every native failure path that can be reached from outside (the others are
// argued unreachable in comments in native/addon.cc).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { native, register, unregister, type RawOutcome } from '../../src/binding';
import { probe, type ProbeResult } from '../../src';
import { inFlight } from '../../src/engine';
import { closedPort, fdCount, libDir, openListener, silentPort, tmpDir } from '../helpers';
import { nativeEngine, needs } from '../preconditions';
import { checkProbeResult, isErrorNamed, lastJson, runNode } from './support';

jest.setTimeout(120_000);

/** The addon's own surface (start, cancel, init) is called directly. */
const addon = needs(nativeEngine);

describe('descriptor exhaustion (RLIMIT_NOFILE 64, in a child process)', () => {
  test('probes resolve as local-error EMFILE, the process goes on, and probing works again once descriptors free up', async () => {
    const script = `
      const fs = require('node:fs');
      const net = require('node:net');
      const { probe } = require(${JSON.stringify(libDir)});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      (async () => {
        const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
        await new Promise((r) => server.once('listening', r));
        const port = server.address().port;
        const baseline = fds();
        // Take every descriptor left.
        const hog = [];
        for (;;) {
          try { hog.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; break; }
        }
        const full = await probe('127.0.0.1', port, { timeout: 2000 });
        const six = await probe('::1', port, { timeout: 2000 });
        const unix = await probe({ path: '/tmp/none.sock' });
        // A burst while exhausted: every one a local-error, none a crash.
        const burst = await Promise.all(Array.from({ length: 500 }, () => probe('127.0.0.1', port, { timeout: 2000 })));
        const byName = await probe('localhost', port, { timeout: 2000 });
        // Free descriptors: probing works again.
        for (const fd of hog.splice(0, 10)) fs.closeSync(fd);
        const again = await probe('127.0.0.1', port, { timeout: 2000 });
        for (const fd of hog) fs.closeSync(fd);
        const later = [];
        for (let b = 0; b < 20; b++) later.push(...(await Promise.all(Array.from({ length: 10 }, () => probe('127.0.0.1', port, { timeout: 2000 })))));
        await new Promise((r) => setTimeout(r, 50));
        const fdsDelta = fds() - baseline;
        server.close();
        console.log(JSON.stringify({
          hogged: hog.length, full, six, unix, byName, again,
          burst: burst.map((r) => r.status + '/' + r.reason + '/' + r.code),
          later: later.map((r) => r.status),
          fdsDelta,
        }));
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const run = await runNode(script, { nofile: 64 });
    expect(run.hung).toBe(false);
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    const out = lastJson<{
      hogged: number;
      full: ProbeResult;
      six: ProbeResult;
      unix: ProbeResult;
      byName: ProbeResult;
      again: ProbeResult;
      burst: string[];
      later: string[];
      fdsDelta: number;
    }>(run);
    expect(out.hogged).toBeGreaterThan(0);
    for (const r of [out.full, out.six, out.unix]) {
      checkProbeResult(r);
      expect(r).toMatchObject({ status: 'local-error', reason: 'no-descriptors', code: 'EMFILE', stage: 'socket' });
    }
    expect(new Set(out.burst)).toEqual(new Set(['local-error/no-descriptors/EMFILE']));
    expect(out.burst).toHaveLength(500);
    // The resolver cannot open /etc/hosts either: whatever it says must be a union member.
    checkProbeResult(out.byName);
    expect(out.again.status).toBe('open');
    expect(out.later).toEqual(Array(200).fill('open'));
    expect(out.fdsDelta).toBe(0);
  });
});

/**
 * Descriptors that take the numbers probes free. A socket closed twice would
 * close one of these (the kernel hands out the lowest free number), so each
 * is checked afterwards to still be open and still be its own file.
 */
function canaries(dir: string): { open(n: number): void; check(): void; close(): void } {
  const held: { fd: number; ino: number }[] = [];
  let i = 0;
  return {
    open(n: number) {
      for (let k = 0; k < n; k++) {
        const file = path.join(dir, `canary-${i++}`);
        fs.writeFileSync(file, '');
        const fd = fs.openSync(file, 'r');
        held.push({ fd, ino: fs.statSync(file).ino });
      }
    },
    check() {
      for (const { fd, ino } of held) expect(fs.fstatSync(fd).ino).toBe(ino);
    },
    close() {
      for (const { fd } of held) fs.closeSync(fd);
      held.length = 0;
    },
  };
}

describe('aborts and deadlines racing completions', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let silent: Awaited<ReturnType<typeof silentPort>>;
  let closed: number;
  let dir: string;
  beforeAll(async () => {
    open = await openListener();
    silent = await silentPort();
    closed = await closedPort();
    dir = tmpDir();
  });
  afterAll(async () => {
    await open.close();
    await silent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('4,000 probes aborted at every moment of their life: every socket closed exactly once', async () => {
    const before = fdCount();
    const guard = canaries(dir);
    const tally = new Map<string, number>();
    const ports = [open.port, closed, silent.port];
    // When the abort comes, relative to the probe's own events.
    const when: ((abort: () => void) => void)[] = [
      (abort) => abort(), // synchronously, right after start
      (abort) => queueMicrotask(abort),
      (abort) => process.nextTick(abort),
      (abort) => setImmediate(abort), // after one poll phase: often just after the connect completed
      (abort) => setTimeout(abort, 0),
      (abort) => setTimeout(abort, 1),
      (abort) => setTimeout(abort, 2),
      () => undefined, // never: the deadline or the completion wins
    ];
    const batches = 20;
    const perBatch = 200;
    for (let b = 0; b < batches; b++) {
      const runs = Array.from({ length: perBatch }, async (_v, i) => {
        const ac = new AbortController();
        const port = ports[(b + i) % ports.length] as number;
        const p = probe('127.0.0.1', port, {
          signal: ac.signal,
          // Deadlines of 1-5 ms race the aborts and the completions; longer ones let completions win.
          timeout: port === silent.port ? 1 + (i % 4) : ([1, 2, 5, 50, 2000] as const)[(i >> 3) % 5],
          settle: i % 5 === 0 ? (i % 3) : 0,
          close: i % 2 === 0 ? 'reset' : 'graceful',
        });
        (when[i % when.length] as (abort: () => void) => void)(() => ac.abort());
        try {
          const r = await p;
          checkProbeResult(r);
          return r.status;
        } catch (e) {
          if (!isErrorNamed(e, 'AbortError')) throw e;
          return 'AbortError';
        }
      });
      for (const s of await Promise.all(runs)) tally.set(s, (tally.get(s) ?? 0) + 1);
      // Take the numbers just freed, so a late second close would hit a canary.
      guard.open(5);
    }
    expect(inFlight()).toBe(0);
    guard.check();
    guard.close();
    console.log(`race: ${batches * perBatch} probes: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);
    expect(tally.get('AbortError') ?? 0).toBeGreaterThan(0);
    expect(tally.get('timeout') ?? 0).toBeGreaterThan(0);
    expect((tally.get('open') ?? 0) + (tally.get('refused') ?? 0)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(fdCount()).toBe(before);
  });

  addon.test('native: cancel() from inside another probe\'s completion, cancel after completion, double cancel', async () => {
    const before = fdCount();
    const guard = canaries(dir);
    const total = 2000;
    const ids: number[] = [];
    const delivered = new Map<number, number>();
    const cancelled = new Set<number>();
    let immediate = 0;
    await new Promise<void>((resolve) => {
      let left = total;
      const done = (): void => {
        if (--left === 0) resolve();
      };
      for (let i = 0; i < total; i++) {
        const id = register((_raw: RawOutcome) => {
          delivered.set(id, (delivered.get(id) ?? 0) + 1);
          // Inside the libuv callback that delivered this one: cancel a neighbour.
          const victim = ids[(ids.indexOf(id) + 1) % ids.length] as number;
          if (native.cancel(victim)) {
            unregister(victim);
            cancelled.add(victim);
            done();
          }
          done();
        });
        ids.push(id);
        const port = i % 3 === 0 ? silent.port : i % 3 === 1 ? open.port : closed;
        const raw = native.start(id, 4, '127.0.0.1', port, null, 1 + (i % 5), i & 1);
        if (raw !== undefined) {
          unregister(id);
          immediate++;
          done();
        }
      }
    });
    // Every probe ended exactly one way.
    for (const id of ids) {
      const n = delivered.get(id) ?? 0;
      expect(n <= 1).toBe(true);
      expect(n === 1 && cancelled.has(id)).toBe(false);
    }
    expect(delivered.size + cancelled.size + immediate).toBe(total);
    expect(native.inFlight()).toBe(0);
    // Cancelling what already ended finds nothing, twice.
    for (const id of ids.slice(0, 50)) {
      expect(native.cancel(id)).toBe(false);
      expect(native.cancel(id)).toBe(false);
    }
    guard.open(20);
    await new Promise((r) => setTimeout(r, 20));
    guard.check();
    guard.close();
    console.log(`native race: ${delivered.size} delivered, ${cancelled.size} cancelled from inside a completion, ${immediate} immediate`);
    expect(cancelled.size).toBeGreaterThan(0);
    expect(fdCount()).toBe(before);
  });
});

addon.describe('native failure paths reached from outside', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  beforeAll(async () => {
    open = await openListener();
  });
  afterAll(() => open.close());

  const start = (family: number, address: string, port: number, local: string | null = null): RawOutcome | undefined => {
    const id = register(() => undefined);
    const raw = native.start(id, family as 0 | 4 | 6, address, port, local, 50, 0);
    if (raw === undefined) native.cancel(id);
    unregister(id);
    return raw;
  };

  test('socket(): EMFILE is covered above; EAFNOSUPPORT for an unknown family never reaches socket()', () => {
    expect(start(5, '127.0.0.1', 80)).toMatchObject({ errno: 97, stage: 'address' });
  });

  test('address parsing: bad literal, unknown zone, NUL, port out of range, Unix path too long or empty', () => {
    expect(start(4, '::1', 80)).toMatchObject({ errno: 22, stage: 'address' });
    expect(start(6, '::1%no-such-if0', 80)).toMatchObject({ errno: 6, stage: 'address' });
    expect(start(4, '127.0.0.1\0x', 80)).toMatchObject({ errno: 22, stage: 'address' });
    expect(start(4, '127.0.0.1', 70000)).toMatchObject({ errno: 22, stage: 'address' });
    expect(start(4, '127.0.0.1', -1)).toMatchObject({ errno: 22, stage: 'address' });
    expect(start(0, `/tmp/${'x'.repeat(200)}`, 0)).toMatchObject({ errno: 36, stage: 'address' });
    expect(start(0, '', 0)).toMatchObject({ errno: 22, stage: 'address' });
    expect(start(4, '127.0.0.1', 80, '::1')).toMatchObject({ errno: 22, stage: 'address' });
  });

  test('an id already in flight is sockprobe\'s own fault: start() throws ERR_SOCKPROBE_INTERNAL, not a kernel-looking outcome', async () => {
    // Ids come from src/binding.ts, so a clash is a bug of ours: it must not
    // read as a kernel answer (it used to be errno EEXIST at "setsockopt").
    const silent = await silentPort();
    const id = register(() => undefined);
    try {
      expect(native.start(id, 4, '127.0.0.1', silent.port, null, 10_000, 0)).toBeUndefined();
      let thrown: unknown;
      try {
        native.start(id, 4, '127.0.0.1', open.port, null, 10, 0);
      } catch (error) {
        thrown = error;
      }
      // Not toBeInstanceOf: the addon's Error comes from the main realm, not jest's.
      expect(Object.prototype.toString.call(thrown)).toBe('[object Error]');
      expect(thrown).toMatchObject({ code: 'ERR_SOCKPROBE_INTERNAL', message: expect.stringMatching(/already in flight/) });
      expect(native.inFlight()).toBe(1);
      expect(() => native.start(1 << 22, 4, '127.0.0.1', open.port, null, 10, 0)).toThrow(/out of range/);
    } finally {
      expect(native.cancel(id)).toBe(true);
      unregister(id);
      await silent.close();
    }
    expect(native.inFlight()).toBe(0);
  });

  test('bind(): a source address this machine does not have is EADDRNOTAVAIL, bad-local-address', async () => {
    const six = await openListener('::1');
    try {
      const r = await probe('::1', six.port, { localAddress: '::2', timeout: 2000 });
      expect(r).toMatchObject({ status: 'local-error', reason: 'bad-local-address', code: 'EADDRNOTAVAIL', stage: 'bind' });
    } finally {
      await six.close();
    }
  });

  test('connect() failing at once: a Unix path that is not a socket, and one that does not exist', async () => {
    const dir = tmpDir();
    try {
      const file = path.join(dir, 'plain-file');
      fs.writeFileSync(file, '');
      expect(start(0, file, 0)).toMatchObject({ errno: 111, stage: 'connect' });
      expect(start(0, path.join(dir, 'none'), 0)).toMatchObject({ errno: 2, stage: 'connect' });
      const r = await probe({ path: file });
      expect(r).toMatchObject({ status: 'refused', reason: 'conn-refused', code: 'ECONNREFUSED' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a dispatcher that throws: the error reaches uncaughtException and the process goes on', async () => {
    const script = `
      const net = require('node:net');
      const { native } = require(${JSON.stringify(path.join(libDir, 'binding.js'))});
      let caught = 0;
      process.on('uncaughtException', (e) => { caught++; });
      native.init(() => { throw new Error('dispatcher failed'); });
      // A silent port: every probe stays in flight and ends through dispatch
      // (an open or refused loopback port ends inside start()).
      require(${JSON.stringify(path.join(libDir, '..', 'scripts', 'silent-port.js'))}).silentPort().then(async (silent) => {
        for (let i = 0; i < 20; i++) native.start(1000 + i, 4, '127.0.0.1', silent.port, null, 20, 0);
        const t0 = Date.now();
        while (native.inFlight() > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
        silent.close();
        console.log(JSON.stringify({ caught, inFlight: native.inFlight() }));
      });
    `;
    const run = await runNode(script);
    expect(run.hung).toBe(false);
    expect(run.code).toBe(0);
    // Completions reach JS in batches (one dispatch call per batch of ready
    // sockets), so 20 completions make between 1 and 20 failed calls.
    const out = lastJson<{ caught: number; inFlight: number }>(run);
    expect(out.inFlight).toBe(0);
    expect(out.caught).toBeGreaterThanOrEqual(1);
    expect(out.caught).toBeLessThanOrEqual(20);
  });

  test('a completion handler that throws does not strand the other completions of its batch', async () => {
    const script = `
      const net = require('node:net');
      const { native, register } = require(${JSON.stringify(path.join(libDir, 'binding.js'))});
      let caught = 0;
      let delivered = 0;
      process.on('uncaughtException', () => { caught++; });
      // A silent port: every probe ends through dispatch, in batches (see above).
      require(${JSON.stringify(path.join(libDir, '..', 'scripts', 'silent-port.js'))}).silentPort().then(async (silent) => {
        for (let i = 0; i < 20; i++) {
          const id = register(() => { delivered++; if (i % 2 === 0) throw new Error('handler failed'); });
          native.start(id, 4, '127.0.0.1', silent.port, null, 20, 0);
        }
        const t0 = Date.now();
        while (delivered < 20 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
        silent.close();
        console.log(JSON.stringify({ caught, delivered, inFlight: native.inFlight() }));
      });
    `;
    const run = await runNode(script);
    expect(run.hung).toBe(false);
    expect(run.code).toBe(0);
    expect(lastJson(run)).toEqual({ caught: 10, delivered: 20, inFlight: 0 });
  });

  test('net.Socket neighbours are untouched by a probe that fails at every stage', async () => {
    // A Node socket kept open across all the failures above: its descriptor must survive.
    const s = net.connect(open.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    start(5, 'x', 0);
    start(4, 'bad', 80);
    start(0, '/nonexistent/x', 0);
    expect(s.destroyed).toBe(false);
    s.destroy();
  });
});
