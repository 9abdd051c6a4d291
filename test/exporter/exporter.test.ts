// `sockprobe exporter` as Prometheus and its users meet it: the real command
// on an ephemeral loopback port, real listeners (and ports with none) as
// targets, blackbox_exporter's interface, and the safety gate counted on a
// listener (a refused request makes no connection).
import * as fs from 'node:fs';
import * as http from 'node:http';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { sockprobe } from '../cli-run';
import { reports } from '../helpers';
import { countingListener, parseMetrics, sample, sleep } from '../health/helpers';
import { needs, onPath, openssl, tool } from '../preconditions';
import { makePki, sServer, type Pki } from '../ready/pki';
import { freePort, get, holdingListener, killAll, promtoolCheck, startExporter, startListening, tempDir, type Running } from './helpers';

jest.setTimeout(30000);

const CONFIG = `# an existing blackbox_exporter configuration with tcp modules only
modules:
  tcp_connect:
    prober: tcp
    timeout: 5s
  tcp_v4:
    prober: tcp
    tcp:
      preferred_ip_protocol: "ip4"
      ip_protocol_fallback: false
  unix_sock:
    prober: unix
    timeout: 2s
`;

const tmp = tempDir();
let exporter: Running;
let open: Awaited<ReturnType<typeof countingListener>>;
let closedPort: number;

beforeAll(async () => {
  open = await countingListener();
  closedPort = await freePort();
  exporter = await startExporter(tmp.file('blackbox.yml', CONFIG));
});

afterAll(async () => {
  // Set unless beforeAll failed.
  await (exporter as Running | undefined)?.stop();
  await (open as typeof open | undefined)?.close();
  killAll();
  tmp.remove();
});

const probeUrl = (target: string, module = 'tcp_connect', extra = ''): string =>
  `/probe?target=${encodeURIComponent(target)}&module=${module}${extra}`;

describe('acceptance: /probe?target=127.0.0.1:P&module=tcp_connect', () => {
  test('an open port: probe_success 1, sockprobe_probe_status{status="open",reason="syn-ack"} 1, blackbox series', async () => {
    const a = await get(exporter.port, probeUrl(`127.0.0.1:${open.port}`));
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = parseMetrics(a.body);
    expect(sample(s, 'probe_success', {})).toBe(1);
    expect(sample(s, 'sockprobe_probe_status', { status: 'open', reason: 'syn-ack' })).toBe(1);
    expect(sample(s, 'probe_ip_protocol', {})).toBe(4);
    // blackbox_exporter's FNV-1a of 127.0.0.1, as it reports it (3.668918509e+09).
    expect(sample(s, 'probe_ip_addr_hash', {})).toBe(3668918509);
    expect(sample(s, 'sockprobe_connect_seconds', {})).toBeGreaterThan(0);
    expect(s.map((x) => x.name)).toEqual(expect.arrayContaining(['probe_dns_lookup_time_seconds', 'probe_duration_seconds', 'probe_failed_due_to_regex']));
    // SYN retransmits only where the engine reads TCP info; otherwise no series, never a 0.
    expect(s.some((x) => x.name === 'sockprobe_syn_retransmits')).toBe(reports('tcpInfo'));
    expect(a.body).toContain('# HELP probe_success Displays whether or not the probe was a success\n');
  });

  test('a closed port: probe_success 0 and sockprobe_probe_status{status="refused",reason="reset"} 1', async () => {
    const a = await get(exporter.port, probeUrl(`127.0.0.1:${closedPort}`));
    expect(a.status).toBe(200);
    const s = parseMetrics(a.body);
    expect(sample(s, 'probe_success', {})).toBe(0);
    expect(sample(s, 'sockprobe_probe_status', { status: 'refused', reason: 'reset' })).toBe(1);
    expect(s.filter((x) => x.name === 'sockprobe_probe_status')).toHaveLength(1);
  });

  needs(tool('promtool', 'prometheus')).test('promtool check metrics accepts both answers', async () => {
    for (const port of [open.port, closedPort]) {
      const a = await get(exporter.port, probeUrl(`127.0.0.1:${port}`));
      expect(promtoolCheck(a.body)).toBeNull();
    }
  });
});

describe("blackbox_exporter's interface", () => {
  test('debug=true: the probe log (with the reason in words), the series, the module', async () => {
    const a = await get(exporter.port, probeUrl(`127.0.0.1:${closedPort}`, 'tcp_connect', '&debug=true'));
    expect(a.status).toBe(200);
    expect(a.body).toMatch(/^Logs for the probe:\n/);
    expect(a.body).toContain('msg="Beginning probe" probe=tcp timeout_seconds=5');
    expect(a.body).toMatch(/level=error msg="Error dialing TCP" status=refused reason=reset err="127\.0\.0\.1:\d+ refused the connection: the host answered with a TCP reset/);
    expect(a.body).toContain('\n\n\nMetrics that would have been returned:\n# HELP probe_dns_lookup_time_seconds');
    expect(a.body).toContain('sockprobe_probe_status{status="refused",reason="reset"} 1');
    expect(a.body).toContain('\n\n\nModule configuration:\nprober: tcp\ntimeout: 5s\n');
  });

  test('X-Prometheus-Scrape-Timeout-Seconds minus --timeout-offset (0.5) bounds the probe, below the module timeout', async () => {
    const t = async (module: string, header: string | undefined): Promise<string | undefined> => {
      const headers: Record<string, string> = header === undefined ? {} : { 'X-Prometheus-Scrape-Timeout-Seconds': header };
      const a = await get(exporter.port, probeUrl(`127.0.0.1:${closedPort}`, module, '&debug=true'), { headers });
      return /timeout_seconds=([0-9.]+)/.exec(a.body)?.[1];
    };
    expect(await t('tcp_v4', '3')).toBe('2.5');
    expect(await t('tcp_connect', '3')).toBe('2.5');
    expect(await t('tcp_connect', '10')).toBe('5');
    // No header: blackbox's 120 s, minus the offset.
    expect(await t('tcp_v4', undefined)).toBe('119.5');
    const bad = await get(exporter.port, probeUrl(`127.0.0.1:${closedPort}`), { headers: { 'X-Prometheus-Scrape-Timeout-Seconds': 'soon' } });
    expect(bad.status).toBe(500);
    expect(bad.body).toMatch(/^Failed to parse timeout from Prometheus header/);
  });

  test('--timeout-offset is taken off the scrape timeout', async () => {
    const other = await startExporter(tmp.file('offset.yml', CONFIG), ['--timeout-offset', '1.25']);
    try {
      const a = await get(other.port, probeUrl(`127.0.0.1:${closedPort}`, 'tcp_v4', '&debug=true'), { headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '4' } });
      expect(a.body).toContain('timeout_seconds=2.75');
    } finally {
      await other.stop();
    }
  });

  test('an unknown module, a missing target, a malformed target: 400 with the reason, nothing probed', async () => {
    const before = open.accepted();
    const unknown = await get(exporter.port, probeUrl(`127.0.0.1:${open.port}`, 'http_2xx'));
    expect(unknown).toMatchObject({ status: 400, body: 'Unknown module "http_2xx"\n' });
    const missing = await get(exporter.port, '/probe?module=tcp_connect');
    expect(missing).toMatchObject({ status: 400, body: 'Target parameter is missing\n' });
    const malformed = await get(exporter.port, probeUrl('127.0.0.1'));
    expect(malformed.status).toBe(400);
    expect(malformed.body).toContain("expected host:port");
    expect(open.accepted()).toBe(before);
  });

  test('/-/healthy, /metrics (a registry of its own: process metrics and the exporter counters), 404 elsewhere', async () => {
    expect(await get(exporter.port, '/-/healthy')).toMatchObject({ status: 200, body: 'Healthy' });
    const m = await get(exporter.port, '/metrics');
    expect(m.status).toBe(200);
    const s = parseMetrics(m.body);
    expect(sample(s, 'blackbox_exporter_config_last_reload_successful', {})).toBe(1);
    expect(sample(s, 'sockprobe_exporter_probes_total', { module: 'tcp_connect', result: 'failure' })).toBeGreaterThan(0);
    expect(sample(s, 'blackbox_module_unknown_total', {})).toBeGreaterThan(0);
    expect(s.some((x) => x.name === 'process_cpu_user_seconds_total')).toBe(true);
    // The per-probe series are not here: they belong to /probe.
    expect(s.some((x) => x.name === 'probe_success')).toBe(false);
    expect((await get(exporter.port, '/nothing')).status).toBe(404);
  });

  test('prober unix: a socket path as the target', async () => {
    const sock = path.join(tmp.dir, 'app.sock');
    const server = net.createServer((c) => c.destroy()).listen(sock);
    await once(server, 'listening');
    try {
      const up = parseMetrics((await get(exporter.port, probeUrl(sock, 'unix_sock'))).body);
      expect(sample(up, 'probe_success', {})).toBe(1);
      expect(sample(up, 'sockprobe_probe_status', { status: 'open', reason: 'accepted' })).toBe(1);
      const gone = parseMetrics((await get(exporter.port, probeUrl(path.join(tmp.dir, 'none.sock'), 'unix_sock'))).body);
      expect(sample(gone, 'probe_success', {})).toBe(0);
      expect(sample(gone, 'sockprobe_probe_status', { status: 'unreachable', reason: 'no-socket-file' })).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

needs(openssl).describe('tcp.tls: the tls check against openssl s_server (valid and expired certificates)', () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => (pki as Pki | undefined)?.cleanup());

  test("a valid certificate: probe_success 1 and blackbox's TLS series; an expired one: 0, not-ready/cert-expired, and its expiry still reported", async () => {
    const file = tmp.file(
      'tls.yml',
      `modules:\n  tls_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: ${pki.ca}\n        server_name: localhost\n`,
    );
    const ex = await startExporter(file);
    try {
      for (const [cert, want] of [[pki.valid, 'valid'], [pki.expired, 'expired']] as const) {
        const server = await sServer(cert);
        try {
          const a = await get(ex.port, probeUrl(`127.0.0.1:${server.port}`, 'tls_connect'));
          expect(a.status).toBe(200);
          const s = parseMetrics(a.body);
          expect(s.some((x) => x.name === 'probe_tls_version_info' && /^TLS 1\.[23]$/.test(x.labels.version ?? ''))).toBe(true);
          const info = s.find((x) => x.name === 'probe_ssl_last_chain_info');
          expect(info?.labels.fingerprint_sha256).toMatch(/^[0-9a-f]{64}$/);
          if (want === 'valid') {
            expect(sample(s, 'probe_success', {})).toBe(1);
            expect(sample(s, 'sockprobe_probe_status', { status: 'open', reason: 'syn-ack' })).toBe(1);
            expect(sample(s, 'sockprobe_tls_verified', { code: '' })).toBe(1);
            expect(sample(s, 'probe_ssl_earliest_cert_expiry', {})).toBeGreaterThan(Date.now() / 1000);
            expect(sample(s, 'probe_ssl_last_chain_expiry_timestamp_seconds', {})).toBeGreaterThan(Date.now() / 1000);
          } else {
            expect(sample(s, 'probe_success', {})).toBe(0);
            expect(sample(s, 'sockprobe_probe_status', { status: 'not-ready', reason: 'cert-expired' })).toBe(1);
            expect(sample(s, 'sockprobe_tls_verified', { code: 'CERT_HAS_EXPIRED' })).toBe(0);
            // What blackbox_exporter cannot say once a certificate expired: when it did.
            expect(sample(s, 'probe_ssl_earliest_cert_expiry', {})).toBe(pki.expiredNotAfter.getTime() / 1000);
            expect(s.some((x) => x.name === 'probe_ssl_last_chain_expiry_timestamp_seconds')).toBe(false);
          }
          if (onPath('promtool') !== undefined) expect(promtoolCheck(a.body)).toBeNull();
        } finally {
          await server.stop();
        }
      }
    } finally {
      await ex.stop();
    }
  });
});

needs(openssl, tool('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter')).test(
  'tcp.tls side by side with blackbox_exporter, the same file: the same probe_success, TLS version and earliest expiry for valid, expired, wrong-name and self-signed certificates',
  async () => {
    const pki = makePki();
    const file = tmp.file(
      'tls-both.yml',
      `modules:\n  tls_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: ${pki.ca}\n        server_name: localhost\n`,
    );
    const ours = await startExporter(file);
    const bbPort = await freePort();
    const theirs = await startListening('prometheus-blackbox-exporter', ['--config.file', file, '--web.listen-address', `127.0.0.1:${bbPort}`], /Listening on.*address=127\.0\.0\.1:(\d+)/);
    try {
      const want: Record<string, string> = { valid: 'open/syn-ack', expired: 'not-ready/cert-expired', wrongName: 'not-ready/cert-name-mismatch', selfSigned: 'not-ready/cert-untrusted' };
      for (const [name, cert] of [['valid', pki.valid], ['expired', pki.expired], ['wrongName', pki.wrongName], ['selfSigned', pki.selfSigned]] as const) {
        const server = await sServer(cert);
        try {
          const url = probeUrl(`127.0.0.1:${server.port}`, 'tls_connect');
          const b = parseMetrics((await get(theirs.port, url)).body);
          const s = parseMetrics((await get(ours.port, url)).body);
          const status = s.find((x) => x.name === 'sockprobe_probe_status');
          expect({ name, success: sample(s, 'probe_success', {}), status: `${status?.labels.status ?? ''}/${status?.labels.reason ?? ''}` }).toEqual({
            name,
            success: sample(b, 'probe_success', {}),
            status: want[name],
          });
          if (name === 'valid') {
            for (const series of ['probe_ssl_earliest_cert_expiry', 'probe_ssl_last_chain_expiry_timestamp_seconds'])
              expect({ series, ours: sample(s, series, {}) }).toEqual({ series, ours: sample(b, series, {}) });
            const version = (m: typeof s): string | undefined => m.find((x) => x.name === 'probe_tls_version_info')?.labels.version;
            expect(version(s)).toBe(version(b));
          }
        } finally {
          await server.stop();
        }
      }
    } finally {
      await theirs.stop();
      await ours.stop();
      pki.cleanup();
    }
  },
);

needs(tool('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter')).test(
  'tcp.query_response (send-expect) side by side with blackbox_exporter against a scripted line server: the same probe_success and probe_failed_due_to_regex',
  async () => {
    // A line server scripted here: greets, answers PING with PONG; in 'bye' mode greets and closes.
    const server = net.createServer((c) => {
      c.on('error', () => undefined);
      c.write('220 hello sockprobe\r\n');
      if (server.listenerCount('bye') > 0) return void c.end();
      let buf = '';
      c.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf.includes('PING\n')) c.write('PONG\r\n');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const file = tmp.file(
      'qr.yml',
      `modules:\n  ping:\n    prober: tcp\n    timeout: 3s\n    tcp:\n      query_response:\n        - expect: "^220 hello"\n        - send: "PING"\n        - expect: "^PONG"\n` +
        `  wrong:\n    prober: tcp\n    timeout: 3s\n    tcp:\n      query_response:\n        - expect: "^500"\n`,
    );
    const ours = await startExporter(file);
    const bbPort = await freePort();
    const theirs = await startListening('prometheus-blackbox-exporter', ['--config.file', file, '--web.listen-address', `127.0.0.1:${bbPort}`], /Listening on.*address=127\.0\.0\.1:(\d+)/);
    try {
      type Samples = ReturnType<typeof parseMetrics>;
      const one = async (p: number, module: string): Promise<Samples> => parseMetrics((await get(p, probeUrl(`127.0.0.1:${port}`, module))).body);
      const both = (module: string): Promise<[Samples, Samples]> => Promise.all([one(theirs.port, module), one(ours.port, module)]);
      const [b1, s1] = await both('ping');
      expect(sample(s1, 'probe_success', {})).toBe(1);
      expect(sample(b1, 'probe_success', {})).toBe(1);
      // The server greets and closes: the expected line never comes.
      server.on('bye', () => undefined);
      const [b2, s2] = await both('wrong');
      for (const name of ['probe_success', 'probe_failed_due_to_regex']) expect({ name, ours: sample(s2, name, {}) }).toEqual({ name, ours: sample(b2, name, {}) });
      expect(sample(s2, 'probe_failed_due_to_regex', {})).toBe(1);
      expect(sample(s2, 'sockprobe_probe_status', { status: 'not-ready', reason: 'unexpected-reply' })).toBe(1);
    } finally {
      await theirs.stop();
      await ours.stop();
      await new Promise((r) => server.close(r));
    }
  },
);

describe('reload: POST /-/reload and SIGHUP', () => {
  test('a new module after POST /-/reload; a broken file keeps the old configuration and says where it is broken; GET is 405', async () => {
    const file = tmp.file('reload.yml', CONFIG);
    const ex = await startExporter(file);
    try {
      expect((await get(ex.port, probeUrl(`127.0.0.1:${open.port}`, 'later'))).status).toBe(400);
      fs.writeFileSync(file, `${CONFIG}  later:\n    prober: tcp\n`);
      expect((await get(ex.port, '/-/reload')).status).toBe(405);
      expect((await get(ex.port, '/-/reload', { method: 'POST' })).status).toBe(200);
      expect(sample(parseMetrics((await get(ex.port, probeUrl(`127.0.0.1:${open.port}`, 'later'))).body), 'probe_success', {})).toBe(1);
      fs.writeFileSync(file, `${CONFIG}  pinger:\n    prober: icmp\n`);
      const failed = await get(ex.port, '/-/reload', { method: 'POST' });
      expect(failed.status).toBe(500);
      expect(failed.body).toMatch(/^failed to reload config: .*reload\.yml:15: module "pinger": prober 'icmp' is not served by sockprobe/);
      expect(sample(parseMetrics((await get(ex.port, '/metrics')).body), 'blackbox_exporter_config_last_reload_successful', {})).toBe(0);
      // The old configuration still answers.
      expect((await get(ex.port, probeUrl(`127.0.0.1:${open.port}`, 'later'))).status).toBe(200);
    } finally {
      await ex.stop();
    }
  });

  test('SIGHUP rereads the file', async () => {
    const file = tmp.file('hup.yml', CONFIG);
    const ex = await startExporter(file);
    try {
      fs.writeFileSync(file, `${CONFIG}  after_hup:\n    prober: tcp\n`);
      ex.child.kill('SIGHUP');
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await sleep(50);
        status = (await get(ex.port, probeUrl(`127.0.0.1:${open.port}`, 'after_hup'))).status;
      }
      expect(status).toBe(200);
      expect(ex.stderr()).toContain('msg="Reloaded config file"');
    } finally {
      await ex.stop();
    }
  });
});

describe('safety: the allowlist and the per-client limits, checked before any connection', () => {
  test('a target outside the allowlist: 403 with the reason, and no connection reaches the listener', async () => {
    const listener = await countingListener();
    const file = tmp.file('allow.yml', `${CONFIG}sockprobe:\n  allow:\n    - hosts: [127.0.0.2/32, "*.example.test"]\n      ports: "1-1023"\n    - hosts: ["127.0.0.1"]\n      ports: "${listener.port}"\n`);
    const ex = await startExporter(file);
    try {
      const denied = await get(ex.port, probeUrl(`127.0.0.3:${listener.port}`));
      expect(denied.status).toBe(403);
      expect(denied.body).toBe(`target 127.0.0.3:${listener.port} is not in the allowlist (sockprobe.allow)\n`);
      // The right address on a port the rule does not give.
      const wrongPort = await get(ex.port, probeUrl(`127.0.0.2:${listener.port}`));
      expect(wrongPort.status).toBe(403);
      // A name no pattern allows: resolved, then its address checked; still no connection.
      const name = await get(ex.port, probeUrl(`localhost.localdomain.invalid:${listener.port}`));
      expect(name.status).toBe(403);
      expect(name.body).toContain('did not resolve');
      expect(listener.accepted()).toBe(0);
      // What the allowlist gives is probed.
      const allowed = await get(ex.port, probeUrl(`127.0.0.1:${listener.port}`));
      expect(allowed.status).toBe(200);
      expect(sample(parseMetrics(allowed.body), 'probe_success', {})).toBe(1);
      await sleep(50);
      expect(listener.accepted()).toBe(1);
      const m = parseMetrics((await get(ex.port, '/metrics')).body);
      expect(sample(m, 'sockprobe_exporter_requests_refused_total', { code: '403' })).toBe(3);
    } finally {
      await ex.stop();
      await listener.close();
    }
  });

  test('a name is allowed by a pattern, or by the address it resolves to', async () => {
    const listener = await countingListener();
    const byAddress = tmp.file('allow-addr.yml', `${CONFIG}sockprobe:\n  allow:\n    - hosts: [127.0.0.0/8]\n`);
    const byName = tmp.file('allow-name.yml', `${CONFIG}sockprobe:\n  allow:\n    - hosts: ["local*"]\n      ports: ${listener.port}\n`);
    const none = tmp.file('allow-none.yml', `${CONFIG}sockprobe:\n  allow:\n    - hosts: ["*.example.test"]\n`);
    for (const [file, want] of [[byAddress, 200], [byName, 200], [none, 403]] as const) {
      const ex = await startExporter(file, [], []);
      try {
        // tcp_v4: localhost's IPv4 address, whatever else /etc/hosts gives it.
        const a = await get(ex.port, probeUrl(`localhost:${listener.port}`, 'tcp_v4'));
        expect(a.status).toBe(want);
      } finally {
        await ex.stop();
      }
    }
    await sleep(50);
    expect(listener.accepted()).toBe(2);
    await listener.close();
  });

  test('concurrent probes per client: over the limit is 429, and only the admitted probe connects', async () => {
    const listener = await countingListener(0, { hold: true });
    const file = tmp.file(
      'limit.yml',
      `modules:\n  slow:\n    prober: tcp\n    sockprobe:\n      settle: 1500ms\nsockprobe:\n  limits:\n    concurrent_per_client: 1\n`,
    );
    const ex = await startExporter(file);
    try {
      const first = get(ex.port, probeUrl(`127.0.0.1:${listener.port}`, 'slow'));
      // The first is in its settle window (an open connection, held by the listener).
      for (let i = 0; i < 100 && listener.accepted() === 0; i++) await sleep(20);
      const second = await get(ex.port, probeUrl(`127.0.0.1:${listener.port}`, 'slow'));
      expect(second.status).toBe(429);
      expect(second.body).toMatch(/^too many probes in flight from 127\.0\.0\.1: the limit is 1/);
      const a = await first;
      expect(a.status).toBe(200);
      expect(sample(parseMetrics(a.body), 'sockprobe_probe_status', { status: 'open', reason: 'settled' })).toBe(1);
      expect(listener.accepted()).toBe(1);
      // The slot is free again.
      expect((await get(ex.port, probeUrl(`127.0.0.1:${closedPort}`, 'slow'))).status).toBe(200);
    } finally {
      await ex.stop();
      await listener.close();
    }
  });

  test('a client that goes away mid-probe: the probe is aborted, its connection closed and its slot freed', async () => {
    const listener = await holdingListener();
    const file = tmp.file('abort.yml', `modules:\n  slow:\n    prober: tcp\n    sockprobe:\n      settle: 5s\nsockprobe:\n  limits:\n    concurrent_per_client: 1\n`);
    const ex = await startExporter(file);
    try {
      const req = http.request({ host: '127.0.0.1', port: ex.port, path: probeUrl(`127.0.0.1:${listener.port}`, 'slow'), agent: false });
      req.on('error', () => undefined);
      req.end();
      for (let i = 0; i < 100 && listener.accepted() === 0; i++) await sleep(20);
      expect(listener.accepted()).toBe(1);
      req.destroy();
      // The slot comes back long before the 5 s settle window would have ended.
      const started = performance.now();
      let status = 429;
      for (let i = 0; i < 100 && status === 429; i++) {
        await sleep(20);
        status = (await get(ex.port, probeUrl(`127.0.0.1:${closedPort}`, 'slow'))).status;
      }
      expect(status).toBe(200);
      expect(performance.now() - started).toBeLessThan(4000);
      // The held connection was closed by the exporter (the listener sees it end).
      for (let i = 0; i < 100 && listener.open() > 0; i++) await sleep(20);
      expect(listener.open()).toBe(0);
    } finally {
      await ex.stop();
      await listener.close();
    }
  });

  test('the request rate per client: past the burst, 429 and no connection', async () => {
    const listener = await countingListener();
    const file = tmp.file('rate.yml', `${CONFIG}sockprobe:\n  limits:\n    requests_per_second: 1\n    burst: 2\n`);
    const ex = await startExporter(file);
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await get(ex.port, probeUrl(`127.0.0.1:${listener.port}`))).status);
      expect(codes.slice(0, 2)).toEqual([200, 200]);
      expect(codes.slice(2)).toEqual([429, 429]);
      await sleep(50);
      expect(listener.accepted()).toBe(2);
    } finally {
      await ex.stop();
      await listener.close();
    }
  });
});

describe('the command line', () => {
  test('--config.check: ok, or exit 1 naming the file, the line and the module', async () => {
    const ok = await sockprobe(['exporter', '--config.check', '--config.file', tmp.file('check.yml', CONFIG)]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Config file is ok: 3 module(s), no allowlist');
    const bad = tmp.file('bad.yml', 'modules:\n  ping:\n    prober: icmp\n');
    const r = await sockprobe(['exporter', '--config.check', '--config.file', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sockprobe exporter: .*bad\.yml:3: module "ping": prober 'icmp' is not served by sockprobe/);
  });

  test('a configuration that cannot be used stops the start with exit 1; a bad flag is a usage error (2)', async () => {
    const r = await sockprobe(['exporter', '--config.file', path.join(tmp.dir, 'missing.yml'), '--web.listen-address', '127.0.0.1:0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing.yml: cannot read the configuration: ENOENT');
    const u = await sockprobe(['exporter', '--web.listen-address', 'nowhere']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("--web.listen-address takes [HOST]:PORT");
    const h = await sockprobe(['exporter', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--config.file FILE');
  });
});
