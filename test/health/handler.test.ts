import { healthHandler, type HealthReport } from '../../src';
import { closedPort, fdCount } from '../helpers';
import { countingListener, parseMetrics, request, sample, serve, sleep } from './helpers';

describe('healthHandler()', () => {
  test('GET / is 200 with a JSON report when every target is open, 503 when one is not; HEAD has no body', async () => {
    const up = await countingListener();
    const closed = await closedPort();
    const good = await serve(healthHandler([{ host: '127.0.0.1', port: up.port, name: 'db' }], { cacheMs: 0 }));
    const bad = await serve(healthHandler([{ host: '127.0.0.1', port: up.port, name: 'db' }, { host: '127.0.0.1', port: closed }], { cacheMs: 0 }));
    try {
      const ok = await request(good.port, '/');
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^application\/json/);
      expect(ok.headers['cache-control']).toBe('no-store');
      const report = JSON.parse(ok.body) as HealthReport;
      expect(report.status).toBe('healthy');
      expect(report.ok).toBe(true);
      expect(report.targets).toEqual([expect.objectContaining({ target: 'db', ok: true, status: 'open', reason: 'syn-ack', address: '127.0.0.1' })]);
      expect(Number.isNaN(Date.parse(report.checkedAt))).toBe(false);

      const no = await request(bad.port, '/');
      expect(no.status).toBe(503);
      const r2 = JSON.parse(no.body) as HealthReport;
      expect(r2.status).toBe('unhealthy');
      expect(r2.targets.map((t) => [t.target, t.status, t.code])).toEqual([
        ['db', 'open', null],
        [`127.0.0.1:${closed}`, 'refused', 'ECONNREFUSED'],
      ]);

      const head = await request(good.port, '/', 'HEAD');
      expect(head.status).toBe(200);
      expect(head.body).toBe('');
      const headBad = await request(bad.port, '/', 'HEAD');
      expect(headBad.status).toBe(503);
    } finally {
      await good.close();
      await bad.close();
      await up.close();
    }
  });

  test('GET /metrics: Prometheus text with blackbox_exporter names and sockprobe_probe_status', async () => {
    const up = await countingListener();
    const closed = await closedPort();
    const h = healthHandler([
      { host: '127.0.0.1', port: up.port, name: 'db' },
      { host: '::1', port: closed },
    ]);
    const s = await serve(h);
    try {
      const a = await request(s.port, '/metrics');
      expect(a.status).toBe(200);
      expect(a.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const m = parseMetrics(a.body);
      const v6 = `[::1]:${closed}`;
      expect(sample(m, 'probe_success', { target: 'db' })).toBe(1);
      expect(sample(m, 'probe_success', { target: v6 })).toBe(0);
      expect(sample(m, 'probe_ip_protocol', { target: 'db' })).toBe(4);
      expect(sample(m, 'probe_ip_protocol', { target: v6 })).toBe(6);
      expect(sample(m, 'probe_duration_seconds', { target: 'db' })).toBeGreaterThan(0);
      expect(sample(m, 'probe_duration_seconds', { target: 'db' })).toBeLessThan(5);
      expect(sample(m, 'probe_dns_lookup_time_seconds', { target: 'db' })).toBe(0);
      expect(sample(m, 'sockprobe_probe_status', { target: 'db', status: 'open', reason: 'syn-ack' })).toBe(1);
      expect(sample(m, 'sockprobe_probe_status', { target: v6, status: 'refused', reason: 'reset' })).toBe(1);
      expect(m.filter((x) => x.name === 'sockprobe_probe_status')).toHaveLength(2);
      expect(sample(m, 'sockprobe_probe_rounds_total', {})).toBe(1);
      expect(sample(m, 'sockprobe_connect_seconds', { target: 'db' })).toBeGreaterThan(0);
      expect(a.body).toContain('# TYPE probe_success gauge');
      // Only this handler's metrics: nothing from the process-wide default registry.
      expect(m.some((x) => x.name.startsWith('process_') || x.name.startsWith('nodejs_'))).toBe(false);

      // The status series follows the target: after it goes away, only the new status is exported.
      await up.close();
      await sleep(1100); // past the default cacheMs of 1000
      const b = parseMetrics((await request(s.port, '/metrics')).body);
      expect(sample(b, 'probe_success', { target: 'db' })).toBe(0);
      expect(sample(b, 'sockprobe_probe_status', { target: 'db', status: 'refused', reason: 'reset' })).toBe(1);
      expect(sample(b, 'sockprobe_probe_status', { target: 'db', status: 'open' })).toBeUndefined();
      expect(sample(b, 'sockprobe_probe_rounds_total', {})).toBe(2);
      // This answer counts itself: the counter goes up before the text is made.
      expect(sample(b, 'sockprobe_health_requests_total', { path: 'metrics', code: '200' })).toBe(2);
    } finally {
      await s.close();
    }
  });

  test('other paths are 404, other methods 405 with Allow; a query chooses nothing', async () => {
    const up = await countingListener();
    const other = await countingListener();
    const h = healthHandler({ host: '127.0.0.1', port: up.port }, { cacheMs: 0 });
    const s = await serve(h);
    try {
      expect((await request(s.port, '/nope')).status).toBe(404);
      expect((await request(s.port, '/metrics/x')).status).toBe(404);
      expect((await request(s.port, '/nope', 'POST')).status).toBe(404);
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const r = await request(s.port, '/', method);
        expect(r.status).toBe(405);
        expect(r.headers.allow).toBe('GET, HEAD');
      }
      expect((await request(s.port, '/metrics', 'POST')).status).toBe(405);
      const r = await request(s.port, `/?target=127.0.0.1:${other.port}&host=127.0.0.1&port=${other.port}`);
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body) as HealthReport).targets.map((t) => t.target)).toEqual([`127.0.0.1:${up.port}`]);
      expect(other.accepted()).toBe(0);
      // 404 and 405 answers probe nothing.
      expect(h.rounds).toBe(1);
      expect(up.accepted()).toBe(1);
    } finally {
      await s.close();
      await up.close();
      await other.close();
    }
  });

  test('path and metricsPath options', async () => {
    const up = await countingListener();
    const s = await serve(healthHandler({ host: '127.0.0.1', port: up.port }, { path: '/healthz', metricsPath: '/probe' }));
    try {
      expect((await request(s.port, '/healthz')).status).toBe(200);
      expect((await request(s.port, '/probe')).status).toBe(200);
      expect((await request(s.port, '/')).status).toBe(404);
      expect((await request(s.port, '/metrics')).status).toBe(404);
    } finally {
      await s.close();
      await up.close();
    }
  });

  test('a flood of concurrent requests is one probe round per cache window, and leaves no descriptor behind', async () => {
    const up = await countingListener();
    const closed = await closedPort();
    const before = fdCount();
    const h = healthHandler(
      [
        { host: '127.0.0.1', port: up.port },
        { host: '127.0.0.1', port: closed },
      ],
      // Long enough that a slow flood on a busy machine still fits in one window.
      { cacheMs: 4000 },
    );
    const s = await serve(h);
    const flood = async (n: number): Promise<number[]> =>
      Promise.all(Array.from({ length: n }, (_, i) => request(s.port, i % 3 === 0 ? '/metrics' : '/').then((r) => r.status)));
    try {
      const first = await flood(400);
      expect(first.filter((c) => c === 503)).toHaveLength(266);
      expect(first.filter((c) => c === 200)).toHaveLength(134); // the /metrics answers
      expect(h.rounds).toBe(1);
      await sleep(100); // the listener's accept callback may trail the probe's result
      expect(up.accepted()).toBe(1);

      // Still inside the window: no new round.
      await flood(100);
      expect(h.rounds).toBe(1);
      expect(up.accepted()).toBe(1);

      // A new window: exactly one more round for the next flood.
      await sleep(4200);
      await flood(300);
      expect(h.rounds).toBe(2);
      await sleep(100);
      expect(up.accepted()).toBe(2);
      const m = parseMetrics((await request(s.port, '/metrics')).body);
      expect(sample(m, 'sockprobe_probe_rounds_total', {})).toBe(2);
      expect(sample(m, 'sockprobe_health_requests_total', { path: 'health', code: '503' })).toBe(266 + 66 + 200);
    } finally {
      await s.close();
      await up.close();
    }
    // Every client, server and probe socket is closed again.
    await sleep(200);
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  test('cacheMs 0 still shares the round in flight among concurrent requests', async () => {
    // Each round lasts at least 150 ms (settle on a listener that keeps the
    // connection open), so the requests overlap rounds however fast a probe is.
    const up = await countingListener(0, { hold: true });
    const h = healthHandler({ host: '127.0.0.1', port: up.port }, { cacheMs: 0, settle: 150 });
    const s = await serve(h);
    try {
      const codes = await Promise.all(Array.from({ length: 200 }, () => request(s.port, '/').then((r) => r.status)));
      expect(codes.every((c) => c === 200)).toBe(true);
      // Requests arrive over time, so several rounds run, but never one per request.
      expect(h.rounds).toBeLessThan(200);
      await sleep(100);
      expect(up.accepted()).toBe(h.rounds);
    } finally {
      await s.close();
      await up.close();
    }
  });

  test('validates its arguments at construction', () => {
    const t = { host: '127.0.0.1', port: 1 };
    expect(() => healthHandler([80 as unknown as string])).toThrow(TypeError);
    expect(() => healthHandler('127.0.0.1:0')).toThrow(RangeError);
    expect(() => healthHandler(t, { cacheMs: -1 })).toThrow(RangeError);
    expect(() => healthHandler(t, { timeout: 0 })).toThrow(RangeError);
    expect(() => healthHandler(t, { path: 'health' })).toThrow(RangeError);
    expect(() => healthHandler(t, { path: '/m', metricsPath: '/m' })).toThrow(RangeError);
    expect(() => healthHandler(t, { metricsPath: 5 as unknown as string })).toThrow(TypeError);
    expect(() => healthHandler(t, { settle: -1 })).toThrow(RangeError);
    expect(() => healthHandler(t, { close: 'x' as 'reset' })).toThrow(RangeError);
  });
});
