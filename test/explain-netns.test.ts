// The dual-stack localhost trap, built for real: a network namespace whose
// own hosts file says localhost is ::1 and 127.0.0.1, a service listening on
// 127.0.0.1 only, and `sockprobe` run inside it. Needs root (ip netns,
// test/preconditions.ts): without it the suite is skipped loudly, and with
// SOCKPROBE_LAB=required it fails.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { once } from 'node:events';
import type { Diagnosis } from '../src';
import { sockprobe } from './cli-run';
import { needs, netns } from './preconditions';

const NS = `spcli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const NS_ETC = `/etc/netns/${NS}`;

function teardown(): void {
  spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  fs.rmSync(NS_ETC, { recursive: true, force: true });
}

/** Creates the namespace (loopback up, its own hosts file); throws when it cannot. */
function setup(): void {
  try {
    teardown(); // idempotent: nothing of this name may be left from before
    execFileSync('ip', ['netns', 'add', NS], { stdio: 'pipe' });
    process.once('exit', teardown);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
    // A veth pair with both ends inside the namespace and an address of its
    // own on one end, for the route step's source and interface. Nothing
    // answers on the other end, and nothing leaves the namespace.
    const ipn = (...args: string[]): void => void execFileSync('ip', ['-n', NS, ...args], { stdio: 'pipe' });
    ipn('link', 'add', 'spv0', 'type', 'veth', 'peer', 'name', 'spv1');
    ipn('addr', 'add', '198.18.0.1/24', 'dev', 'spv0');
    ipn('link', 'set', 'spv0', 'up');
    ipn('link', 'set', 'spv1', 'up');
    fs.mkdirSync(NS_ETC, { recursive: true });
    fs.writeFileSync(`${NS_ETC}/hosts`, '::1 localhost\n127.0.0.1 localhost\n');
  } catch (error) {
    teardown();
    throw error;
  }
}

/** A TCP listener on 127.0.0.1 only, inside the namespace; resolves with its port. */
async function listenInside(): Promise<{ port: number; child: ChildProcess }> {
  const script =
    "const s=require('net').createServer(c=>c.destroy());" +
    "s.listen(0,'127.0.0.1',()=>console.log(s.address().port));" +
    "process.stdin.on('end',()=>process.exit(0)).resume();";
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`listener in ${NS} exited with ${String(code)}`);
  });
  const [line] = (await Promise.race([once(child.stdout as NodeJS.ReadableStream, 'data'), exited])) as [Buffer];
  exited.catch(() => undefined);
  return { port: Number(line.toString().trim()), child };
}

const inside = (args: string[]): ReturnType<typeof sockprobe> => sockprobe(args, { prefix: ['ip', 'netns', 'exec', NS] });

needs(netns).describe('the dual-stack localhost trap, in a network namespace', () => {
  let listener: { port: number; child: ChildProcess } | undefined;

  /** The listener beforeAll started (a test fails, never passes, without one). */
  const started = (): { port: number; child: ChildProcess } => {
    if (listener === undefined) throw new Error('no listener: beforeAll failed');
    return listener;
  };

  beforeAll(async () => {
    setup();
    listener = await listenInside();
  });

  afterAll(async () => {
    if (listener !== undefined && listener.child.exitCode === null) {
      listener.child.stdin?.end();
      await once(listener.child, 'exit');
    }
    teardown();
    process.removeListener('exit', teardown);
  });

  test('explain names it: the service listens on IPv4 only, and says what to do', async () => {
    const { port } = started();
    const r = await inside(['explain', `localhost:${port}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^✓ resolve +localhost resolves to ::1 \(IPv6\), 127\.0\.0\.1 \(IPv4\) in /);
    expect(lines[2]).toMatch(/^✓ route +::1: from ::1 via lo; 127\.0\.0\.1: from 127\.0\.0\.1 via lo$/);
    expect(lines[3]).toMatch(/^! probe +localhost:[0-9]+ \(127\.0\.0\.1\) is open: .*\[::1 refused\]$/);
    expect(r.stdout).toMatch(new RegExp(`! listeners +port ${port} listeners: 127\\.0\\.0\\.1:${port} \\(node, pid [0-9]+\\); none accepts ::1`));
    expect(r.stdout).toContain(
      'cause: the service listens on IPv4 only: localhost resolves to ::1 and 127.0.0.1; 127.0.0.1 is open but ::1 refused.',
    );
    expect(r.stdout).toContain('next:  make the service listen on ::1 too, or on ::');
  });

  test('explain --json gives the same diagnosis as structure', async () => {
    const r = await inside(['explain', '--json', `localhost:${started().port}`]);
    const d = JSON.parse(r.stdout) as Diagnosis;
    expect(d.ok).toBe(false);
    expect(d.status).toBe('open');
    expect(d.cause.code).toBe('ipv4-only');
    const resolve = d.steps.find((s) => s.step === 'resolve');
    expect(resolve?.step === 'resolve' && resolve.addresses).toEqual([
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 },
    ]);
    const probe = d.steps.find((s) => s.step === 'probe');
    expect(probe?.step === 'probe' && probe.result.attempts.map((a) => [a.address, a.status])).toEqual([
      ['::1', 'refused'],
      ['127.0.0.1', 'open'],
    ]);
  });

  test('plain probing: open (exit 0) with ::1 refused shown; -6 fails, -4 passes', async () => {
    const target = `localhost:${started().port}`;
    const both = await inside([target]);
    expect(both.code).toBe(0);
    expect(both.stdout).toMatch(/is open: .*\[::1 refused\]/);
    expect((await inside(['-6', target])).code).toBe(1);
    expect((await inside(['-4', target])).code).toBe(0);
  });

  test('route: the source address and interface the kernel picks, and no route at all', async () => {
    // 198.18.0.99 is on spv0's subnet: routed from 198.18.0.1 via spv0; nobody answers its ARP.
    const viaVeth = JSON.parse((await inside(['explain', '--json', '--timeout', '1000', '198.18.0.99:80'])).stdout) as Diagnosis;
    const route = viaVeth.steps.find((s) => s.step === 'route');
    expect(route?.step === 'route' && route.routes).toEqual([
      { address: '198.18.0.99', family: 4, source: '198.18.0.1', interface: 'spv0', code: null },
    ]);
    expect(['timeout', 'unreachable']).toContain(viaVeth.cause.code);
    expect(viaVeth.steps.find((s) => s.step === 'listeners')?.verdict).toBe('skip');

    // The namespace's own address is local: its listeners are read.
    const own = JSON.parse((await inside(['explain', '--json', '198.18.0.1:80'])).stdout) as Diagnosis;
    expect(own.cause.code).toBe('nothing-listening');

    // No route at all: the kernel says so to the UDP connect, before any packet.
    const r = await inside(['explain', '198.18.1.1:80']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ route +198\.18\.1\.1: no route \(ENETUNREACH\)$/m);
    expect(r.stdout).toContain('cause: this host has no route to 198.18.1.1');
  });

  test('blocked: the cause says why in words, not as the reason code', async () => {
    // A policy rule that prohibits TCP only: the route step (a UDP connect)
    // passes, and the probe's connect() gets EACCES: blocked, perm-denied.
    const rule = ['-n', NS, 'rule', 'add', 'ipproto', 'tcp', 'to', '198.18.2.0/24', 'prohibit'];
    const added = spawnSync('ip', rule, { encoding: 'utf8' });
    // iproute2 has had `ipproto` since 4.17: failing here is a broken lab, never a silent pass.
    if (added.status !== 0) throw new Error(`cannot add an ipproto rule: ${added.stderr.trim()}`);
    execFileSync('ip', ['-n', NS, 'route', 'add', '198.18.2.0/24', 'via', '198.18.0.99'], { stdio: 'pipe' });
    const r = await inside(['explain', '--timeout', '1000', '198.18.2.1:80']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✓ route +198\.18\.2\.1: from 198\.18\.0\.1 via spv0$/m);
    expect(r.stdout).toContain(
      'cause: connections to 198.18.2.1:80 are rejected: this machine denied it: a local firewall rule, a prohibit route or missing permission on the socket file\n',
    );
    expect(r.stdout).toContain('next:  look at this host\'s firewall rules (nft list ruleset, iptables -L) and its routing policy (ip rule, ip route get 198.18.2.1)\n');
    const d = JSON.parse((await inside(['explain', '--json', '--timeout', '1000', '198.18.2.1:80'])).stdout) as Diagnosis;
    // The machine-readable fields keep the codes.
    expect(d.cause.code).toBe('blocked');
    const probe = d.steps.find((s) => s.step === 'probe');
    expect(probe?.step === 'probe' && [probe.result.status, probe.result.reason]).toEqual(['blocked', 'perm-denied']);
  });
});
