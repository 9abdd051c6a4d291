// Acceptance: the `sockprobe` command (bin/sockprobe on the compiled lib/)
// with tls:// targets against openssl s_server and certificates made here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sockprobe } from '../cli-run';
import { needs, openssl } from '../preconditions';
import { makePki, sServer, type Pki } from './pki';

interface JsonOut {
  ok: boolean;
  targets: { target: string; result: { status: string; reason: string; code: string | null; check?: { tls?: { version: string | null; leaf: { notAfter: string } | null; verifyError: string | null } } } }[];
}

needs(openssl).describe('sockprobe tls:// (acceptance)', () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki?.cleanup());

  test('an expired certificate: exit 1, the JSON names cert-expired and carries notAfter', async () => {
    const s = await sServer(pki.expired);
    try {
      const r = await sockprobe(['--json', '--ca', pki.ca, `tls://127.0.0.1:${s.port}`]);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as JsonOut;
      expect(out.ok).toBe(false);
      const result = out.targets[0]?.result;
      expect(out.targets[0]?.target).toBe(`tls://127.0.0.1:${s.port}`);
      expect(result?.status).toBe('not-ready');
      expect(result?.reason).toBe('cert-expired');
      expect(result?.code).toBe('CERT_HAS_EXPIRED');
      expect(result?.check?.tls?.leaf?.notAfter).toBe(pki.expiredNotAfter.toISOString());
      // Without --ca as well: still exit 1 and the expiry.
      const bare = await sockprobe(['--json', `tls://127.0.0.1:${s.port}`]);
      expect(bare.code).toBe(1);
      expect((JSON.parse(bare.stdout) as JsonOut).targets[0]?.result.check?.tls?.leaf?.notAfter).toBe(pki.expiredNotAfter.toISOString());
      const text = await sockprobe([`tls://127.0.0.1:${s.port}`], { env: { ...process.env, NO_COLOR: '1' } });
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/✗ 127\.0\.0\.1:\d+ is not ready: its certificate has expired/);
    } finally {
      await s.stop();
    }
  });

  test('a valid certificate with --ca: exit 0 and the TLS version', async () => {
    const s = await sServer(pki.valid);
    try {
      const r = await sockprobe(['--json', '--ca', pki.ca, `tls://127.0.0.1:${s.port}`]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as JsonOut;
      expect(out.ok).toBe(true);
      expect(out.targets[0]?.result.status).toBe('open');
      expect(out.targets[0]?.result.check?.tls?.version).toMatch(/^TLSv1\.[23]$/);
      expect(out.targets[0]?.result.check?.tls?.verifyError).toBeNull();
      const text = await sockprobe(['--ca', pki.ca, `tls://127.0.0.1:${s.port}`]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/is open: .*tls: TLSv1\.[23] /);
    } finally {
      await s.stop();
    }
  });

  test('explain tls:// says what the service answered and what to do', async () => {
    const s = await sServer(pki.expired);
    try {
      const r = await sockprobe(['explain', '--ca', pki.ca, `tls://127.0.0.1:${s.port}`], { env: { ...process.env, NO_COLOR: '1' } });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/✗ service +tls: .*CERT_HAS_EXPIRED/);
      expect(r.stdout).toMatch(/next: +renew the certificate/);
    } finally {
      await s.stop();
    }
  });

  test('usage errors: --ca without a TLS target, a missing --ca file, an unknown scheme (exit 2)', async () => {
    expect((await sockprobe(['--ca', pki.ca, '127.0.0.1:1'])).code).toBe(2);
    expect((await sockprobe(['--ca', path.join(pki.dir, 'nope.pem'), 'tls://127.0.0.1:1'])).code).toBe(2);
    expect((await sockprobe(['gopher://127.0.0.1:70'])).code).toBe(2);
    expect(fs.existsSync(pki.ca)).toBe(true);
  });
});
