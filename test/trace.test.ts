// trace() on loopback (no lab needed): argument checks, the target reached at
// hop 1, the hop limit reaching the kernel, and a 30-hop trace to a silent
// port kept within its deadline, one socket per hop in flight. The paths
// through routers are in test/lab/trace.test.ts.
import { AbortError, trace } from '../src';
import { native, reserve, release, start } from '../src/binding';
import { cleanEnv, sockprobe } from './cli-run';
import { closedPort, fdCount, openListener, silentPort } from './helpers';
import { inFlight } from '../src/engine';
import { engineCan, engineLacks, needs } from './preconditions';

/** trace() sets the SYNs' hop limit, which only the native engine can. */
const hops = needs(engineCan('ttl'));

describe('trace() arguments', () => {
  test.each([
    ['host not a string', () => trace(1 as unknown as string, 80), TypeError],
    ['empty host', () => trace('', 80), RangeError],
    ['port out of range', () => trace('127.0.0.1', 0), RangeError],
    ['port not a number', () => trace('127.0.0.1', '80' as unknown as number), TypeError],
    ['maxHops 0', () => trace('127.0.0.1', 80, { maxHops: 0 }), RangeError],
    ['maxHops 256', () => trace('127.0.0.1', 80, { maxHops: 256 }), RangeError],
    ['maxHops not a number', () => trace('127.0.0.1', 80, { maxHops: '3' as unknown as number }), TypeError],
    ['firstHop above maxHops', () => trace('127.0.0.1', 80, { firstHop: 5, maxHops: 4 }), RangeError],
    ['tries 0', () => trace('127.0.0.1', 80, { tries: 0 }), RangeError],
    ['tries 1.5', () => trace('127.0.0.1', 80, { tries: 1.5 }), RangeError],
    ['timeout negative', () => trace('127.0.0.1', 80, { timeout: -1 }), RangeError],
    ['options not an object', () => trace('127.0.0.1', 80, 5 as unknown as object), TypeError],
    ['signal not a signal', () => trace('127.0.0.1', 80, { signal: {} as AbortSignal }), TypeError],
    ['family 5', () => trace('127.0.0.1', 80, { family: 5 as 4 }), RangeError],
    ['literal of the other family', () => trace('::1', 80, { family: 4 }), RangeError],
  ])('%s: rejects (never throws)', async (_name, call, type) => {
    let p: Promise<unknown> | undefined;
    expect(() => (p = call())).not.toThrow();
    await expect(p).rejects.toThrow(type);
  });

  test('an aborted signal: AbortError, nothing started', async () => {
    const c = new AbortController();
    c.abort();
    await expect(trace('127.0.0.1', 80, { signal: c.signal })).rejects.toThrow(AbortError);
    expect(inFlight()).toBe(0);
  });

  needs(engineLacks('ttl')).test('an engine that cannot set the hop limit: trace() rejects, saying so, and starts nothing', async () => {
    await expect(trace('127.0.0.1', 80)).rejects.toThrow(/^sockprobe: trace\(\) needs the native engine/);
    expect(inFlight()).toBe(0);
  });
});

hops.describe('the hop limit reaches the kernel', () => {
  test('start() with a ttl the kernel refuses ends at setsockopt; 1 connects on loopback', async () => {
    const open = await openListener();
    try {
      const id = reserve();
      try {
        expect(start(id, 4, '127.0.0.1', open.port, null, 1000, 0, 256)).toMatchObject({ errno: 22, stage: 'setsockopt' });
        expect(start(id, 6, '::1', open.port, null, 1000, 0, 256)).toMatchObject({ errno: 22, stage: 'setsockopt' });
        // Loopback never forwards, so a hop limit of 1 arrives.
        expect(start(id, 4, '127.0.0.1', open.port, null, 1000, 0, 1)).toMatchObject({ errno: 0, stage: 'connected' });
      } finally {
        release(id);
      }
    } finally {
      await open.close();
    }
  });
});

hops.describe('trace() on loopback', () => {
  test('an open port is reached at hop 1; the trace stops there', async () => {
    const open = await openListener();
    try {
      const t = await trace('127.0.0.1', open.port);
      expect(t.target).toEqual({ host: '127.0.0.1', address: '127.0.0.1', family: 4, port: open.port, addresses: ['127.0.0.1'] });
      expect(t.hops).toHaveLength(1);
      expect(t.hops[0]).toMatchObject({ ttl: 1, from: '127.0.0.1', rttMs: expect.any(Number) });
      expect(t.verdict).toMatchObject({ kind: 'reached', hop: 1, from: '127.0.0.1', reason: 'syn-ack' });
      expect(t.verdict.result).toMatchObject({ status: 'open' });
      expect(JSON.parse(JSON.stringify(t))).toEqual(t);
    } finally {
      await open.close();
    }
    expect(native.inFlight()).toBe(0);
  });

  test('a closed port is reached (refused, reset); firstHop is honoured', async () => {
    const port = await closedPort();
    const t = await trace('localhost', port, { firstHop: 3, family: 4 });
    expect(t.hops.map((h) => h.ttl)).toEqual([3]);
    expect(t.verdict).toMatchObject({ kind: 'reached', hop: 3, reason: 'reset' });
    expect(t.verdict.result).toMatchObject({ status: 'refused' });
  });

  test('30 hops to a silent port: within the deadline, hops x tries sockets at most, one per hop in flight', async () => {
    const silent = await silentPort();
    const before = fdCount();
    try {
      let most = 0;
      const sample = setInterval(() => (most = Math.max(most, native.inFlight())), 5);
      const started = performance.now();
      const t = await trace('127.0.0.1', silent.port, { timeout: 800 });
      const took = performance.now() - started;
      clearInterval(sample);
      expect(took).toBeLessThan(800 + 150);
      expect(t.hops).toHaveLength(30);
      for (const h of t.hops) expect(h.tries.map((r) => r.status)).toEqual(['timeout', 'timeout']);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(30);
      expect(t.verdict).toMatchObject({ kind: 'dropped', hop: 0, from: null, reason: 'silence' });
      expect(native.inFlight()).toBe(0);
      expect(fdCount()).toBe(before);
    } finally {
      await silent.close();
    }
  });

  test('abort while hops are in flight: AbortError, every socket closed at once', async () => {
    const silent = await silentPort();
    try {
      const c = new AbortController();
      const p = trace('127.0.0.1', silent.port, { timeout: 5000, signal: c.signal });
      await new Promise((r) => setTimeout(r, 50));
      expect(native.inFlight()).toBeGreaterThan(0);
      c.abort();
      await expect(p).rejects.toThrow(AbortError);
      expect(native.inFlight()).toBe(0);
    } finally {
      await silent.close();
    }
  });
});

hops.describe('sockprobe trace on loopback', () => {
  test('an open port: hop 1 is the target, exit 0', async () => {
    const open = await openListener();
    try {
      const r = await sockprobe(['trace', `127.0.0.1:${open.port}`], { env: cleanEnv() });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^sockprobe trace 127\\.0\\.0\\.1 port ${open.port}, 30 hops max\\n 1  127\\.0\\.0\\.1  \\d+\\.\\d{3} ms  open \\(syn-ack\\)\\nverdict: reached 127\\.0\\.0\\.1 port ${open.port} at hop 1: open \\(syn-ack\\)\\n$`));
    } finally {
      await open.close();
    }
  });

  test('a closed port: exit 1 (reached, but not open); --json is the TraceResult', async () => {
    const port = await closedPort();
    const r = await sockprobe(['trace', '--json', `127.0.0.1:${port}`], { env: cleanEnv() });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: { kind: 'reached', reason: 'reset' }, hops: [{ ttl: 1 }] });
  });

  test.each([
    [['trace'], /trace needs a TARGET/],
    [['trace', 'unix:/tmp/x.sock'], /a Unix socket has no hops/],
    [['trace', '127.0.0.1:80', '-m', '0'], /--max-hops takes a whole number from 1 to 255/],
    [['trace', '127.0.0.1:80', '--tries', 'x'], /--tries takes/],
    [['trace', '127.0.0.1:80', '-f', '9', '-m', '5'], /--first-hop 9 is above the last hop 5/],
    [['trace', '127.0.0.1:80', '-6'], /IPv4 address but -6/],
    [['trace', 'a:1', 'b:2'], /trace takes one TARGET, got 2/],
  ])('%j: usage error, exit 2', async (args, message) => {
    const r = await sockprobe(args, { env: cleanEnv() });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});
