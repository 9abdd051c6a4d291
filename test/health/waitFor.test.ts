import * as net from 'node:net';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { once } from 'node:events';
import { AbortError, waitFor, WaitTimeoutError } from '../../src';
import { closedPort, openListener, silentPort, tmpDir } from '../helpers';
import { countingListener as listenOn, sleep } from './helpers';

describe('waitFor()', () => {
  test('resolves with the open result once a listener appears later', async () => {
    const port = await closedPort();
    const started = Date.now();
    const later = sleep(500).then(() => listenOn(port));
    const r = await waitFor('127.0.0.1', port, { interval: 50, timeout: 10_000 });
    const elapsed = Date.now() - started;
    const l = await later;
    try {
      expect(r.status).toBe('open');
      expect(r.port).toBe(port);
      expect(elapsed).toBeGreaterThanOrEqual(450);
    } finally {
      await l.close();
    }
  });

  test('a Unix socket path that appears later', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 's.sock');
    const server = net.createServer((s) => s.destroy());
    const later = sleep(300).then(async () => {
      server.listen(file);
      await once(server, 'listening');
    });
    try {
      const r = await waitFor({ path: file }, { interval: 50, timeout: 10_000 });
      expect(r.status).toBe('open');
      expect(r.family).toBe('unix');
    } finally {
      await later;
      await new Promise<void>((res) => server.close(() => res()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rejects at its deadline with a WaitTimeoutError carrying the last result', async () => {
    const port = await closedPort();
    const started = Date.now();
    const error = await waitFor({ host: '127.0.0.1', port }, { timeout: 800, interval: 50, backoff: 2, maxInterval: 200 }).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    if (!(error instanceof WaitTimeoutError)) throw new Error('narrowing');
    expect(error.name).toBe('WaitTimeoutError');
    expect(error.code).toBe('SOCKPROBE_WAIT_TIMEOUT');
    expect(error.lastResult.status).toBe('refused');
    expect(error.lastResult.port).toBe(port);
    // 50, 100, 200, 200, ... ms minus jitter: several attempts in 800 ms.
    expect(error.attempts).toBeGreaterThanOrEqual(3);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(elapsed).toBeGreaterThanOrEqual(780);
    expect(elapsed).toBeLessThan(5000);
  });

  test('no attempt outlives the overall deadline (probe timeout capped by the time left)', async () => {
    const silent = await silentPort();
    try {
      const started = Date.now();
      const error = await waitFor('127.0.0.1', silent.port, { timeout: 700, probeTimeout: 20_000 }).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(WaitTimeoutError);
      if (!(error instanceof WaitTimeoutError)) throw new Error('narrowing');
      expect(error.lastResult.status).toBe('timeout');
      expect(error.attempts).toBe(1);
      expect(error.lastResult.elapsedMs).toBeLessThanOrEqual(700 + 100);
      expect(elapsed).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });

  test('abort: already aborted, during a sleep, during a probe', async () => {
    const port = await closedPort();
    await expect(waitFor('127.0.0.1', port, { signal: AbortSignal.abort('no') })).rejects.toBeInstanceOf(AbortError);

    const ac = new AbortController();
    const p = waitFor('127.0.0.1', port, { signal: ac.signal, interval: 5000, maxInterval: 5000 });
    await sleep(200);
    const started = Date.now();
    ac.abort('stop');
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).cause).toBe('stop');
    expect(Date.now() - started).toBeLessThan(1000);

    const silent = await silentPort();
    try {
      const ac2 = new AbortController();
      const p2 = waitFor('127.0.0.1', silent.port, { signal: ac2.signal, probeTimeout: 10_000 });
      await sleep(200);
      ac2.abort();
      await expect(p2).rejects.toBeInstanceOf(AbortError);
    } finally {
      await silent.close();
    }
  });

  test('stableMs: resolves only after the port has stayed open that long, re-probing meanwhile', async () => {
    const port = await closedPort();
    const l = await listenOn(port);
    try {
      const started = Date.now();
      const r = await waitFor('127.0.0.1', port, { stableMs: 600, interval: 100, timeout: 10_000 });
      expect(r.status).toBe('open');
      expect(Date.now() - started).toBeGreaterThanOrEqual(590);
      // the first probe, several inside the window, one at its end
      expect(l.accepted()).toBeGreaterThanOrEqual(3);
    } finally {
      await l.close();
    }
  });

  test('stableMs: a port that goes away restarts the window', async () => {
    const port = await closedPort();
    let l = await listenOn(port);
    const started = Date.now();
    // Open 0..300 ms, closed 300..700 ms, open again from 700 ms.
    const flap = (async () => {
      await sleep(300);
      await l.close();
      await sleep(400);
      l = await listenOn(port);
    })();
    try {
      const r = await waitFor('127.0.0.1', port, { stableMs: 800, interval: 50, maxInterval: 100, timeout: 15_000 });
      expect(r.status).toBe('open');
      expect(Date.now() - started).toBeGreaterThanOrEqual(700 + 800 - 20);
    } finally {
      await flap;
      await l.close();
    }
  });

  test('stableMs longer than the deadline: times out with an open lastResult', async () => {
    const l = await openListener();
    try {
      const e = await waitFor('127.0.0.1', l.port, { stableMs: 5000, timeout: 500, interval: 100 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WaitTimeoutError);
      expect((e as WaitTimeoutError).lastResult.status).toBe('open');
      expect((e as WaitTimeoutError).message).toContain('not yet for 5000 ms');
    } finally {
      await l.close();
    }
  });

  test('validates its arguments', async () => {
    await expect(waitFor('127.0.0.1', 0)).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor('127.0.0.1', '80' as unknown as number)).rejects.toBeInstanceOf(TypeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { timeout: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { interval: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { backoff: 0.5 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { jitter: 2 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { interval: 500, maxInterval: 100 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { stableMs: Number.NaN })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { probeTimeout: 'x' as unknown as number })).rejects.toBeInstanceOf(TypeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(TypeError);
    await expect(waitFor({ host: '127.0.0.1', port: 80 }, { family: 5 as 4 })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor({ path: '' })).rejects.toBeInstanceOf(RangeError);
    await expect(waitFor(null as unknown as string, 80)).rejects.toBeInstanceOf(TypeError);
  });
});
