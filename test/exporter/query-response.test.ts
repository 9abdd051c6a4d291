// blackbox_exporter's query_response features beyond expect/send, served by
// sockprobe's send-expect check, against real servers on loopback and side by
// side with the real blackbox_exporter (Debian's 0.23) on the same file where
// 0.23 has the feature:
//   starttls    aiosmtpd (STARTTLS, self-signed certificate), both exporters
//   ${1} in send  a scripted IRC-like line server (blackbox's irc_banner_example verbatim), both exporters
//   labels      a real sshd: probe_expect_info as blackbox's own TestTCPConnectionQueryResponseMatching
//               expects it (0.23 has no labels: it rejects the field, so sockprobe alone)
//   expect_bytes a real PostgreSQL answering the SSLRequest with S (blackbox's later example; not in 0.23)
// and the tcp modules of blackbox's own example.yml and Debian's blackbox.yml
// (test/exporter/fixtures/) load unchanged.
import * as fs from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadConfig } from '../../src/exporter/config';
import { parseMetrics, sample } from '../health/helpers';
import { needs, onPath, openssl, tool } from '../preconditions';
import { makePki } from '../ready/pki';
import { aiosmtpd, sshd, sshKeygen, startSmtp, startSshd } from '../servers/brokers';
import { stopAll } from '../servers/harness';
import { initdb, startPrimary } from '../servers/postgres';
import { freePort, get, killAll, promtoolCheck, startExporter, startListening, tempDir, type Running } from './helpers';

jest.setTimeout(60000);

const tmp = tempDir();
afterAll(async () => {
  await stopAll();
  killAll();
  tmp.remove();
});

type Samples = ReturnType<typeof parseMetrics>;


const probeUrl = (target: string, module: string): string => `/probe?target=${encodeURIComponent(target)}&module=${module}`;
const blackbox = tool('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter');

async function startBlackbox(file: string): Promise<Running> {
  const port = await freePort();
  return startListening('prometheus-blackbox-exporter', ['--config.file', file, '--web.listen-address', `127.0.0.1:${port}`], /Listening on.*address=127\.0\.0\.1:(\d+)/);
}

async function scrape(exporter: Running, target: string, module: string): Promise<{ body: string; s: Samples }> {
  const a = await get(exporter.port, probeUrl(target, module));
  expect(a.status).toBe(200);
  return { body: a.body, s: parseMetrics(a.body) };
}

const status = (s: Samples): string => {
  const x = s.find((m) => m.name === 'sockprobe_probe_status');
  return `${x?.labels.status ?? ''}/${x?.labels.reason ?? ''}`;
};

test("blackbox's example.yml (0.23) and Debian's blackbox.yml: every tcp module loads unchanged", () => {
  const dir = path.join(__dirname, 'fixtures');
  const example = loadConfig(path.join(dir, 'blackbox-example-tcp.yml'));
  expect([...example.modules.keys()]).toEqual(['tls_connect', 'tcp_connect_example', 'imap_starttls', 'smtp_starttls', 'irc_banner_example']);
  expect(example.modules.get('smtp_starttls')?.check).toMatchObject({ 'send-expect': { steps: expect.arrayContaining([{ expect: /^220/, starttls: true }]) } });
  expect(example.modules.get('irc_banner_example')?.check).toMatchObject({ 'send-expect': { steps: expect.arrayContaining([{ expect: /PING :([^ ]+)/, reply: 'PONG ${1}\n' }]) } });
  const debian = loadConfig(path.join(dir, 'blackbox-debian-tcp.yml'));
  expect([...debian.modules.keys()]).toEqual(['tcp_connect', 'pop3s_banner', 'ssh_banner', 'irc_banner']);
  // Go lets an anchor repeat ("^+OK": one or more ^, then OK); the same RegExp here.
  expect(debian.modules.get('pop3s_banner')?.check).toEqual({ 'send-expect': { steps: [{ expect: /(?:^)+OK/ }], tls: {} } });
});

needs(aiosmtpd.requirement, openssl, blackbox).test(
  "starttls: blackbox's smtp_starttls against aiosmtpd, side by side with blackbox_exporter: the same probe_success, TLS version and certificate expiry",
  async () => {
    const pki = makePki();
    // A CA-signed leaf with a SAN: Go's TLS (blackbox_exporter) refuses startSmtp()'s CN-only self-signed one.
    const smtp = await startSmtp(pki.valid);
    const cert = pki.ca;
    // blackbox's example module, with the test certificate trusted and an EHLO reply aiosmtpd gives (it offers no AUTH).
    const file = tmp.file(
      'starttls.yml',
      `modules:
  smtp_starttls:
    prober: tcp
    timeout: 5s
    tcp:
      tls_config:
        ca_file: ${cert}
        server_name: localhost
      query_response:
        - expect: "^220 ([^ ]+) (.+)$"
        - send: "EHLO prober\\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\\r"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober\\r"
        - expect: "^250 HELP"
        - send: "QUIT\\r"
  smtp_starttls_untrusted:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - expect: "^220"
        - send: "EHLO prober\\r"
        - expect: "^250 HELP"
        - send: "STARTTLS\\r"
        - expect: "^220"
        - starttls: true
`,
    );
    const ours = await startExporter(file);
    const theirs = await startBlackbox(file);
    try {
      const target = `127.0.0.1:${smtp.port}`;
      const [b, s] = [await scrape(theirs, target, 'smtp_starttls'), await scrape(ours, target, 'smtp_starttls')];
      expect(sample(b.s, 'probe_success', {})).toBe(1);
      expect(sample(s.s, 'probe_success', {})).toBe(1);
      expect(status(s.s)).toBe('open/syn-ack');
      for (const series of ['probe_ssl_earliest_cert_expiry', 'probe_ssl_last_chain_expiry_timestamp_seconds', 'probe_failed_due_to_regex'])
        expect({ series, ours: sample(s.s, series, {}) }).toEqual({ series, ours: sample(b.s, series, {}) });
      const version = (m: Samples): string | undefined => m.find((x) => x.name === 'probe_tls_version_info')?.labels.version;
      expect(version(s.s)).toBe(version(b.s));
      if (onPath('promtool') !== undefined) expect(promtoolCheck(s.body)).toBeNull();
      // Without the test CA: not trusted, both fail; sockprobe says why.
      const [bu, su] = [await scrape(theirs, target, 'smtp_starttls_untrusted'), await scrape(ours, target, 'smtp_starttls_untrusted')];
      expect(sample(bu.s, 'probe_success', {})).toBe(0);
      expect(sample(su.s, 'probe_success', {})).toBe(0);
      expect(status(su.s)).toBe('not-ready/cert-untrusted');
      console.log(`starttls (aiosmtpd): blackbox_exporter probe_success ${String(sample(b.s, 'probe_success', {}))}/${String(sample(bu.s, 'probe_success', {}))}, sockprobe ${String(sample(s.s, 'probe_success', {}))}/${String(sample(su.s, 'probe_success', {}))} ${status(su.s)}`);
    } finally {
      await theirs.stop();
      await ours.stop();
      await smtp.stop();
      pki.cleanup();
    }
  },
);

needs(blackbox).test(
  "${1} in send: blackbox's irc_banner_example verbatim against a scripted IRC-like server, side by side: the same probe_success and probe_failed_due_to_regex",
  async () => {
    // Scripted: after NICK and USER it sends PING :<token>; welcomes with 001 only when PONG echoes the token.
    let token = 'tok42';
    const server = net.createServer((c) => {
      c.on('error', () => undefined);
      let buf = '';
      let pinged = false;
      c.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!pinged && buf.includes('USER ')) {
          pinged = true;
          c.write(`PING :${token}\r\n`);
        }
        const m = /PONG (\S+)\n/.exec(buf);
        if (m !== null) {
          if (m[1] === token) c.write(':irc.test 001 prober :Welcome\r\n');
          else c.write(':irc.test 513 prober :Bad PONG\r\n');
          c.end();
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const target = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const file = path.join(__dirname, 'fixtures', 'blackbox-example-tcp.yml');
    const ours = await startExporter(file);
    const theirs = await startBlackbox(file);
    try {
      const [b, s] = [await scrape(theirs, target, 'irc_banner_example'), await scrape(ours, target, 'irc_banner_example')];
      expect(sample(b.s, 'probe_success', {})).toBe(1);
      expect(sample(s.s, 'probe_success', {})).toBe(1);
      // A server whose PING token changes between them: the PONG still echoes the one it got, so both still pass.
      token = 'other-7';
      const [b2, s2] = [await scrape(theirs, target, 'irc_banner_example'), await scrape(ours, target, 'irc_banner_example')];
      expect(sample(b2.s, 'probe_success', {})).toBe(1);
      expect(sample(s2.s, 'probe_success', {})).toBe(1);
      for (const name of ['probe_success', 'probe_failed_due_to_regex']) expect({ name, ours: sample(s2.s, name, {}) }).toEqual({ name, ours: sample(b2.s, name, {}) });
    } finally {
      await theirs.stop();
      await ours.stop();
      await new Promise((r) => server.close(r));
    }
  },
);

needs(sshd.requirement, sshKeygen).test(
  "labels: probe_expect_info from a real sshd's banner, as blackbox's own test expects it (ssh_version, ssh_comments); ${1} in the send",
  async () => {
    const server = await startSshd();
    const file = tmp.file(
      'labels.yml',
      `modules:
  ssh_labels:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - expect: "^SSH-2.0-([^ -]+)(?: (.*))?$"
          send: "CONFIRM \${1}"
          labels:
            - name: ssh_version
              value: "\${1}"
            - name: ssh_comments
              value: "\${2}"
`,
    );
    const ours = await startExporter(file);
    try {
      const s = await scrape(ours, `127.0.0.1:${server.port}`, 'ssh_labels');
      expect(sample(s.s, 'probe_success', {})).toBe(1);
      const info = s.s.find((x) => x.name === 'probe_expect_info');
      expect(info?.value).toBe(1);
      expect(info?.labels.ssh_version).toMatch(/^OpenSSH_\d/);
      // Debian's banner carries a comment ("Debian-2+deb12u3"); another build may not, and the label is then empty.
      expect(typeof info?.labels.ssh_comments).toBe('string');
      if (onPath('promtool') !== undefined) expect(promtoolCheck(s.body)).toBeNull();
      console.log(`labels (sshd): ${s.body.split('\n').find((l) => l.startsWith('probe_expect_info')) ?? ''}`);
    } finally {
      await ours.stop();
      await server.stop();
    }
  },
);

needs(initdb.requirement, openssl).test(
  "expect_bytes: a real PostgreSQL answers the SSLRequest with S (success); expecting N fails with probe_failed_due_to_bytes 1 and says what came",
  async () => {
    const pg = await startPrimary();
    const file = tmp.file(
      'bytes.yml',
      `modules:
  postgresql_ssl:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - send: !!binary AAAACATSFi8= # PostgreSQL SSLRequest
        - expect_bytes: S
  postgresql_nossl:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - send: !!binary AAAACATSFi8=
        - expect_bytes: N
`,
    );
    const ours = await startExporter(file);
    try {
      const target = `127.0.0.1:${pg.server.port}`;
      const ok = await scrape(ours, target, 'postgresql_ssl');
      expect(sample(ok.s, 'probe_success', {})).toBe(1);
      expect(sample(ok.s, 'probe_failed_due_to_bytes', {})).toBe(0);
      const bad = await scrape(ours, target, 'postgresql_nossl');
      expect(sample(bad.s, 'probe_success', {})).toBe(0);
      expect(sample(bad.s, 'probe_failed_due_to_bytes', {})).toBe(1);
      expect(sample(bad.s, 'probe_failed_due_to_regex', {})).toBe(0);
      expect(status(bad.s)).toBe('not-ready/unexpected-reply');
      if (onPath('promtool') !== undefined) expect(promtoolCheck(bad.body)).toBeNull();
    } finally {
      await ours.stop();
      await pg.server.stop();
      fs.rmSync(pg.dir, { recursive: true, force: true });
    }
  },
);
