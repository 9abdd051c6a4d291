// The http and https checks against real servers on loopback: Node's own
// HTTP server (a real server speaking real HTTP over the kernel's TCP), and
// `openssl s_server -WWW` for https with a certificate this file makes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe as describeResult, probe, parseTarget } from '../../src';
import { fdCountSettled, stableFdCount } from '../helpers';
import { needs, openssl } from '../preconditions';
import { makePki, sServer, type Pki } from './pki';

async function httpServer(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('http check against a Node HTTP server', () => {
  let srv: { port: number; close(): Promise<void> };
  const seen: { method: string; url: string; host: string }[] = [];
  beforeAll(async () => {
    srv = await httpServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '' });
      if ((req.url ?? '').split('?')[0] === '/healthz') res.end('status: ok\n');
      else if (req.url === '/busy') {
        res.statusCode = 503;
        res.end('warming up');
      } else if (req.url === '/redirect') {
        res.statusCode = 302;
        res.setHeader('location', '/healthz');
        res.end();
      } else if (req.url === '/chunked') {
        res.write('part one, ');
        setTimeout(() => res.end('status: degraded'), 20);
      } else if (req.url === '/hang') {
        // never answers
      } else {
        res.statusCode = 404;
        res.end('no');
      }
    });
  });
  afterAll(() => srv.close());

  test('200 on the path asked for: open, status and version and phases reported, Host header sent', async () => {
    const r = await probe('127.0.0.1', srv.port, { check: { http: { path: '/healthz' } } });
    expect(r.status).toBe('open');
    if (r.status !== 'open') return;
    expect(r.check?.http?.status).toBe(200);
    expect(r.check?.http?.httpVersion).toBe('1.1');
    expect(r.check?.http?.phases.connect).toBeGreaterThan(0);
    expect(r.check?.http?.phases.tls).toBe(0);
    expect(r.check?.http?.phases.firstByte).toBeGreaterThan(0);
    expect(r.check?.received).toMatch(/^HTTP\/1\.1 200 OK\\r\\n/);
    expect(seen.at(-1)).toEqual({ method: 'GET', url: '/healthz', host: `127.0.0.1:${srv.port}` });
    expect(describeResult(r)).toMatch(/is open: .*http: the server answered HTTP\/1\.1 200 OK/);
  });

  test('a process whose probes ran answered HTTP checks exits (the client ends its request: the socket is destroyed, not reset)', async () => {
    // resetAndDestroy() on a socket with a shutdown in flight: uv_tcp_close_reset() says EINVAL and Node 20
    // marks the handle closing without closing it, so at exit the process spun for ever waiting for it.
    const before = await stableFdCount();
    // The server in the child too, answering in two chunks, and a body regex: the check reads to the end, by
    // which time Node's client has ended its side.
    const script = `const http = require('node:http');
      const { probe } = require(${JSON.stringify(path.resolve(__dirname, '../../lib'))});
      const srv = http.createServer((req, res) => { res.write('part one, '); setTimeout(() => res.end('status: degraded'), 20); });
      srv.listen(0, '127.0.0.1', async () => {
        for (let i = 0; i < 3; i++) {
          const r = await probe('127.0.0.1', srv.address().port, { check: { http: { path: '/chunked', body: /degraded/ } } });
          if (r.status !== 'open') throw new Error(JSON.stringify(r));
        }
        srv.close();
        console.log('done');
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20000); // a hang, not a time limit: it exits in well under a second
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(killer);
    expect({ code, signal, out: out.trim() }).toEqual({ code: 0, signal: null, out: 'done' });
    // And in this process: no descriptor left by the same checks.
    for (let i = 0; i < 10; i++) await probe('127.0.0.1', srv.port, { check: { http: { path: '/healthz' } } });
    expect(await fdCountSettled(before)).toBe(before);
  });

  test('a status outside 200-399 is not-ready http-status; a redirect counts as ready (as Kubernetes does)', async () => {
    const busy = await probe('127.0.0.1', srv.port, { check: { http: { path: '/busy' } } });
    expect(busy.status).toBe('not-ready');
    expect(busy.reason).toBe('http-status');
    expect(busy.code).toBe('503');
    const missing = await probe('127.0.0.1', srv.port, { check: { http: { path: '/nope' } } });
    expect(missing.reason).toBe('http-status');
    const moved = await probe('127.0.0.1', srv.port, { check: { http: { path: '/redirect' } } });
    expect(moved.status).toBe('open');
    const exact = await probe('127.0.0.1', srv.port, { check: { http: { path: '/redirect', status: 200 } } });
    expect(exact.reason).toBe('http-status');
    const listed = await probe('127.0.0.1', srv.port, { check: { http: { path: '/busy', status: '200-299,503' } } });
    expect(listed.status).toBe('open');
  });

  test('body regex: matched (even across chunks) is open, not matched is body-mismatch', async () => {
    const ok = await probe('127.0.0.1', srv.port, { check: { http: { path: '/healthz', body: 'status: ok' } } });
    expect(ok.status).toBe('open');
    if (ok.status === 'open') expect(ok.check?.http?.bodyMatched).toBe(true);
    const degraded = await probe('127.0.0.1', srv.port, { check: { http: { path: '/chunked', body: /status: ok/ } } });
    expect(degraded.status).toBe('not-ready');
    expect(degraded.reason).toBe('body-mismatch');
  });

  test('method and Host header as asked; a server that never answers is no-reply within the deadline', async () => {
    const r = await probe('127.0.0.1', srv.port, { check: { http: { method: 'HEAD', path: '/healthz', host: 'svc.example.test' } } });
    expect(r.status).toBe('open');
    expect(seen.at(-1)).toEqual({ method: 'HEAD', url: '/healthz', host: 'svc.example.test' });
    const hang = await probe('127.0.0.1', srv.port, { timeout: 300, check: { http: { path: '/hang' } } });
    expect(hang.status).toBe('not-ready');
    expect(hang.reason).toBe('no-reply');
  });

  test('http:// URL targets carry the path; a non-HTTP service is unexpected-reply; one that closes is closed-before-reply', async () => {
    const t = parseTarget(`http://127.0.0.1:${srv.port}/healthz?full=1`);
    expect(t).toEqual({ host: '127.0.0.1', port: srv.port, check: { http: { path: '/healthz?full=1' } } });
    const viaUrl = await probe(t);
    expect(describeResult(viaUrl)).toMatch(/is open/);
    expect(seen.at(-1)?.url).toBe('/healthz?full=1');
    const banner = net.createServer((s) => s.on('error', () => undefined).resume().end('SSH-2.0-OpenSSH_9.2\r\n'));
    const closer = net.createServer((s) => s.on('error', () => undefined).on('data', () => s.end()));
    for (const s of [banner, closer]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const a = await probe('127.0.0.1', (banner.address() as net.AddressInfo).port, { check: { http: {} } });
      expect(a.status).toBe('not-ready');
      expect(a.reason).toBe('unexpected-reply');
      if (a.status === 'not-ready') expect(a.check.received).toMatch(/^SSH-2\.0/);
      const b = await probe('127.0.0.1', (closer.address() as net.AddressInfo).port, { check: { http: {} } });
      expect(b.status).toBe('not-ready');
      expect(b.reason).toBe('closed-before-reply');
    } finally {
      await Promise.all([banner, closer].map((s) => new Promise((r) => s.close(r))));
    }
  });

  test('bad http options are TypeError / RangeError', async () => {
    await expect(probe('127.0.0.1', 1, { check: { http: { path: 'healthz' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { http: { method: 'GE T' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { http: { status: '600' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { http: { status: true as unknown as number } } })).rejects.toThrow(TypeError);
    await expect(probe('127.0.0.1', 1, { check: { http: { body: '(' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { http: { headers: { 'x-a': 'b\r\nc' } } } })).rejects.toThrow(RangeError);
  });
});

needs(openssl).describe('https check against openssl s_server -WWW', () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
    fs.writeFileSync(path.join(pki.dir, 'healthz'), 'ready\n');
  });
  afterAll(() => pki?.cleanup());

  test('https: TLS then HTTP on one connection, both phases timed; a bad certificate stops before the request', async () => {
    const s = await sServer(pki.valid, ['-WWW'], pki.dir);
    try {
      const ca = fs.readFileSync(pki.ca, 'utf8');
      const r = await probe(parseTarget(`https://127.0.0.1:${s.port}/healthz`), { check: undefined });
      expect(r.status).toBe('not-ready'); // the test CA is not among Node's roots
      expect(r.reason).toBe('cert-untrusted');
      if (r.status === 'not-ready') expect(r.check.http).toBeUndefined();
      const ok = await probe('127.0.0.1', s.port, { check: { https: { path: '/healthz', body: '^ready', tls: { ca } } } });
      expect(describeResult(ok)).toMatch(/is open/);
      if (ok.status !== 'open') return;
      expect(ok.check?.name).toBe('https');
      expect(ok.check?.tls?.version).toMatch(/^TLSv1\.[23]$/);
      expect(ok.check?.http?.status).toBe(200);
      expect(ok.check?.http?.httpVersion).toBe('1.0');
      expect(ok.check?.http?.phases.tls).toBeGreaterThan(0);
      expect(ok.check?.http?.hostHeader).toBe(`127.0.0.1:${s.port}`);
    } finally {
      await s.stop();
    }
  });
});
