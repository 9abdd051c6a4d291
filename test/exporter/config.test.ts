// The exporter's configuration: blackbox_exporter's YAML loads unchanged when
// its modules are tcp (or unix) modules; everything else is a clear error
// naming the file, the line and the module. No sockets here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig, parseGoDuration, type TcpModule } from '../../src/exporter/config';
import { addressAllowed, admit, ClientLimits } from '../../src/exporter/gate';
import { ipHash } from '../../src/exporter/prober';
import { probeTimeout } from '../../src/exporter/server';

const error = (text: string): string => {
  try {
    parseConfig(text, 'blackbox.yml');
  } catch (e) {
    expect((e as Error).name).toBe('ConfigError');
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe("blackbox_exporter's configuration", () => {
  test('tcp modules load unchanged, with blackbox defaults (ip6 preferred, fallback on)', () => {
    const c = parseConfig(
      `modules:
  tcp_connect:
    prober: tcp
    timeout: 5s
  v4only:
    prober: tcp
    timeout: 1m30s
    http:                       # another prober's section: blackbox accepts it, sockprobe ignores it
      method: GET
    tcp:
      preferred_ip_protocol: "ip4"
      ip_protocol_fallback: false
      source_ip_address: 127.0.0.1
      tls_config:                 # without tls: true blackbox does not use it
        insecure_skip_verify: true
  sock:
    prober: unix
`,
      'blackbox.yml',
    );
    expect([...c.modules.keys()]).toEqual(['tcp_connect', 'v4only', 'sock']);
    const a = c.modules.get('tcp_connect') as TcpModule;
    expect(a).toMatchObject({ prober: 'tcp', timeoutMs: 5000, preferredIpProtocol: 'ip6', ipProtocolFallback: true, tls: false, line: 2 });
    const b = c.modules.get('v4only') as TcpModule;
    expect(b).toMatchObject({ timeoutMs: 90000, preferredIpProtocol: 'ip4', ipProtocolFallback: false, sourceIpAddress: '127.0.0.1' });
    expect(c.modules.get('sock')).toMatchObject({ prober: 'unix', timeoutMs: 0 });
    expect(c.safety.allow).toBeNull();
  });

  test('other probers are errors naming the module and the line; http is the http check, its keys it does not serve named', () => {
    expect(error('modules:\n  ping:\n    prober: icmp\n')).toBe(
      "blackbox.yml:3: module \"ping\": prober 'icmp' is not served by sockprobe, which probes TCP and Unix sockets (prober: tcp, unix, and http on its http check); serve this module with blackbox_exporter",
    );
    for (const p of ['dns', 'grpc', 'websocket']) expect(error(`modules:\n  m:\n    prober: ${p}\n`)).toContain(`module "m": prober '${p}' is not served by sockprobe`);
    const web = parseConfig('modules:\n  web:\n    timeout: 5s\n    prober: http\n    http:\n      method: POST\n      valid_status_codes: [200, 204]\n      fail_if_body_not_matches_regexp: [a, "(?P<x>b)"]\n      fail_if_body_matches_regexp: [err]\n', 'b.yml').modules.get('web');
    expect(web).toMatchObject({ prober: 'http', timeoutMs: 5000, http: { method: 'POST', status: '200,204', body: /(?=[\s\S]*?(?:a))(?=[\s\S]*?(?:(?<x>b)))/, bodyNot: /(?:err)/ } });
    // blackbox's default: any 2xx.
    expect(parseConfig('modules:\n  w:\n    prober: http\n', 'b.yml').modules.get('w')).toMatchObject({ http: { status: '200-299' } });
    expect(error('modules:\n  web:\n    prober: http\n    http:\n      method: GET\n      no_follow_redirects: true\n      fail_if_ssl: true\n')).toBe(
      "blackbox.yml:6: module \"web\": http: no_follow_redirects, fail_if_ssl are not served by sockprobe's http check (it serves method, headers, valid_status_codes, fail_if_body_matches_regexp, fail_if_body_not_matches_regexp, tls_config, preferred_ip_protocol, ip_protocol_fallback); serve this module with blackbox_exporter",
    );
    expect(error('modules:\n  x:\n    prober: tpc\n')).toContain("blackbox.yml:3: module \"x\": prober 'tpc' is not valid");
    expect(error('modules:\n  x:\n    timeout: 5s\n')).toBe('blackbox.yml:2: module "x" has no prober (sockprobe serves prober: tcp, unix and http)');
  });

  test("tcp.tls is sockprobe's tls check with tls_config as its options; query_response its send-expect check (expect_bytes, labels, $1 expansion, starttls)", () => {
    // blackbox_exporter's own example modules.
    const tlsConnect = parseConfig('modules:\n  tls_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n      tls: true\n', 'blackbox.yml');
    expect(tlsConnect.modules.get('tls_connect')?.check).toEqual({ tls: {} });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-config-'));
    try {
      fs.writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
      const file = path.join(dir, 'bb.yml');
      const withCa = parseConfig('modules:\n  t:\n    prober: tcp\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: ca.pem\n        server_name: db.internal\n        insecure_skip_verify: true\n', file);
      // ca_file is read relative to the configuration's directory, as blackbox_exporter reads it.
      expect(withCa.modules.get('t')?.check).toEqual({ tls: { ca: 'PEM', servername: 'db.internal', insecure: true } });
      expect(() => parseConfig('modules:\n  t:\n    prober: tcp\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: none.pem\n', file)).toThrow(
        `${file}:7: module "t": tcp.tls_config.ca_file: cannot read ${path.join(dir, 'none.pem')}: ENOENT`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(error('modules:\n  t:\n    prober: tcp\n    tcp:\n      tls: true\n      tls_config:\n        min_version: TLS13\n')).toMatch(
      /^blackbox\.yml:7: module "t": tcp\.tls_config: min_version and max_version are not supported by sockprobe's tls check/,
    );
    const pg = `modules:
  postgresql:
    prober: tcp
    tcp:
      query_response:
      - send: !!binary AAAACATSFi8= # PostgreSQL SSLRequest
      - expect_bytes: S
`;
    // expect_bytes: the bytes (here !!binary's) exactly; a send without expect is sent as is.
    expect(parseConfig(pg, 'b.yml').modules.get('postgresql')?.check).toEqual({ 'send-expect': { steps: [{ send: Buffer.from('\x00\x00\x00\x08\x04\xd2\x16/\n', 'latin1') }, { expectBytes: Buffer.from('S') }] } });
    // query_response is send-expect: blackbox's step (expect, then send and a newline) is an expect with a reply (expanded from the match); after TLS with tls: true.
    const rabbit = parseConfig('modules:\n  rabbitmq:\n    prober: tcp\n    tcp:\n      query_response:\n        - send: "HELO\\r"\n        - expect: "AMQP"\n          send: "bye"\n      tls: true\n', 'b.yml');
    expect(rabbit.modules.get('rabbitmq')?.check).toEqual({ 'send-expect': { steps: [{ send: 'HELO\r\n' }, { expect: /AMQP/, reply: 'bye\n' }], tls: {} } });
    const irc = 'modules:\n  irc:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: "PING :(?P<token>[^ ]+)"\n          send: "PONG ${1}"\n          labels:\n            - name: token\n              value: "${token}"\n';
    expect(parseConfig(irc, 'b.yml').modules.get('irc')?.check).toEqual({ 'send-expect': { steps: [{ expect: /PING :(?<token>[^ ]+)/, reply: 'PONG ${1}\n', labels: { token: '${token}' } }] } });
    expect(error('modules:\n  l:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: "x"\n          labels:\n            - name: "a-b"\n              value: v\n')).toContain("labels[0].name must be a Prometheus label name");
    // starttls: the steps up to it, TLS with tls_config, the rest over TLS; tcp.tls as well is refused.
    const st = parseConfig('modules:\n  s:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: "^220"\n        - starttls: true\n        - send: "EHLO x"\n', 'b.yml');
    expect(st.modules.get('s')?.check).toEqual({ 'send-expect': { steps: [{ expect: /^220/, starttls: true }, { send: 'EHLO x\n' }], tls: {} } });
    expect(error('modules:\n  s:\n    prober: tcp\n    tcp:\n      tls: true\n      query_response:\n        - expect: "^220"\n        - starttls: true\n')).toContain('TLS from the start and TLS again later; keep one');
    // A module's own check is validated at load.
    const https = parseConfig('modules:\n  web:\n    prober: tcp\n    sockprobe:\n      check: { name: https, path: /healthz }\n', 'b.yml');
    expect(https.modules.get('web')?.check).toEqual({ https: { path: '/healthz' } });
    expect(error('modules:\n  pg:\n    prober: tcp\n    sockprobe:\n      check: nosuch\n')).toMatch(/^blackbox\.yml:5: module "pg": sockprobe\.check: check\.nosuch: no check named 'nosuch'/);
    expect(error('modules:\n  t:\n    prober: tcp\n    tcp:\n      tls: true\n    sockprobe:\n      check: https\n')).toContain('tcp.tls/query_response and sockprobe.check both ask for a check; keep one');
    // Still validated as blackbox would: a bad regex is said as such.
    expect(error('modules:\n  q:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: "(("\n')).toMatch(/^blackbox\.yml:6: module "q": tcp\.query_response\[0\]\.expect is not a regular expression/);
  });

  test('unknown fields, wrong types and bad values: the file, the line, the module', () => {
    expect(error('modules:\n  a:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ipv4\n')).toBe(
      "blackbox.yml:5: module \"a\": tcp.preferred_ip_protocol must be ip4 or ip6, got 'ipv4'",
    );
    expect(error('modules:\n  a:\n    prober: tcp\n    tcp:\n      tlss: true\n')).toMatch(/^blackbox\.yml:5: module "a": tcp: unknown field 'tlss'/);
    expect(error('modules:\n  a:\n    prober: tcp\n    timeout: 5 seconds\n')).toBe(
      'blackbox.yml:4: module "a": timeout must be a duration such as 5s, 1m30s or 500ms, got "5 seconds"',
    );
    expect(error('modules:\n  a:\n    prober: tcp\n    tcp:\n      source_ip_address: eth0\n')).toContain('source_ip_address must be a numeric IPv4 or IPv6 address');
    expect(error('modules:\n  a:\n    prober: tcp\n    tcp:\n      ip_protocol_fallback: "yes"\n')).toContain('ip_protocol_fallback must be true or false');
    expect(error('module:\n  a:\n    prober: tcp\n')).toMatch(/^blackbox\.yml:1: the configuration: unknown field 'module'/);
    expect(error('modules:\n  a:\n    prober: tcp\n  a:\n    prober: tcp\n')).toMatch(/^blackbox\.yml:4: not valid YAML/);
    expect(error('modules: [\n')).toMatch(/^blackbox\.yml(:\d+)?: not valid YAML/);
  });

  test("Go durations, as blackbox_exporter's timeout takes them", () => {
    expect(parseGoDuration('5s')).toBe(5000);
    expect(parseGoDuration('1m30s')).toBe(90000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('300ms')).toBe(300);
    expect(parseGoDuration('1h')).toBe(3600000);
    expect(parseGoDuration('0')).toBe(0);
    for (const bad of ['', '5', 's', '5 s', '-5s', '5d']) expect(parseGoDuration(bad)).toBeUndefined();
  });
});

describe("sockprobe's section: the allowlist and the limits", () => {
  const config = (section: string): ReturnType<typeof parseConfig> => parseConfig(`modules:\n  t:\n    prober: tcp\nsockprobe:\n${section}`, 'c.yml');

  test('CIDRs, addresses, name patterns, port lists, Unix paths', () => {
    const rules = config(
      '  allow:\n    - hosts: [10.0.0.0/8, "::1", "2001:db8::/32", "*.db.internal"]\n      ports: "5432,6379,8000-8100"\n    - paths: ["/run/*.sock"]\n',
    ).safety.allow;
    expect(rules).toHaveLength(2);
    const ok = (host: string, port: number): string => admit(rules, { host, port }).kind;
    expect(ok('10.1.2.3', 5432)).toBe('allowed');
    expect(ok('10.1.2.3', 8050)).toBe('allowed');
    expect(ok('10.1.2.3', 22)).toBe('denied');
    expect(ok('11.1.2.3', 5432)).toBe('denied');
    expect(ok('::1', 6379)).toBe('allowed');
    expect(ok('2001:db8:5::1', 6379)).toBe('allowed');
    expect(ok('pg.eu.DB.internal', 5432)).toBe('allowed');
    // A name no pattern allows is checked by the address it resolves to.
    expect(ok('pg.example.com', 5432)).toBe('check-address');
    expect(addressAllowed(rules ?? [], 'pg.example.com', '10.9.9.9', 5432)).toBeNull();
    expect(addressAllowed(rules ?? [], 'pg.example.com', '192.0.2.1', 5432)?.code).toBe(403);
    expect(admit(rules, { path: '/run/app.sock' }).kind).toBe('allowed');
    expect(admit(rules, { path: '/tmp/app.sock' }).kind).toBe('denied');
    // No allowlist: everything (blackbox_exporter's behaviour); an empty one: nothing.
    expect(admit(null, { host: '192.0.2.1', port: 1 }).kind).toBe('allowed');
    expect(admit(config('  allow: []\n').safety.allow, { host: '127.0.0.1', port: 1 }).kind).toBe('denied');
  });

  test('bad entries are errors with the line', () => {
    const bad = (section: string): string => {
      try {
        config(section);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(bad('  allow:\n    - hosts: [10.0.0.0/33]\n')).toBe("c.yml:6: sockprobe.allow[0].hosts[0]: '10.0.0.0/33' has a bad prefix length");
    expect(bad('  allow:\n    - hosts: ["db:5432"]\n')).toContain('is neither an address, a CIDR');
    expect(bad('  allow:\n    - hosts: [10.0.0.1]\n      ports: 0-10\n')).toContain('sockprobe.allow[0].ports: ports: 0 is not a port');
    expect(bad('  allow:\n    - ports: 80\n')).toBe('c.yml:6: sockprobe.allow[0] allows nothing: give hosts (with ports) or paths');
    expect(bad('  limits:\n    concurrent_per_client: -1\n')).toContain('sockprobe.limits.concurrent_per_client must be a whole number');
    expect(bad('  allowlist: []\n')).toMatch(/^c\.yml:5: sockprobe: unknown field 'allowlist'/);
  });

  test('the section may come from a file of its own (so blackbox_exporter can load the shared file), not from both', () => {
    const c = parseConfig('modules:\n  t:\n    prober: tcp\n', 'bb.yml', { text: 'allow:\n  - hosts: [127.0.0.1]\nlimits:\n  burst: 5\n', file: 's.yml' });
    expect(c.safety.allow).toHaveLength(1);
    expect(c.safety.limits.burst).toBe(5);
    const wrapped = parseConfig('modules: {}\n', 'bb.yml', { text: 'sockprobe:\n  allow: []\n', file: 's.yml' });
    expect(wrapped.safety.allow).toEqual([]);
    expect(() => parseConfig('modules: {}\nsockprobe: {}\n', 'bb.yml', { text: 'allow: []\n', file: 's.yml' })).toThrow('keep one');
  });

  test('per-client limits: slots in flight and a token bucket', () => {
    const l = new ClientLimits({ concurrentPerClient: 2, requestsPerSecond: 10, burst: 3 });
    expect(l.acquire('a', 0)).toBeNull();
    expect(l.acquire('a', 0)).toBeNull();
    expect(l.acquire('a', 0)?.reason).toMatch(/^too many probes in flight from a: the limit is 2/);
    expect(l.acquire('b', 0)).toBeNull();
    l.release('a');
    expect(l.acquire('a', 0)).toBeNull();
    l.release('a');
    l.release('a');
    // a has spent its burst of 3; 100 ms later one token is back.
    expect(l.acquire('a', 1)?.code).toBe(429);
    expect(l.acquire('a', 101)).toBeNull();
  });
});

describe("blackbox_exporter's arithmetic", () => {
  test('probe timeout: the scrape timeout minus the offset, the module timeout when smaller, 120 s without a header', () => {
    expect(probeTimeout('10', 5000, 0.5)).toBe(5);
    expect(probeTimeout('3', 5000, 0.5)).toBe(2.5);
    expect(probeTimeout(undefined, 0, 0.5)).toBe(119.5);
    expect(probeTimeout('0.25', 5000, 0.5)).toBe(5);
    expect(() => probeTimeout('soon', 0, 0.5)).toThrow(RangeError);
  });

  test('probe_ip_addr_hash: FNV-1a of the address bytes', () => {
    // 127.0.0.1 as blackbox_exporter 0.23 reports it: 3.668918509e+09.
    expect(ipHash('127.0.0.1')).toBe(3668918509);
    expect(ipHash('::1')).toBe(ipHash('0:0:0:0:0:0:0:1'));
    expect(ipHash('::ffff:127.0.0.1')).toBe(ipHash('0:0:0:0:0:ffff:7f00:1'));
    expect(ipHash('2001:db8::1')).not.toBe(ipHash('2001:db8::2'));
  });
});
