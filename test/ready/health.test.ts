// Readiness checks through the health API: waitFor() until a TLS service is
// ready, check() and healthHandler() with URL targets, and /metrics with the
// certificate series that `promtool check metrics` (Debian's prometheus)
// accepts. Servers: openssl s_server with certificates made here, and Node's
// HTTP server, on ephemeral loopback ports.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { check, healthHandler, monitor, waitFor, type HealthReport } from '../../src';
import { parseMetrics, request, sample, serve } from '../health/helpers';
import { needs, openssl, tool } from '../preconditions';
import { makePki, sServer, type Pki } from './pki';

const lab = needs(openssl);

lab.describe('health API with readiness checks', () => {
  let pki: Pki;
  let ca: string;
  beforeAll(() => {
    pki = makePki();
    ca = fs.readFileSync(pki.ca, 'utf8');
  });
  afterAll(() => pki?.cleanup());

  test('check(): a URL target with an expired certificate is not ok, not-ready, with the expiry in the evidence', async () => {
    const s = await sServer(pki.expired);
    try {
      const report = await check([`tls://127.0.0.1:${s.port}`, { host: '127.0.0.1', port: s.port, name: 'with-ca', check: { tls: { ca } } }]);
      expect(report.ok).toBe(false);
      expect(report.results[0]?.target).toBe(`tls://127.0.0.1:${s.port}`);
      // Without the CA the chain is untrusted too, but OpenSSL reports the expiry (its last error): still not ready.
      expect(report.results.map((r) => [r.result.status, r.result.reason])).toEqual([
        ['not-ready', 'cert-expired'],
        ['not-ready', 'cert-expired'],
      ]);
      const r = report.results[1]?.result;
      if (r?.status === 'not-ready') expect(r.check.tls?.leaf?.notAfter).toBe(pki.expiredNotAfter.toISOString());
    } finally {
      await s.stop();
    }
  });

  test('waitFor(): not-ready is not ready: it waits until the service answers as a ready one', async () => {
    // A port that first serves an HTTP 503, then 200: the wait ends only with the 200.
    let ready = false;
    const server = http.createServer((_req, res) => {
      res.statusCode = ready ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    setTimeout(() => (ready = true), 400);
    try {
      const r = await waitFor(`http://127.0.0.1:${port}/`, { timeout: 5000 });
      expect(r.status).toBe('open');
      if (r.status === 'open') expect(r.check?.http?.status).toBe(200);
      const r2 = await waitFor('127.0.0.1', port, { timeout: 2000, check: { http: { path: '/' } } });
      expect(r2.status).toBe('open');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('monitor(): a target whose check fails is down with the not-ready status', async () => {
    const s = await sServer(pki.wrongName);
    const m = monitor([{ host: '127.0.0.1', port: s.port, name: 'tls', check: { tls: { ca } } }], { periodMs: 200 });
    try {
      const st = await new Promise<ReturnType<typeof m.status>>((resolve) => {
        const poll = (): void => {
          const now = m.status();
          if (now.targets[0]?.lastResult != null) resolve(now);
          else setTimeout(poll, 50);
        };
        poll();
      });
      expect(st.targets[0]?.lastResult?.status).toBe('not-ready');
      expect(st.targets[0]?.lastResult?.reason).toBe('cert-name-mismatch');
    } finally {
      m.stop();
      await s.stop();
    }
  });

  test('healthHandler(): 503 with the check evidence; /metrics carries the certificate expiry series and the reason label', async () => {
    const expired = await sServer(pki.expired);
    const valid = await sServer(pki.valid);
    const h = await serve(
      healthHandler(
        [
          { host: '127.0.0.1', port: expired.port, name: 'old', check: { tls: { ca } } },
          { host: '127.0.0.1', port: valid.port, name: 'good', check: { tls: { ca } } },
        ],
        { cacheMs: 0 },
      ),
    );
    try {
      const res = await request(h.port, '/');
      expect(res.status).toBe(503);
      const report = JSON.parse(res.body) as HealthReport;
      expect(report.targets.map((t) => [t.target, t.status, t.reason])).toEqual([
        ['old', 'not-ready', 'cert-expired'],
        ['good', 'open', 'syn-ack'],
      ]);
      expect(report.targets[0]?.check?.tls?.leaf?.notAfter).toBe(pki.expiredNotAfter.toISOString());
      const m = await request(h.port, '/metrics');
      const samples = parseMetrics(m.body);
      expect(sample(samples, 'sockprobe_probe_status', { target: 'old', status: 'not-ready', reason: 'cert-expired' })).toBe(1);
      expect(sample(samples, 'probe_success', { target: 'old' })).toBe(0);
      // The expired certificate still has its expiry series (blackbox_exporter #1119): the point of verifying ourselves.
      expect(sample(samples, 'probe_ssl_earliest_cert_expiry', { target: 'old' })).toBe(pki.expiredNotAfter.getTime() / 1000);
      expect(sample(samples, 'probe_ssl_last_chain_expiry_timestamp_seconds', { target: 'old' })).toBeUndefined();
      expect(sample(samples, 'sockprobe_tls_verified', { target: 'old', code: 'CERT_HAS_EXPIRED' })).toBe(0);
      expect(sample(samples, 'probe_ssl_earliest_cert_expiry', { target: 'good' })).toBeGreaterThan(Date.now() / 1000);
      expect(sample(samples, 'probe_ssl_last_chain_expiry_timestamp_seconds', { target: 'good' })).toBeGreaterThan(Date.now() / 1000);
      const version = samples.find((s) => s.name === 'probe_tls_version_info' && s.labels.target === 'good');
      expect(version?.labels.version).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await h.close();
      await expired.stop();
      await valid.stop();
    }
  });

  test('bad checks fail at construction: unknown check, twice given', () => {
    expect(() => healthHandler([{ host: '127.0.0.1', port: 1, check: { gopher: {} } as never }])).toThrow(RangeError);
    expect(() => healthHandler(['tls://127.0.0.1:1'], { check: { tls: {} } })).toThrow(RangeError);
    expect(() => monitor([{ host: '127.0.0.1', port: 1, check: { tls: { alpn: 'h2' } } as never }])).toThrow(TypeError);
  });
});

needs(openssl, tool('promtool', 'prometheus')).test('promtool check metrics accepts /metrics with TLS and HTTP targets', async () => {
  const pki = makePki();
  const s = await sServer(pki.expired);
  const web = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const ca = fs.readFileSync(pki.ca, 'utf8');
  const h = await serve(
    healthHandler(
      [
        { host: '127.0.0.1', port: s.port, name: 'tls', check: { tls: { ca } } },
        { host: '127.0.0.1', port: (web.address() as net.AddressInfo).port, name: 'web', check: { http: { body: 'ok' } } },
        `https://127.0.0.1:${s.port}/`,
      ],
      { cacheMs: 0 },
    ),
  );
  try {
    const m = await request(h.port, '/metrics');
    expect(m.body).toContain('probe_ssl_earliest_cert_expiry{target="tls"}');
    expect(m.body).toContain('probe_http_duration_seconds{target="web",phase="processing"}');
    expect(m.body).toContain('probe_http_status_code{target="web"} 200');
    expect(m.body).toContain('probe_failed_due_to_regex{target="web"} 0');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: m.body, encoding: 'utf8' });
    // promtool exits 0 when the text parses and its lint finds nothing; it prints problems otherwise.
    expect({ status: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ status: 0, out: '' });
  } finally {
    await h.close();
    web.closeAllConnections();
    await new Promise((r) => web.close(r));
    await s.stop();
    pki.cleanup();
  }
});
