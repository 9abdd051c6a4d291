// The tls check against real `openssl s_server` processes serving
// certificates this file makes (valid from its own CA, expired, self-signed,
// wrong name, missing intermediate), on ephemeral loopback ports.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { describe as describeResult, explain, probe, type ProbeResult } from '../../src';
import { needs, openssl } from '../preconditions';
import { makePki, sServer, type Pki } from './pki';

const lab = needs(openssl);
const noop = (): void => undefined;

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

lab.describe('tls check against openssl s_server', () => {
  let pki: Pki;
  let ca: string;
  beforeAll(() => {
    pki = makePki();
    ca = fs.readFileSync(pki.ca, 'utf8');
  });
  afterAll(() => pki?.cleanup());

  async function withServer<T>(cert: { cert: string; key: string }, extra: string[], fn: (port: number) => Promise<T>): Promise<T> {
    const s = await sServer(cert, extra);
    try {
      return await fn(s.port);
    } finally {
      await s.stop();
    }
  }

  test('a valid certificate from the trusted CA: open, with version, cipher, chain and expiries', async () => {
    await withServer(pki.valid, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('open');
      if (r.status !== 'open') return;
      const t = r.check?.tls;
      expect(r.check?.name).toBe('tls');
      expect(t?.version).toMatch(/^TLSv1\.[23]$/);
      expect(t?.cipher).toMatch(/^TLS_/);
      expect(t?.authorized).toBe(true);
      expect(t?.verifyError).toBeNull();
      // An IP target sends no SNI (RFC 6066) and is checked against the IP SAN.
      expect(t?.servername).toBeNull();
      expect(t?.leaf?.subject).toBe('CN=localhost');
      expect(t?.leaf?.issuer).toBe('CN=sockprobe test root');
      expect(t?.leaf?.subjectAltNames).toEqual(expect.arrayContaining(['DNS:localhost', 'IP Address:127.0.0.1']));
      expect(t?.leaf?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      // Presented: the leaf only; verified: leaf and root, the root's notAfter being later.
      expect(t?.chain).toHaveLength(1);
      expect(t?.earliestNotAfter).toBe(t?.leaf?.notAfter);
      expect(t?.verifiedChainNotAfter).toBe(t?.leaf?.notAfter);
      expect(t?.handshakeMs).toBeGreaterThan(0);
      expect(describeResult(r)).toMatch(/is open: .*tls: TLSv1\.[23] .*certificate verified/);
    });
  });

  test('a host name is sent as SNI and matched against the certificate', async () => {
    await withServer(pki.valid, [], async (port) => {
      const r = await probe('localhost', port, { family: 4, check: { tls: { ca } } });
      expect(r.status).toBe('open');
      if (r.status === 'open') expect(r.check?.tls?.servername).toBe('localhost');
    });
  });

  test('an expired certificate: not-ready cert-expired, with its notAfter, chain and the TCP facts kept', async () => {
    await withServer(pki.expired, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('not-ready');
      if (r.status !== 'not-ready') return;
      expect(r.reason).toBe('cert-expired');
      expect(r.code).toBe('CERT_HAS_EXPIRED');
      expect(r.check.tls?.verifyError).toBe('CERT_HAS_EXPIRED');
      expect(r.check.tls?.leaf?.notAfter).toBe(pki.expiredNotAfter.toISOString());
      expect(r.check.tls?.earliestNotAfter).toBe(pki.expiredNotAfter.toISOString());
      expect(r.check.tls?.verifiedChainNotAfter).toBeNull();
      expect(r.check.tls?.version).toMatch(/^TLSv1/);
      expect(r.connectMs).toBeGreaterThan(0);
      expect(r.local.address).toBe('127.0.0.1');
      expect(r.check.sent).toContain('ClientHello');
      expect(describeResult(r)).toMatch(/is not ready: its certificate has expired: tls: .*CERT_HAS_EXPIRED/);
    });
  });

  test('a self-signed certificate: cert-untrusted, DEPTH_ZERO_SELF_SIGNED_CERT; insecure makes it ready and still reports', async () => {
    await withServer(pki.selfSigned, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('not-ready');
      expect(r.reason).toBe('cert-untrusted');
      expect(r.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      const insecure = await probe('127.0.0.1', port, { check: { tls: { ca, insecure: true } } });
      expect(insecure.status).toBe('open');
      if (insecure.status === 'open') expect(insecure.check?.tls?.verifyError).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    });
  });

  test('a certificate for another name: cert-name-mismatch, ERR_TLS_CERT_ALTNAME_INVALID', async () => {
    await withServer(pki.wrongName, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('not-ready');
      expect(r.reason).toBe('cert-name-mismatch');
      expect(r.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      if (r.status === 'not-ready') expect(r.check.tls?.leaf?.subjectAltNames).toEqual(['DNS:wrong.example.test']);
    });
  });

  test('a server that does not send its intermediate: cert-untrusted, UNABLE_TO_VERIFY_LEAF_SIGNATURE; with it: open', async () => {
    await withServer(pki.viaIntermediate, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('not-ready');
      expect(r.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(r.reason).toBe('cert-untrusted');
      const d = await explain(`127.0.0.1:${port}`, { check: { tls: { ca } } });
      expect(d.cause.code).toBe('not-ready');
      expect(d.next).toMatch(/intermediate/);
      expect(d.steps.map((s) => s.step)).toContain('service');
    });
    await withServer(pki.viaIntermediate, ['-cert_chain', pki.viaIntermediate.chain], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca } } });
      expect(r.status).toBe('open');
      if (r.status === 'open') {
        expect(r.check?.tls?.chain).toHaveLength(2);
        expect(r.check?.tls?.chain[1]?.subject).toBe('CN=sockprobe test intermediate');
      }
    });
  });

  test("Node's bundled roots do not trust the test CA: without ca the valid certificate is cert-untrusted", async () => {
    await withServer(pki.valid, [], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: {} } });
      expect(r.status).toBe('not-ready');
      expect(r.reason).toBe('cert-untrusted');
      expect(r.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
  });

  test('ALPN: the protocol the server picked is reported', async () => {
    await withServer(pki.valid, ['-alpn', 'h2,http/1.1'], async (port) => {
      const r = await probe('127.0.0.1', port, { check: { tls: { ca, alpn: ['http/1.1'] } } });
      expect(r.status).toBe('open');
      if (r.status === 'open') expect(r.check?.tls?.alpn).toBe('http/1.1');
    });
  });

  test('a plain-text server: tls-handshake; one that never answers: no-reply within the deadline; one that closes: closed-before-reply; one that resets: reset-before-reply', async () => {
    const plain = net.createServer((s) => s.on('error', noop).resume().end('SSH-2.0-OpenSSH_9.2\r\n'));
    const silent = net.createServer(() => undefined);
    const closing = net.createServer((s) => s.on('error', noop).on('data', () => s.end()));
    const resetting = net.createServer((s) => s.on('error', noop).on('data', () => s.resetAndDestroy()));
    const held: net.Socket[] = [];
    silent.on('connection', (s) => held.push(s.on('error', noop)));
    for (const srv of [plain, silent, closing, resetting]) await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (s: net.Server): number => (s.address() as net.AddressInfo).port;
    try {
      const before = fdCount();
      const a = await probe('127.0.0.1', port(plain), { check: { tls: {} } });
      expect(a.status).toBe('not-ready');
      expect(['tls-handshake', 'closed-before-reply']).toContain(a.reason);
      const b = await probe('127.0.0.1', port(silent), { timeout: 300, check: { tls: {} } });
      expect(b.status).toBe('not-ready');
      expect(b.reason).toBe('no-reply');
      if (b.status === 'not-ready') expect(b.check.detail).toMatch(/TLS handshake within/);
      const c = await probe('127.0.0.1', port(closing), { check: { tls: {} } });
      expect(c.status).toBe('not-ready');
      expect(c.reason).toBe('closed-before-reply');
      const d = await probe('127.0.0.1', port(resetting), { check: { tls: {} } });
      expect(d.status).toBe('not-ready');
      expect(d.reason).toBe('reset-before-reply');
      // The silent server's own end of its connection is this process's too.
      for (const s of held) s.destroy();
      for (let i = 0; i < 50 && fdCount() > before; i++) await new Promise((r) => setTimeout(r, 20));
      expect(fdCount()).toBeLessThanOrEqual(before);
    } finally {
      for (const s of held) s.destroy();
      await Promise.all([plain, silent, closing, resetting].map((s) => new Promise((r) => s.close(r))));
    }
  });

  test('an abort during the handshake rejects with AbortError and leaves no descriptor open', async () => {
    const silent = net.createServer(() => undefined);
    const held: net.Socket[] = [];
    silent.on('connection', (s) => held.push(s.on('error', noop)));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const before = fdCount();
      const ac = new AbortController();
      const p = probe('127.0.0.1', (silent.address() as net.AddressInfo).port, { timeout: 5000, signal: ac.signal, check: { tls: {} } });
      setTimeout(() => ac.abort(), 100);
      await expect(p).rejects.toMatchObject({ name: 'AbortError' });
      for (let i = 0; i < 50 && fdCount() > before; i++) await new Promise((r) => setTimeout(r, 20));
      expect(fdCount()).toBeLessThanOrEqual(before);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('tls check options (no server needed)', () => {
  test('bad options are TypeError / RangeError, synchronously turned into rejections', async () => {
    await expect(probe('127.0.0.1', 1, { check: { tls: { servername: '127.0.0.1' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { tls: { alpn: 'h2' as unknown as string[] } } })).rejects.toThrow(TypeError);
    await expect(probe('127.0.0.1', 1, { check: { tls: { bogus: 1 } as never } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { tls: { cert: 'x' } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: 'tls' as never })).rejects.toThrow(TypeError);
    await expect(probe('127.0.0.1', 1, { check: { tls: {}, http: {} } as never })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { gopher: {} } as never })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { settle: 10, check: { tls: {} } })).rejects.toThrow(RangeError);
  });

  test('a refused port with a check is still refused: the check never runs', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const r: ProbeResult = await probe('127.0.0.1', port, { check: { tls: {} } });
    expect(r.status).toBe('refused');
  });
});
