// explain(), describe() and the listener table, against real listeners on
// loopback and real `sockprobe explain` processes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { describe as describeResult, explain, probe, type AddressResult, type Diagnosis, type ProbeResult, type Status } from '../src';
import { formatIPv6, listenerAccepts, readTcpListeners } from '../src/procnet';
import { closedPort, openListener, silentPort, tmpDir } from './helpers';
import { sockprobe } from './cli-run';

const UNRESOLVABLE = `${'a'.repeat(64)}.invalid`;

function step<N extends Diagnosis['steps'][number]['step']>(d: Diagnosis, name: N): Extract<Diagnosis['steps'][number], { step: N }> {
  const s = d.steps.find((x) => x.step === name);
  if (s === undefined) throw new Error(`no ${name} step in ${JSON.stringify(d)}`);
  return s as Extract<Diagnosis['steps'][number], { step: N }>;
}

describe('readTcpListeners (/proc/net/tcp, /proc/net/tcp6)', () => {
  test('finds our own IPv4 and IPv6 listeners with their addresses and process', async () => {
    const four = await openListener('127.0.0.3');
    const six = await openListener('::1');
    try {
      const mine4 = (await readTcpListeners(four.port)).filter((l) => l.address === '127.0.0.3');
      expect(mine4).toHaveLength(1);
      expect(mine4[0]).toMatchObject({ family: 4, port: four.port, pid: process.pid });
      const mine6 = (await readTcpListeners(six.port)).filter((l) => l.address === '::1');
      expect(mine6).toHaveLength(1);
      expect(mine6[0]).toMatchObject({ family: 6, port: six.port, pid: process.pid });
      // Without a port: everything, ours included.
      const all = await readTcpListeners();
      expect(all.some((l) => l.port === four.port && l.address === '127.0.0.3')).toBe(true);
    } finally {
      await four.close();
      await six.close();
    }
  });

  test('formats IPv6 addresses as RFC 5952 text', () => {
    const bytes = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
    expect(formatIPv6(bytes('00000000000000000000000000000001'))).toBe('::1');
    expect(formatIPv6(bytes('00000000000000000000000000000000'))).toBe('::');
    expect(formatIPv6(bytes('20010db8000000000001000000000001'))).toBe('2001:db8::1:0:0:1');
    expect(formatIPv6(bytes('fe800000000000000000000000000001'))).toBe('fe80::1');
    expect(formatIPv6(bytes('00000000000000000000ffff7f000001'))).toBe('::ffff:127.0.0.1');
    expect(formatIPv6(bytes('20010db8000100010001000100010001'))).toBe('2001:db8:1:1:1:1:1:1');
  });

  test('which bound addresses accept which destinations', () => {
    const l = (address: string, family: 4 | 6): { address: string; family: 4 | 6 } => ({ address, family });
    expect(listenerAccepts(l('0.0.0.0', 4), '127.0.0.1', 4)).toBe(true);
    expect(listenerAccepts(l('0.0.0.0', 4), '::1', 6)).toBe(false);
    expect(listenerAccepts(l('::', 6), '127.0.0.1', 4)).toBe(true); // dual-stack
    expect(listenerAccepts(l('::', 6), '::1', 6)).toBe(true);
    expect(listenerAccepts(l('::ffff:127.0.0.1', 6), '127.0.0.1', 4)).toBe(true);
    expect(listenerAccepts(l('::1', 6), '0:0::1', 6)).toBe(true);
    expect(listenerAccepts(l('127.0.0.2', 4), '127.0.0.1', 4)).toBe(false);
    expect(listenerAccepts(l('::1', 6), '127.0.0.1', 4)).toBe(false);
  });
});

describe('explain() on loopback', () => {
  test('nothing listening on the port at all', async () => {
    const port = await closedPort();
    const d = await explain(`127.0.0.1:${port}`);
    expect(d.ok).toBe(false);
    expect(d.status).toBe('refused');
    expect(d.steps.map((s) => [s.step, s.verdict])).toEqual([
      ['resolve', 'pass'],
      ['route', 'pass'],
      ['probe', 'fail'],
      ['listeners', 'fail'],
    ]);
    expect(step(d, 'route').routes).toEqual([{ address: '127.0.0.1', family: 4, source: '127.0.0.1', interface: 'lo', code: null }]);
    expect(step(d, 'listeners').listeners).toEqual([]);
    expect(d.cause.code).toBe('nothing-listening');
    expect(d.cause.text).toContain(`nothing listens on port ${port}`);
    expect(d.next).toMatch(/start the service/);
  });

  test.each([
    ['127.0.0.2', '127.0.0.1'],
    ['::1', '127.0.0.1'],
  ])('something listens on %s only, the target is %s', async (listenOn, target) => {
    const l = await openListener(listenOn);
    try {
      const d = await explain(`${target}:${l.port}`);
      expect(d.ok).toBe(false);
      expect(d.cause.code).toBe('other-address');
      expect(d.cause.text).toBe(`something listens on port ${l.port}, but on ${listenOn} only, not on ${target}`);
      const listeners = step(d, 'listeners');
      expect(listeners.verdict).toBe('fail');
      expect(listeners.listeners).toEqual([expect.objectContaining({ address: listenOn, port: l.port, pid: process.pid })]);
      expect(listeners.accepting).toEqual([{ address: target, family: 4, listeners: [] }]);
    } finally {
      await l.close();
    }
  });

  test('an open port: every step passes', async () => {
    const l = await openListener('127.0.0.1');
    try {
      const d = await explain({ host: '127.0.0.1', port: l.port });
      expect(d.ok).toBe(true);
      expect(d.cause.code).toBe('open');
      expect(d.steps.every((s) => s.verdict === 'pass')).toBe(true);
      expect(step(d, 'listeners').accepting[0]?.listeners[0]?.pid).toBe(process.pid);
    } finally {
      await l.close();
    }
  });

  test('a listener whose accept queue is full: overloaded, not a firewall', async () => {
    const silent = await silentPort();
    try {
      const d = await explain(`127.0.0.1:${silent.port}`, { timeout: 1000 });
      expect(d.status).toBe('timeout');
      expect(d.cause.code).toBe('overloaded');
      expect(step(d, 'listeners').verdict).toBe('pass');
    } finally {
      await silent.close();
    }
  });

  test('a name that does not resolve: only the resolve step, failed', async () => {
    const d = await explain(`${UNRESOLVABLE}:80`);
    expect(d.cause.code).toBe('dns-error');
    expect(d.steps.map((s) => [s.step, s.verdict])).toEqual([['resolve', 'fail']]);
    expect(step(d, 'resolve').code).toBe('ENOTFOUND');
  });

  test('Unix sockets: missing file, not a socket, stale file, open', async () => {
    const dir = tmpDir();
    try {
      const missing = await explain(`unix:${path.join(dir, 'missing.sock')}`);
      expect(missing.cause.code).toBe('no-socket-file');

      const plain = path.join(dir, 'plain');
      fs.writeFileSync(plain, '');
      expect((await explain(`unix:${plain}`)).cause.code).toBe('not-a-socket');

      // A socket file left behind by a process that exited without unlinking it.
      const stale = path.join(dir, 'stale.sock');
      const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
      expect(py.status).toBe(0);
      const d = await explain({ path: stale });
      expect(d.cause.code).toBe('stale-socket-file');
      expect(step(d, 'socket-file')).toMatchObject({ verdict: 'pass', exists: true, isSocket: true });

      const live = path.join(dir, 'live.sock');
      const server = net.createServer((s) => s.destroy()).listen(live);
      await once(server, 'listening');
      try {
        expect((await explain(`unix:${live}`)).ok).toBe(true);
      } finally {
        await new Promise((r) => server.close(r));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad arguments are TypeError / RangeError, as for probe()', async () => {
    await expect(explain('nope')).rejects.toThrow(RangeError);
    await expect(explain(42 as unknown as string)).rejects.toThrow(TypeError);
    await expect(explain('127.0.0.1:80', { timeout: -1 })).rejects.toThrow(RangeError);
  });
});

describe('sockprobe explain (the command)', () => {
  test('a port with nothing listening: one marked line per step, then cause and next; exit 1', async () => {
    const port = await closedPort();
    const r = await sockprobe(['explain', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`sockprobe explain 127.0.0.1:${port}`);
    expect(lines[1]).toMatch(/^✓ resolve +127\.0\.0\.1:[0-9]+ is a numeric IPv4 address/);
    expect(lines[2]).toMatch(/^✓ route +127\.0\.0\.1: from 127\.0\.0\.1 via lo$/);
    expect(lines[3]).toMatch(/^✗ probe +127\.0\.0\.1:[0-9]+ refused the connection/);
    expect(lines[4]).toMatch(new RegExp(`^✗ listeners +nothing listens on port ${port} on this host`));
    expect(lines[5]).toMatch(new RegExp(`^cause: nothing listens on port ${port} on this host`));
    expect(lines[6]).toMatch(/^next: +start the service/);
  });

  test('a port where something listens on another address; --json gives the structure', async () => {
    const l = await openListener('127.0.0.2');
    try {
      const text = await sockprobe(['explain', `127.0.0.1:${l.port}`]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`✗ listeners  port ${l.port} listeners: 127.0.0.2:${l.port} (`);
      expect(text.stdout).toContain(`cause: something listens on port ${l.port}, but on 127.0.0.2 only, not on 127.0.0.1`);
      expect(text.stdout).toContain(`next:  connect to 127.0.0.2:${l.port}`);
      const json = await sockprobe(['explain', '--json', `127.0.0.1:${l.port}`]);
      expect(json.code).toBe(1);
      const d = JSON.parse(json.stdout) as Diagnosis;
      expect(d.cause.code).toBe('other-address');
      expect(d.steps.map((s) => s.step)).toEqual(['resolve', 'route', 'probe', 'listeners']);
      expect(step(d, 'listeners').listeners[0]?.address).toBe('127.0.0.2');
    } finally {
      await l.close();
    }
  });

  test('an open port exits 0', async () => {
    const l = await openListener('127.0.0.1');
    try {
      const r = await sockprobe(['explain', `127.0.0.1:${l.port}`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('cause: 127.0.0.1:');
      expect(r.stdout).not.toContain('✗');
    } finally {
      await l.close();
    }
  });
});

describe('describe(): one line for every member of the union', () => {
  const base = { address: '192.0.2.1', family: 4 as const, port: 80, elapsedMs: 12 };
  // Outcomes that need a firewall or a lab to happen for real are built as plain
  // results: describe() is a pure function of the result.
  const made: Record<Exclude<Status, 'open' | 'refused' | 'dns-error'>, AddressResult> = {
    blocked: { ...base, status: 'blocked', reason: 'admin-prohibited', code: 'EHOSTUNREACH', errno: 113, from: '192.0.2.254', icmp: { type: 3, code: 13 } },
    unreachable: { ...base, status: 'unreachable', reason: 'no-route', code: 'ENETUNREACH', errno: 101 },
    timeout: { ...base, status: 'timeout', reason: 'no-response', code: 'ETIMEDOUT', errno: 110, synRetransmits: 2 },
    'local-error': { ...base, status: 'local-error', reason: 'no-ports', code: 'EADDRNOTAVAIL', errno: 99, stage: 'connect' },
    'not-ready': {
      ...base,
      status: 'not-ready',
      reason: 'starting-up',
      code: '57P03',
      errno: null,
      connectMs: 0.2,
      local: { address: '192.0.2.9', port: 40000 },
      check: { name: 'postgres', detail: 'the database system is starting up', sent: 'StartupMessage', received: 'E...57P03', facts: { sqlstate: '57P03' }, elapsedMs: 1 },
    },
  };

  test.each(Object.entries(made))('%s', (_status, result) => {
    const line = describeResult(result);
    expect(line).not.toContain('\n');
    expect(line.startsWith('192.0.2.1:80 ')).toBe(true);
  });

  test('a next hop that never answered ARP / NDP: the neighbour evidence in words', () => {
    const n = { address: '198.18.1.99', protocol: 'arp' as const, state: 'incomplete' as const, gateway: false, interface: 'c0', ageMs: 1500, retransMs: 1000 };
    const down: AddressResult = { ...base, address: '198.18.1.99', status: 'unreachable', reason: 'host-unreach', code: 'EHOSTUNREACH', errno: 113, neighbour: n };
    expect(describeResult(down)).toBe('198.18.1.99:80 is unreachable: no ARP reply from 198.18.1.99 on c0: the host is down or not on this link');
    const router: AddressResult = { ...down, neighbour: { ...n, address: '192.0.2.254', gateway: true, state: 'failed', protocol: 'ndp' } };
    expect(describeResult(router)).toBe(
      '198.18.1.99:80 is unreachable: no NDP reply from the gateway 192.0.2.254 on c0: the router is down or not on this link (the kernel gave up resolving it)',
    );
    const young: AddressResult = { ...base, status: 'timeout', reason: 'no-response', code: 'ETIMEDOUT', errno: 110, synRetransmits: 0, neighbour: { ...n, ageMs: 200 } };
    expect(describeResult(young)).toBe(
      '192.0.2.1:80 timed out after 12 ms; no ARP reply from 198.18.1.99 on c0 yet for 200 ms: the SYN has not left this machine, too soon to tell a down host from a drop',
    );
    // A resolved next hop: the SYN left; the words of a plain timeout.
    const drop: AddressResult = { ...young, neighbour: { ...n, state: 'reachable' } };
    expect(describeResult(drop)).toBe(describeResult(made.timeout).replace('2 more times', '0 more times'));
  });

  test('real open, refused, dns-error and partly open results', async () => {
    const l = await openListener('127.0.0.1');
    const port = await closedPort();
    try {
      const lines = await Promise.all([
        probe('127.0.0.1', l.port).then(describeResult),
        probe('127.0.0.1', port).then(describeResult),
        probe(UNRESOLVABLE, 80).then(describeResult),
      ]);
      expect(lines[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${l.port} is open: the handshake completed in [0-9.]+ ms$`));
      expect(lines[1]).toMatch(/refused the connection: the host answered with a TCP reset/);
      expect(lines[2]).toBe(`${UNRESOLVABLE}:80 did not resolve: the name does not exist (ENOTFOUND)`);
      const blocked = describeResult(made.blocked);
      expect(blocked).toBe('192.0.2.1:80 is blocked: a firewall rejected it (ICMP administratively prohibited), from 192.0.2.254');
      const partly: ProbeResult = {
        ...(await probe('127.0.0.1', l.port)),
        host: 'localhost',
      } as ProbeResult;
      const refused = await probe('::1', port);
      partly.attempts.unshift(...refused.attempts);
      expect(describeResult(partly)).toMatch(/^localhost:[0-9]+ \(127\.0\.0\.1\) is open: .* \[::1 refused\]$/);
    } finally {
      await l.close();
    }
  });
});
