// prober: http modules on sockprobe's http/https check, side by side with the
// real blackbox_exporter (Debian's 0.23) on the same file: a Node HTTP server
// and an HTTPS one (a certificate of test/ready/pki.ts) on loopback. The same
// probe_success and the same values of blackbox's http series, for a 2xx, a
// 404, a POST with headers and valid_status_codes, body regexes both ways,
// and https with tls_config.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { parseMetrics, sample } from '../health/helpers';
import { needs, onPath, openssl, tool } from '../preconditions';
import { makePki, type Pki } from '../ready/pki';
import { freePort, get, killAll, promtoolCheck, startExporter, startListening, tempDir, type Running } from './helpers';

jest.setTimeout(60000);

type Samples = ReturnType<typeof parseMetrics>;

const handler: http.RequestListener = (req, res) => {
  if (req.url === '/404') {
    res.writeHead(404).end('not here');
  } else if (req.url === '/post') {
    res.writeHead(req.method === 'POST' && req.headers['x-test'] === 'yes' ? 204 : 400).end();
  } else if (req.url === '/error') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello, but an error happened');
  } else {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello world');
  }
};

/** The http series both exporters write, compared by value (content length and body length: blackbox's alone). */
const SAME = ['probe_success', 'probe_http_status_code', 'probe_http_version', 'probe_http_ssl', 'probe_http_redirects', 'probe_failed_due_to_regex', 'probe_ip_protocol', 'probe_ip_addr_hash'];

needs(openssl, tool('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter')).describe('prober: http side by side with blackbox_exporter', () => {
  const tmp = tempDir();
  let pki: Pki;
  let plain: http.Server;
  let secure: https.Server;
  let ours: Running;
  let theirs: Running;

  beforeAll(async () => {
    pki = makePki();
    plain = http.createServer(handler).listen(0, '127.0.0.1');
    secure = https.createServer({ cert: fs.readFileSync(pki.valid.cert), key: fs.readFileSync(pki.valid.key) }, handler).listen(0, '127.0.0.1');
    await Promise.all([once(plain, 'listening'), once(secure, 'listening')]);
    const file = tmp.file(
      'http.yml',
      `modules:
  http_2xx:
    prober: http
    timeout: 5s
  http_post_204:
    prober: http
    timeout: 5s
    http:
      method: POST
      headers:
        X-Test: "yes"
      valid_status_codes: [204]
  http_body:
    prober: http
    timeout: 5s
    http:
      fail_if_body_not_matches_regexp: ["hello"]
      fail_if_body_matches_regexp: ["error", "panic"]
  https_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: ${pki.ca}
        server_name: localhost
`,
    );
    ours = await startExporter(file);
    const port = await freePort();
    theirs = await startListening('prometheus-blackbox-exporter', ['--config.file', file, '--web.listen-address', `127.0.0.1:${port}`], /Listening on.*address=127\.0\.0\.1:(\d+)/);
  });

  afterAll(async () => {
    await (ours as Running | undefined)?.stop();
    await (theirs as Running | undefined)?.stop();
    plain.closeAllConnections();
    secure.closeAllConnections();
    await Promise.all([new Promise((r) => plain.close(r)), new Promise((r) => secure.close(r))]);
    pki.cleanup();
    killAll();
    tmp.remove();
  });

  const scrape = async (exporter: Running, target: string, module: string): Promise<{ body: string; s: Samples }> => {
    const a = await get(exporter.port, `/probe?target=${encodeURIComponent(target)}&module=${module}`);
    expect(a.status).toBe(200);
    return { body: a.body, s: parseMetrics(a.body) };
  };

  test('the same probe_success and http series for 2xx, 404, POST with headers, body regexes and https', async () => {
    const p = (plain.address() as net.AddressInfo).port;
    const sp = (secure.address() as net.AddressInfo).port;
    const cases: Array<[string, string, number]> = [
      ['http_2xx', `http://127.0.0.1:${p}/`, 1],
      ['http_2xx', `127.0.0.1:${p}/`, 1],
      ['http_2xx', `http://127.0.0.1:${p}/404`, 0],
      ['http_post_204', `http://127.0.0.1:${p}/post`, 1],
      ['http_body', `http://127.0.0.1:${p}/`, 1],
      ['http_body', `http://127.0.0.1:${p}/error`, 0],
      ['https_2xx', `https://127.0.0.1:${sp}/`, 1],
      ['http_2xx', `https://127.0.0.1:${sp}/`, 0],
    ];
    const rows: string[] = [];
    for (const [module, target, success] of cases) {
      const b = await scrape(theirs, target, module);
      const s = await scrape(ours, target, module);
      for (const name of SAME) expect({ module, target, name, ours: sample(s.s, name, {}) }).toEqual({ module, target, name, ours: sample(b.s, name, {}) });
      expect({ module, target, success: sample(s.s, 'probe_success', {}) }).toEqual({ module, target, success });
      // Every phase blackbox reports, sockprobe reports.
      const phases = (m: Samples): string[] => m.filter((x) => x.name === 'probe_http_duration_seconds').map((x) => x.labels.phase ?? '').sort();
      expect(phases(s.s)).toEqual(phases(b.s));
      if (target.startsWith('https') && success === 1) {
        for (const name of ['probe_ssl_earliest_cert_expiry', 'probe_ssl_last_chain_expiry_timestamp_seconds']) expect({ name, ours: sample(s.s, name, {}) }).toEqual({ name, ours: sample(b.s, name, {}) });
        const version = (m: Samples): string | undefined => m.find((x) => x.name === 'probe_tls_version_info')?.labels.version;
        expect(version(s.s)).toBe(version(b.s));
      }
      if (onPath('promtool') !== undefined) expect(promtoolCheck(s.body)).toBeNull();
      const st = s.s.find((x) => x.name === 'sockprobe_probe_status');
      rows.push(`${module} ${target}: blackbox ${String(sample(b.s, 'probe_success', {}))} status ${String(sample(b.s, 'probe_http_status_code', {}))}, sockprobe ${String(sample(s.s, 'probe_success', {}))} ${st?.labels.status ?? ''}/${st?.labels.reason ?? ''}`);
    }
    console.log(`prober http side by side:\n${rows.join('\n')}`);
  });
});
