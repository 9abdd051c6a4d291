import { AbortError, expandTargets, parsePorts, probe, probeMany, type ProbeManyResult, type ProbeTarget } from '../src';
import { inFlight } from '../src/engine';
import { spawnSync } from 'node:child_process';
import { closedPort, fdCount, libDir, openListener, silentPort } from './helpers';

async function collect(it: AsyncIterable<ProbeManyResult>): Promise<ProbeManyResult[]> {
  const out: ProbeManyResult[] = [];
  for await (const r of it) out.push(r);
  return out;
}

describe('parsePorts / expandTargets', () => {
  test('ranges and single ports, in order, without duplicates', () => {
    expect(parsePorts('1-3,8080')).toEqual([1, 2, 3, 8080]);
    expect(parsePorts(' 80 , 22, 80, 20-22 ')).toEqual([80, 22, 20, 21]);
    expect(parsePorts('65535')).toEqual([65535]);
    expect(parsePorts('1-1024')).toHaveLength(1024);
  });

  test.each([
    ['', RangeError],
    ['0', RangeError],
    ['65536', RangeError],
    ['10-5', RangeError],
    ['1-', RangeError],
    ['a', RangeError],
    ['1,,2', RangeError],
    ['1.5', RangeError],
  ])('parsePorts(%j) throws', (spec, error) => {
    expect(() => parsePorts(spec)).toThrow(error);
  });

  test('parsePorts needs a string', () => {
    expect(() => parsePorts(80 as unknown as string)).toThrow(TypeError);
  });

  test('expandTargets: every host with every port', () => {
    expect(expandTargets('127.0.0.1', '1-2')).toEqual([
      { host: '127.0.0.1', port: 1 },
      { host: '127.0.0.1', port: 2 },
    ]);
    expect(expandTargets(['a', 'b'], [5])).toEqual([
      { host: 'a', port: 5 },
      { host: 'b', port: 5 },
    ]);
    expect(() => expandTargets('', '1')).toThrow(RangeError);
    expect(() => expandTargets('h', [0])).toThrow(RangeError);
    expect(() => expandTargets('h', 5 as unknown as string)).toThrow(TypeError);
  });
});

describe('probeMany() on loopback', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let closed: number;
  beforeAll(async () => {
    open = await openListener();
    closed = await closedPort();
  });
  afterAll(() => open.close());

  test('every target gets one result, with its index, shaped like probe()', async () => {
    const targets: ProbeTarget[] = [];
    for (let i = 0; i < 300; i++) targets.push({ host: '127.0.0.1', port: i % 2 === 0 ? open.port : closed });
    const results = await collect(probeMany(targets, { concurrency: 16 }));
    expect(results).toHaveLength(300);
    expect(new Set(results.map((r) => r.index)).size).toBe(300);
    for (const r of results) {
      expect(r.status).toBe(r.index % 2 === 0 ? 'open' : 'refused');
      expect(r.host).toBe('127.0.0.1');
      expect(r.port).toBe(targets[r.index] && 'port' in targets[r.index]! ? (targets[r.index] as { port: number }).port : -1);
      expect(r.attempts).toHaveLength(1);
      expect(r.dnsMs).toBe(0);
    }
    // Same fields as probe() gives for the same target (values like timings aside).
    const one = await probe('127.0.0.1', closed);
    const fromMany = results.find((r) => r.status === 'refused') as ProbeManyResult;
    const { index, ...rest } = fromMany;
    expect(index).toBeGreaterThanOrEqual(0);
    expect(Object.keys(rest)).toEqual(Object.keys(one));
    expect(JSON.parse(JSON.stringify(fromMany))).toEqual(fromMany);
  });

  test('results come in completion order: a fast refusal before a slow timeout', async () => {
    const silent = await silentPort();
    try {
      const results = await collect(
        probeMany(
          [
            { host: '127.0.0.1', port: silent.port },
            { host: '127.0.0.1', port: closed },
          ],
          { timeout: 500 },
        ),
      );
      expect(results.map((r) => [r.index, r.status])).toEqual([
        [1, 'refused'],
        [0, 'timeout'],
      ]);
    } finally {
      await silent.close();
    }
  });

  test('never more than `concurrency` in flight', async () => {
    const silent = await silentPort();
    try {
      const targets = Array.from({ length: 12 }, () => ({ host: '127.0.0.1', port: silent.port }));
      const before = inFlight();
      const it = probeMany(targets, { concurrency: 5, timeout: 300 });
      let peak = inFlight() - before;
      const seen: ProbeManyResult[] = [];
      for await (const r of it) {
        seen.push(r);
        peak = Math.max(peak, inFlight() - before);
      }
      expect(peak).toBe(5);
      expect(seen).toHaveLength(12);
      expect(seen.every((r) => r.status === 'timeout')).toBe(true);
    } finally {
      await silent.close();
    }
  });

  test('names are resolved, Unix paths and bracketed IPv6 work', async () => {
    const results = await collect(
      probeMany([
        { host: 'localhost', port: closed },
        { path: '/nonexistent/sockprobe.sock' },
        { host: '[::1]', port: closed },
      ]),
    );
    const byIndex = new Map(results.map((r) => [r.index, r]));
    expect(byIndex.get(0)?.host).toBe('localhost');
    expect(['refused', 'open']).toContain(byIndex.get(0)?.status);
    expect(byIndex.get(1)?.status).toBe('unreachable');
    expect(byIndex.get(1)?.reason).toBe('no-socket-file');
    expect(byIndex.get(2)?.family).toBe(6);
  });

  test('abort mid-way rejects with AbortError and closes every socket', async () => {
    const silent = await silentPort();
    try {
      const before = fdCount();
      const ac = new AbortController();
      const targets = Array.from({ length: 50 }, (_, i) => ({ host: '127.0.0.1', port: i === 0 ? closed : silent.port }));
      const it = probeMany(targets, { concurrency: 20, timeout: 10_000, signal: ac.signal });
      const first = await it.next();
      expect(first.value?.status).toBe('refused');
      expect(fdCount()).toBe(before + 20);
      const pending = it.next();
      ac.abort();
      await expect(pending).rejects.toBeInstanceOf(AbortError);
      expect(fdCount()).toBe(before);
      expect(await it.next()).toEqual({ value: undefined, done: true });
    } finally {
      await silent.close();
    }
  });

  test('leaving the loop early closes what is still in flight', async () => {
    const silent = await silentPort();
    try {
      const before = fdCount();
      const targets = Array.from({ length: 30 }, (_, i) => ({ host: '127.0.0.1', port: i === 0 ? closed : silent.port }));
      for await (const r of probeMany(targets, { concurrency: 10, timeout: 10_000 })) {
        expect(r.status).toBe('refused');
        break;
      }
      expect(fdCount()).toBe(before);
    } finally {
      await silent.close();
    }
  });

  test('an already aborted signal: AbortError, no socket opened', async () => {
    const before = fdCount();
    const it = probeMany([{ host: '127.0.0.1', port: closed }], { signal: AbortSignal.abort() });
    await expect(it.next()).rejects.toBeInstanceOf(AbortError);
    expect(fdCount()).toBe(before);
  });

  test('an empty list is done at once', async () => {
    expect(await collect(probeMany([]))).toEqual([]);
  });

  test('bad input: TypeError / RangeError at the call for options and arrays', () => {
    const ok = [{ host: '127.0.0.1', port: 1 }];
    expect(() => probeMany(null as unknown as ProbeTarget[])).toThrow(TypeError);
    expect(() => probeMany('127.0.0.1' as unknown as ProbeTarget[])).toThrow(TypeError);
    expect(() => probeMany(ok, { concurrency: 0 })).toThrow(RangeError);
    expect(() => probeMany(ok, { concurrency: 1.5 })).toThrow(RangeError);
    expect(() => probeMany(ok, { concurrency: '4' as unknown as number })).toThrow(TypeError);
    expect(() => probeMany(ok, { timeout: -1 })).toThrow(RangeError);
    expect(() => probeMany(ok, { signal: {} as AbortSignal })).toThrow(TypeError);
    expect(() => probeMany([{ host: '127.0.0.1', port: 0 }])).toThrow(RangeError);
    expect(() => probeMany([{ host: 5, port: 1 } as unknown as ProbeTarget])).toThrow(TypeError);
    expect(() => probeMany([{ host: '127.0.0.1', port: 1, path: '/x' } as unknown as ProbeTarget])).toThrow(TypeError);
    expect(() => probeMany([{ host: '::1', port: 1 }], { family: 4 })).toThrow(RangeError);
    expect(() => probeMany([{ path: '/x' }], { localAddress: '127.0.0.1' })).toThrow(RangeError);
  });

  test('a bad target from a generator rejects when reached, after closing the rest', async () => {
    const silent = await silentPort();
    try {
      const before = fdCount();
      function* gen(): Generator<ProbeTarget> {
        yield { host: '127.0.0.1', port: silent.port };
        yield { host: '127.0.0.1', port: silent.port };
        yield { host: '127.0.0.1', port: 70000 };
      }
      const it = probeMany(gen(), { timeout: 10_000 });
      await expect(it.next()).rejects.toBeInstanceOf(RangeError);
      expect(fdCount()).toBe(before);
    } finally {
      await silent.close();
    }
  });

  test('mixed deadlines end in deadline order, none early (one timer per environment)', async () => {
    const silent = await silentPort();
    try {
      const order: number[] = [];
      const timeouts = [600, 200, 400, 250];
      const results = await Promise.all(
        timeouts.map((timeout) =>
          probe('127.0.0.1', silent.port, { timeout }).then((r) => {
            order.push(timeout);
            return r;
          }),
        ),
      );
      expect(order).toEqual([200, 250, 400, 600]);
      results.forEach((r, i) => {
        expect(r.status).toBe('timeout');
        expect(r.elapsedMs).toBeGreaterThanOrEqual((timeouts[i] as number) - 1);
      });
    } finally {
      await silent.close();
    }
  });

  test('2,000 probes leave the descriptor count and the native table where they were', async () => {
    const before = fdCount();
    const flying = inFlight();
    const targets = Array.from({ length: 2000 }, (_, i) => ({ host: '127.0.0.1', port: i % 3 === 0 ? open.port : closed }));
    const results = await collect(probeMany(targets, { concurrency: 300 }));
    expect(results).toHaveLength(2000);
    expect(fdCount()).toBe(before);
    expect(inFlight()).toBe(flying);
  });
});

describe('probeMany: names with many in flight', () => {
  // Node emits the warning on the real process, which jest's sandbox does not
  // pass on: so the batch runs in a child, on the compiled lib/.
  test('no MaxListenersExceededWarning: each pending name probe listens on the batch signal', async () => {
    const port = await closedPort();
    const script = `
      const { probeMany } = require(${JSON.stringify(libDir)});
      process.on('warning', (w) => console.log(w.name));
      (async () => {
        const targets = Array.from({ length: 40 }, () => ({ host: 'localhost', port: ${port} }));
        let refused = 0;
        for await (const r of probeMany(targets, { concurrency: 40, family: 4 })) if (r.status === 'refused') refused++;
        console.log('refused', refused);
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('refused 40\n');
  });
});
