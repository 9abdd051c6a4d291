import { check } from '../../src';
import { closedPort, openListener, silentPort } from '../helpers';

describe('check()', () => {
  test('probes every target and reports ok only when all are open', async () => {
    const a = await openListener();
    const b = await openListener();
    const closed = await closedPort();
    try {
      const good = await check([
        { host: '127.0.0.1', port: a.port },
        { host: '127.0.0.1', port: b.port, name: 'cache' },
      ]);
      expect(good.ok).toBe(true);
      expect(good.results.map((r) => r.target)).toEqual([`127.0.0.1:${a.port}`, 'cache']);
      expect(good.results.every((r) => r.ok && r.result.status === 'open')).toBe(true);
      expect(good.durationMs).toBeGreaterThanOrEqual(0);

      const bad = await check([{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: closed }], { timeout: 1000 });
      expect(bad.ok).toBe(false);
      expect(bad.results[0]?.ok).toBe(true);
      expect(bad.results[1]?.ok).toBe(false);
      expect(bad.results[1]?.result.status).toBe('refused');

      const single = await check({ host: '::1', port: closed });
      expect(single.results[0]?.target).toBe(`[::1]:${closed}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('probes concurrently: three silent targets take about one timeout, not three', async () => {
    const silent = await silentPort();
    try {
      const report = await check(
        [1, 2, 3].map((i) => ({ host: '127.0.0.1', port: silent.port, name: `s${i}` })),
        { timeout: 1500 },
      );
      expect(report.ok).toBe(false);
      expect(report.results.map((r) => r.result.status)).toEqual(['timeout', 'timeout', 'timeout']);
      // Sequential would be >= 4500 ms; allow a lot for a busy machine.
      expect(report.durationMs).toBeLessThan(4000);
    } finally {
      await silent.close();
    }
  });

  test('validates its arguments', async () => {
    await expect(check([])).rejects.toBeInstanceOf(RangeError);
    await expect(check([{ host: '127.0.0.1', port: 1 }, { host: '127.0.0.1', port: 1 }])).rejects.toThrow(/unique/);
    await expect(check([{ host: '127.0.0.1', port: 70000 }])).rejects.toBeInstanceOf(RangeError);
    await expect(check([80 as unknown as { path: string }])).rejects.toBeInstanceOf(TypeError);
    await expect(check(['127.0.0.1:0'])).rejects.toBeInstanceOf(RangeError);
    await expect(check({ path: '/x', host: 'a' } as unknown as { path: string })).rejects.toBeInstanceOf(TypeError);
    await expect(check({ path: '/x' }, { timeout: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(check({ path: '/x', name: '' })).rejects.toBeInstanceOf(RangeError);
  });
});
