import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { monitor, type Monitor, type Transition } from '../../src';
import { closedPort, libDir, openListener, silentPort } from '../helpers';
import { countingListener as listenOn, sleep } from './helpers';

/** The next value of an iterator, or a failure after `ms`. */
async function next(it: AsyncIterator<Transition>, ms = 10_000): Promise<Transition> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    it.next(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no transition within ${ms} ms`)), ms);
    }),
  ]);
  clearTimeout(timer);
  if (r.done === true) throw new Error('iterator ended');
  return r.value;
}

describe('monitor()', () => {
  const monitors: Monitor[] = [];
  afterEach(() => {
    for (const m of monitors.splice(0)) m.stop();
  });

  test('Kubernetes defaults; an already-aborted signal makes a stopped monitor', () => {
    const m = monitor({ path: '/nonexistent/sock' }, { signal: AbortSignal.abort() });
    expect(m.options).toEqual({ periodMs: 10_000, timeout: 1000, timeoutMs: 1000, failureThreshold: 3, successThreshold: 1, startPeriodMs: 0, historySize: 10 });
    expect(m.stopped).toBe(true);
    expect(m.state).toBe('starting');
    expect(m.status().rounds).toBe(0);
  });

  test('starting -> healthy -> unhealthy -> healthy with thresholds, as events and as an async iterator', async () => {
    const port = await closedPort();
    let l = await listenOn(port);
    const m = monitor({ host: '127.0.0.1', port }, { periodMs: 100, timeout: 1000, failureThreshold: 2, successThreshold: 2 });
    monitors.push(m);
    const events: Transition[] = [];
    const states: string[] = [];
    m.on('transition', (t) => events.push(t));
    m.on('state', (to, from) => states.push(`${from}->${to}`));
    const it = m[Symbol.asyncIterator]();

    const up = await next(it);
    expect([up.from, up.to]).toEqual(['starting', 'healthy']);
    expect(up.consecutiveSuccesses).toBe(2);
    expect(up.result.status).toBe('open');
    expect(m.state).toBe('healthy');
    expect(m.status().rounds).toBeGreaterThanOrEqual(2);

    await l.close();
    const down = await next(it);
    expect([down.from, down.to]).toEqual(['healthy', 'unhealthy']);
    expect(down.consecutiveFailures).toBe(2);
    expect(down.result.status).toBe('refused');
    const s = m.status().targets[0];
    expect(s?.state).toBe('unhealthy');
    expect(s?.lastResult?.status).toBe('refused');

    l = await listenOn(port);
    try {
      const back = await next(it);
      expect([back.from, back.to]).toEqual(['unhealthy', 'healthy']);
      expect(events.map((e) => `${e.from}->${e.to}`)).toEqual(['starting->healthy', 'healthy->unhealthy', 'unhealthy->healthy']);
      expect(states).toEqual(['starting->healthy', 'healthy->unhealthy', 'unhealthy->healthy']);
    } finally {
      await l.close();
    }
    // stop() ends the iterator.
    const pending = it.next();
    m.stop();
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
  });

  test('startPeriodMs: failures before the first success do not count inside it', async () => {
    const port = await closedPort();
    const started = Date.now();
    const m = monitor({ host: '127.0.0.1', port }, { periodMs: 100, failureThreshold: 1, startPeriodMs: 800 });
    monitors.push(m);
    const t = await next(m[Symbol.asyncIterator]());
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
    expect([t.from, t.to]).toEqual(['starting', 'unhealthy']);
    expect(t.consecutiveFailures).toBe(1);
    expect(m.status().rounds).toBeGreaterThanOrEqual(3);
  });

  test('several targets: the overall state, history bounded to historySize', async () => {
    const a = await openListener();
    const closed = await closedPort();
    try {
      const m = monitor(
        [
          { host: '127.0.0.1', port: a.port, name: 'a' },
          { host: '127.0.0.1', port: closed, name: 'b' },
        ],
        { periodMs: 50, failureThreshold: 3, historySize: 3 },
      );
      monitors.push(m);
      const rounds: number[] = [];
      await new Promise<void>((resolve) => {
        m.on('round', (s) => {
          rounds.push(s.rounds);
          if (s.rounds === 5) resolve();
        });
      });
      expect(rounds).toEqual([1, 2, 3, 4, 5]);
      const s = m.status();
      expect(s.state).toBe('unhealthy');
      expect(s.targets.map((t) => t.state)).toEqual(['healthy', 'unhealthy']);
      expect(s.targets[0]?.consecutiveSuccesses).toBe(5);
      expect(s.targets[1]?.consecutiveFailures).toBe(5);
      expect(s.targets.map((t) => t.history.length)).toEqual([3, 3]);
    } finally {
      await a.close();
    }
  });

  test('rounds never overlap; stop() aborts the probe in flight and no round follows', async () => {
    const silent = await silentPort();
    try {
      // A period far shorter than the probe timeout: rounds must still run one at a time.
      const m = monitor({ host: '127.0.0.1', port: silent.port }, { periodMs: 10, timeout: 400 });
      monitors.push(m);
      const roundTimes: number[] = [];
      m.on('round', () => roundTimes.push(Date.now()));
      await sleep(1500);
      expect(roundTimes.length).toBeGreaterThanOrEqual(1);
      expect(roundTimes.length).toBeLessThanOrEqual(4);
      for (let i = 1; i < roundTimes.length; i++) expect((roundTimes[i] as number) - (roundTimes[i - 1] as number)).toBeGreaterThanOrEqual(350);
      let stops = 0;
      m.on('stop', () => stops++);
      const warnings: unknown[] = [];
      const onWarning = (w: unknown): number => warnings.push(w);
      process.on('warning', onWarning);
      m.stop();
      m.stop();
      const n = roundTimes.length;
      await sleep(800);
      process.off('warning', onWarning);
      expect(stops).toBe(1);
      expect(m.stopped).toBe(true);
      expect(roundTimes.length).toBe(n);
      expect(warnings).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  test('an AbortSignal stops it', async () => {
    const l = await openListener();
    try {
      const ac = new AbortController();
      const m = monitor({ host: '127.0.0.1', port: l.port }, { periodMs: 50, signal: ac.signal });
      monitors.push(m);
      const it = m[Symbol.asyncIterator]();
      await next(it);
      ac.abort();
      expect(m.stopped).toBe(true);
      await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
    } finally {
      await l.close();
    }
  });

  test('does not keep a process alive (a child with a monitor and a pending iterator exits on its own)', async () => {
    const l = await openListener();
    try {
      const script = `
        const { monitor } = require(${JSON.stringify(libDir)});
        const m = monitor({ host: '127.0.0.1', port: ${l.port} }, { periodMs: 60000 });
        m.on('round', (s) => console.log('round', s.state));
        (async () => { for await (const t of m) console.log('transition', t.to); })();
        process.on('exit', () => console.log('exit'));
        // The child's own work: 400 ms. After that only the monitor's
        // timer and the pending iterator are left, and they must not hold it.
        setTimeout(() => console.log('own work done'), 400);
      `;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      clearTimeout(timer);
      expect(signal).toBeNull();
      expect(code).toBe(0);
      // 'round' is emitted synchronously, the iterator is served a microtask later.
      expect(out).toBe('round healthy\ntransition healthy\nown work done\nexit\n');
    } finally {
      await l.close();
    }
  });

  test('timeout, as check(), waitFor() and healthHandler() name it; timeoutMs still works as its deprecated name', () => {
    const t = { path: '/nonexistent/sock' };
    const stopped = { signal: AbortSignal.abort() };
    expect(monitor(t, { ...stopped, timeout: 250 }).options).toMatchObject({ timeout: 250, timeoutMs: 250 });
    expect(monitor(t, { ...stopped, timeoutMs: 300 }).options).toMatchObject({ timeout: 300, timeoutMs: 300 });
    expect(monitor(t, { ...stopped, timeout: 350, timeoutMs: 350 }).options).toMatchObject({ timeout: 350, timeoutMs: 350 });
    expect(() => monitor(t, { ...stopped, timeout: 500, timeoutMs: 1000 })).toThrow(
      new RangeError('timeout (number 500) and timeoutMs (number 1000), its deprecated name, differ: give timeout only'),
    );
    // A bad value is named by the name it was given under.
    expect(() => monitor(t, { timeoutMs: -5 })).toThrow(/^timeoutMs must be /);
    expect(() => monitor(t, { timeoutMs: '5' as unknown as number })).toThrow(new TypeError('timeoutMs must be a number of milliseconds, got a string of length 1'));
    expect(() => monitor(t, { timeout: -5 })).toThrow(/^timeout must be /);
  });

  test('validates its options', () => {
    const t = { host: '127.0.0.1', port: 1 };
    expect(() => monitor(t, { periodMs: 0 })).toThrow(RangeError);
    expect(() => monitor(t, { timeout: -5 })).toThrow(RangeError);
    expect(() => monitor(t, { failureThreshold: 0 })).toThrow(RangeError);
    expect(() => monitor(t, { successThreshold: 1.5 })).toThrow(RangeError);
    expect(() => monitor(t, { startPeriodMs: -1 })).toThrow(RangeError);
    expect(() => monitor(t, { historySize: 0 })).toThrow(RangeError);
    expect(() => monitor(t, { periodMs: '10' as unknown as number })).toThrow(TypeError);
    expect(() => monitor(t, { signal: 'x' as unknown as AbortSignal })).toThrow(TypeError);
    expect(() => monitor([80 as unknown as string], {})).toThrow(TypeError);
    expect(() => monitor('127.0.0.1:0')).toThrow(RangeError);
  });
});

test('stop() from a transition listener: no event after it', async () => {
  const a = await openListener();
  const b = await openListener();
  try {
    const m = monitor(
      [
        { host: '127.0.0.1', port: a.port },
        { host: '127.0.0.1', port: b.port },
      ],
      { periodMs: 50 },
    );
    const seen: string[] = [];
    m.on('transition', (t) => {
      seen.push(t.target);
      m.stop();
    });
    m.on('round', () => seen.push('round'));
    m.on('state', () => seen.push('state'));
    await new Promise<void>((resolve) => m.once('stop', resolve));
    await sleep(300);
    expect(seen).toEqual([`127.0.0.1:${a.port}`]);
  } finally {
    await a.close();
    await b.close();
  }
});
