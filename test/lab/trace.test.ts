// trace() through a path of three routers (PathLab in netns.ts): every router
// named by its time-exceeded, then the target; a drop, a reject with every
// ICMP code nftables can send (trace() and probe() agree) and a router that
// sends no time-exceeded, each placed at router 2; a name with two addresses;
// explain() tracing a timeout and a rejection and naming the hop; the
// command line; and, when Debian's traceroute is installed, the same hops as
// `traceroute -T` (IPv4 and IPv6). Rate limiting: trace-ratelimit.test.ts.
import { join } from 'node:path';
import { BIN } from '../cli-run';
import { engineCan, needs, tool } from '../preconditions';
import { describeLab, newPathLab, type Listener, type PathLab } from './netns';
import type { Diagnosis, TraceResult, TraceStep } from '../../src';

jest.setTimeout(60000);

const LIB = join(__dirname, '..', '..', 'lib');

const P = {
  open: 7100,
  closed: 7101,
  dropAfter2: 7102,
  rejectAt2: 7103,
  silent2: 7104,
} as const;

/**
 * Every ICMP code nftables' `reject with icmp(v6) type X` sends, each on its
 * own port, rejected by router 2: [nft name, family, port, ICMP type, code,
 * status, reason] as probe() classifies it.
 */
const REJECTS = [
  ['net-unreachable', 4, 7130, 3, 0, 'unreachable', 'net-unreach'],
  ['host-unreachable', 4, 7131, 3, 1, 'unreachable', 'host-unreach'],
  ['prot-unreachable', 4, 7132, 3, 2, 'blocked', 'proto-unreach'],
  ['port-unreachable', 4, 7133, 3, 3, 'blocked', 'port-unreach'],
  ['net-prohibited', 4, 7134, 3, 9, 'blocked', 'net-prohibited'],
  ['host-prohibited', 4, 7135, 3, 10, 'blocked', 'host-prohibited'],
  ['admin-prohibited', 4, 7136, 3, 13, 'blocked', 'admin-prohibited'],
  ['no-route', 6, 7140, 1, 0, 'unreachable', 'no-route'],
  ['admin-prohibited', 6, 7141, 1, 1, 'blocked', 'admin-prohibited'],
  ['addr-unreachable', 6, 7142, 1, 3, 'unreachable', 'host-unreach'],
  ['port-unreachable', 6, 7143, 1, 4, 'blocked', 'port-unreach'],
  ['policy-fail', 6, 7144, 1, 5, 'blocked', 'admin-prohibited'],
  ['reject-route', 6, 7145, 1, 6, 'blocked', 'reject-route'],
] as const;

function rejectRules(serverAddress: string, serverAddress6: string): string {
  const rules = REJECTS.map(([name, family, port]) =>
    family === 4
      ? `    ip daddr ${serverAddress} tcp dport ${port} reject with icmp type ${name}`
      : `    ip6 daddr ${serverAddress6} tcp dport ${port} reject with icmpv6 type ${name}`,
  );
  return `table inet codes {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
${rules.join('\n')}
  }
}
`;
}

/** [ttl, from] of every hop: what traceroute would print. */
const path = (t: TraceResult): [number, string | null][] => t.hops.map((h) => [h.ttl, h.from]);

/** The path of a port dropped after router 2, up to hop `max`: routers 1 and 2, then silence. */
const droppedAfter2 = (lab: PathLab, max: number): [number, string | null][] =>
  Array.from({ length: max }, (_, i): [number, string | null] => [i + 1, i < 2 ? lab.hop(i + 1) : null]);

describeLab('trace(): a path of three routers', () => {
  let lab: PathLab;
  let listener: Listener | undefined;
  let listener6: Listener | undefined;

  beforeAll(async () => {
    lab = newPathLab(3);
    lab.setup();
    const r2 = lab.routers[1] as string;
    lab.nft(
      r2,
      `table inet lab {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    tcp dport ${P.dropAfter2} drop
    ip daddr ${lab.serverAddress} tcp dport ${P.rejectAt2} reject with icmp type admin-prohibited
    ip6 daddr ${lab.serverAddress6} tcp dport ${P.rejectAt2} reject with icmpv6 type admin-prohibited
  }
}
`,
    );
    lab.nft(r2, rejectRules(lab.serverAddress, lab.serverAddress6));
    listener = await lab.listen('accept', P.open);
    listener6 = await lab.listen('accept', P.open, lab.serverAddress6);
  });

  afterAll(async () => {
    await listener?.close();
    await listener6?.close();
    lab?.teardown();
  });

  test.each(REJECTS)(
    'reject with %s (IPv%d, port %d) at router 2: trace and probe() both name router 2 and ICMP %d/%d',
    async (_name, family, port, type, code, status, reason) => {
      const server = family === 4 ? lab.serverAddress : lab.serverAddress6;
      const router2 = family === 4 ? lab.hop(2) : lab.hop6(2);
      const t = await lab.trace(server, port, { timeout: 3000, maxHops: 8 });
      expect(path(t)).toEqual([
        [1, family === 4 ? lab.hop(1) : lab.hop6(1)],
        [2, router2],
        [3, router2],
      ]);
      expect(t.verdict).toMatchObject({ kind: 'rejected', hop: 3, from: router2, fromHop: 2, reason });
      expect(t.verdict.result).toMatchObject({ status, reason, from: router2, icmp: { type, code } });
      const r = await lab.probe(server, port, { timeout: 3000 });
      expect(r).toMatchObject({ status, reason, from: router2, icmp: { type, code } });
    },
  );

  test('to an open port: every router is a hop, then the target is reached', async () => {
    const t = await lab.trace(lab.serverAddress, P.open, { timeout: 3000, maxHops: 10 });
    expect(path(t)).toEqual([
      [1, lab.hop(1)],
      [2, lab.hop(2)],
      [3, lab.hop(3)],
      [4, lab.serverAddress],
    ]);
    for (const h of t.hops.slice(0, 3)) expect(h.tries[0]).toMatchObject({ status: 'unreachable', reason: 'time-exceeded', icmp: { type: 11, code: 0 } });
    expect(t.verdict).toMatchObject({ kind: 'reached', hop: 4, from: lab.serverAddress, reason: 'syn-ack' });
    expect(t.verdict.result).toMatchObject({ status: 'open' });
    for (const h of t.hops) expect(h.rttMs).toEqual(expect.any(Number));
  });

  test('to a closed port: reached, refused by the target with an RST', async () => {
    const t = await lab.trace(lab.serverAddress, P.closed, { timeout: 3000, maxHops: 10 });
    expect(path(t)).toEqual([
      [1, lab.hop(1)],
      [2, lab.hop(2)],
      [3, lab.hop(3)],
      [4, lab.serverAddress],
    ]);
    expect(t.verdict).toMatchObject({ kind: 'reached', hop: 4, from: lab.serverAddress, reason: 'reset' });
    expect(t.verdict.result).toMatchObject({ status: 'refused' });
  });

  test('a drop after router 2: router 2 is the last hop that answered', async () => {
    const t = await lab.trace(lab.serverAddress, P.dropAfter2, { timeout: 1200, maxHops: 6 });
    expect(path(t)).toEqual(droppedAfter2(lab, 6));
    for (const h of t.hops.slice(2)) expect(h.tries.map((r) => r.status)).toEqual(['timeout', 'timeout']);
    expect(t.verdict).toMatchObject({ kind: 'dropped', hop: 2, from: lab.hop(2), fromHop: 2, reason: 'silence' });
    expect(t.elapsedMs).toBeLessThan(1200 + 500);
  });

  test('an ICMP reject at router 2: it is named, with the ICMP code', async () => {
    const t = await lab.trace(lab.serverAddress, P.rejectAt2, { timeout: 3000, maxHops: 10 });
    expect(path(t)).toEqual([
      [1, lab.hop(1)],
      [2, lab.hop(2)],
      [3, lab.hop(2)],
    ]);
    expect(t.verdict).toMatchObject({ kind: 'rejected', hop: 3, from: lab.hop(2), fromHop: 2, reason: 'admin-prohibited' });
    expect(t.verdict.result).toMatchObject({ status: 'blocked', reason: 'admin-prohibited', from: lab.hop(2), icmp: { type: 3, code: 13 } });
  });

  test('IPv6: the same path, and a reject at router 2 with its ICMPv6 code', async () => {
    const open = await lab.trace(lab.serverAddress6, P.open, { timeout: 3000, maxHops: 10 });
    expect(path(open)).toEqual([
      [1, lab.hop6(1)],
      [2, lab.hop6(2)],
      [3, lab.hop6(3)],
      [4, lab.serverAddress6],
    ]);
    expect(open.verdict).toMatchObject({ kind: 'reached', hop: 4, reason: 'syn-ack' });
    const rejected = await lab.trace(lab.serverAddress6, P.rejectAt2, { timeout: 3000, maxHops: 10 });
    expect(rejected.verdict).toMatchObject({ kind: 'rejected', hop: 3, from: lab.hop6(2), fromHop: 2, reason: 'admin-prohibited' });
    expect(rejected.verdict.result).toMatchObject({ icmp: { type: 1, code: 1 } });
  });

  test('a router that sends no time-exceeded is a silent hop, passed over', async () => {
    const r2 = lab.routers[1] as string;
    lab.nft(
      r2,
      `table ip silent {
  chain out {
    type filter hook output priority 0; policy accept;
    icmp type time-exceeded drop
  }
}
`,
    );
    try {
      const t = await lab.trace(lab.serverAddress, P.open, { timeout: 1000, maxHops: 10 });
      expect(path(t)).toEqual([
        [1, lab.hop(1)],
        [2, null],
        [3, lab.hop(3)],
        [4, lab.serverAddress],
      ]);
      expect(t.hops[1]?.tries.map((r) => r.status)).toEqual(['timeout', 'timeout']);
      expect(t.verdict).toMatchObject({ kind: 'reached', hop: 4, from: lab.serverAddress });
    } finally {
      lab.exec(r2, 'nft', ['delete', 'table', 'ip', 'silent']);
    }
  });

  test('a name with an IPv4 and an IPv6 address: the first is traced, every one listed; -4 / -6 pick; the CLI says so', async () => {
    lab.setHosts(lab.client, `${lab.serverAddress} server.lab\n${lab.serverAddress6} server.lab\n`);
    const both = await lab.trace('server.lab', P.open, { timeout: 3000, maxHops: 8 });
    expect([...both.target.addresses].sort()).toEqual([lab.serverAddress, lab.serverAddress6].sort());
    expect(both.target.address).toBe(both.target.addresses[0]);
    expect(both.verdict).toMatchObject({ kind: 'reached', hop: 4, from: both.target.address });
    const v4 = await lab.trace('server.lab', P.open, { timeout: 3000, maxHops: 8, family: 4 });
    expect(v4.target).toMatchObject({ address: lab.serverAddress, family: 4, addresses: [lab.serverAddress] });
    expect(path(v4)[1]).toEqual([2, lab.hop(2)]);
    const v6 = await lab.trace('server.lab', P.open, { timeout: 3000, maxHops: 8, family: 6 });
    expect(v6.target).toMatchObject({ address: lab.serverAddress6, family: 6, addresses: [lab.serverAddress6] });
    expect(path(v6)[1]).toEqual([2, lab.hop6(2)]);
    const cli = await lab.runInClient(process.execPath, [BIN, 'trace', '-m', '8', `server.lab:${P.open}`]);
    expect(cli.code).toBe(0);
    expect(cli.stdout.split('\n')[1]).toBe(
      `server.lab has 2 addresses (${both.target.addresses.join(', ')}): tracing the first; -4, -6 or an address picks another`,
    );
  });

  test('explain to a port dropped after router 2: probe timeout, the trace names router 2 as the last hop that answered', async () => {
    const run = await lab.runInClient(process.execPath, [BIN, 'explain', '--json', '--timeout', '1500', `${lab.serverAddress}:${P.dropAfter2}`]);
    expect(run.code).toBe(1);
    const d = JSON.parse(run.stdout) as Diagnosis;
    expect(d.status).toBe('timeout');
    expect(d.cause).toMatchObject({ code: 'timeout', hop: { ttl: 2, address: lab.hop(2) } });
    expect(d.cause.text).toContain(`the SYNs die after hop 2 (${lab.hop(2)}), the last hop that answered`);
    expect(d.next).toContain(`${lab.hop(2)} (hop 2)`);
    const step = d.steps.find((x): x is TraceStep => x.step === 'trace');
    expect(step?.verdict).toBe('fail');
    expect(step?.traces).toHaveLength(1);
    expect(step?.traces[0]?.verdict).toMatchObject({ kind: 'dropped', hop: 2, from: lab.hop(2) });
    // The words, as a person reads them.
    const text = await lab.runInClient(process.execPath, [BIN, 'explain', '--timeout', '1500', `${lab.serverAddress}:${P.dropAfter2}`]);
    expect(text.stdout).toMatch(new RegExp(`^✗ trace +nothing answered beyond hop 2 \\(${lab.hop(2).replace(/\./g, '\\.')}\\): dropped after it$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^ +2  ${lab.hop(2).replace(/\./g, '\\.')}  \\d+\\.\\d{3} ms$`, 'm'));
    // The silent hops after router 2, up to the 30th, in one line.
    expect(text.stdout).toMatch(/^ + 3-30 {2}\* {2}\(no answer\)$/m);
    expect(text.stdout).toContain(`The trace places it: the SYNs die after hop 2 (${lab.hop(2)})`);
    // --no-trace: the same timeout, no trace step, and the cause names no hop.
    const bare = await lab.runInClient(process.execPath, [BIN, 'explain', '--json', '--no-trace', '--timeout', '1500', `${lab.serverAddress}:${P.dropAfter2}`]);
    expect(bare.code).toBe(1);
    const b = JSON.parse(bare.stdout) as Diagnosis;
    expect(b.status).toBe('timeout');
    expect(b.steps.map((x) => x.step)).not.toContain('trace');
    expect(b.cause.code).toBe('timeout');
    expect(b.cause.hop).toBeUndefined();
  });

  test('explain to a port dropped by a host on the client\'s own link: no hop answers, the cause says nothing lies between', async () => {
    const r1 = lab.routers[0] as string;
    lab.nft(r1, `table inet own {\n  chain input_filter {\n    type filter hook input priority 0; policy accept;\n    tcp dport ${P.dropAfter2} drop\n  }\n}\n`);
    try {
      const run = await lab.runInClient(process.execPath, [BIN, 'explain', '--json', '--timeout', '1000', `${lab.hop(1)}:${P.dropAfter2}`]);
      const d = JSON.parse(run.stdout) as Diagnosis;
      expect(d.status).toBe('timeout');
      const step = d.steps.find((x): x is TraceStep => x.step === 'trace');
      expect(step?.traces[0]?.verdict).toMatchObject({ kind: 'dropped', hop: 0, from: null });
      expect(d.cause.text).toContain("The target is on this machine's link (no router between): it, or a filter on it, drops the SYNs");
      expect(d.cause.hop).toBeUndefined();
    } finally {
      lab.exec(r1, 'nft', ['delete', 'table', 'inet', 'own']);
    }
  });

  test.each([
    ['IPv4', 4, 3, 13],
    ['IPv6', 6, 1, 1],
  ] as const)('explain to a port rejected by router 2 (%s): blocked, the trace names router 2 and the ICMP code', async (_name, family, type, code) => {
    const server = family === 4 ? lab.serverAddress : `[${lab.serverAddress6}]`;
    const router2 = family === 4 ? lab.hop(2) : lab.hop6(2);
    const run = await lab.runInClient(process.execPath, [BIN, 'explain', '--json', `${server}:${P.rejectAt2}`]);
    expect(run.code).toBe(1);
    const d = JSON.parse(run.stdout) as Diagnosis;
    expect(d.status).toBe('blocked');
    expect(d.cause).toMatchObject({ code: 'blocked', hop: { ttl: 2, address: router2 } });
    expect(d.cause.text).toContain(`The trace places it: hop 2 (${router2}) rejects the connection with admin-prohibited, ICMP type ${type} code ${code}`);
    expect(d.next).toContain(`firewall rules of ${router2}`);
    const step = d.steps.find((x): x is TraceStep => x.step === 'trace');
    expect(step?.traces[0]?.verdict).toMatchObject({ kind: 'rejected', fromHop: 2, from: router2 });
  });

  test('scripted (process.platform set to darwin in the child): explain says trace is not available, trace() rejects saying why', async () => {
    const script =
      `const lib = require(${JSON.stringify(LIB)}); Object.defineProperty(process, 'platform', { value: 'darwin' });` +
      ` (async () => { const d = await lib.explain(${JSON.stringify(`${lab.serverAddress}:${P.rejectAt2}`)});` +
      ` const e = await lib.trace(${JSON.stringify(lab.serverAddress)}, ${P.rejectAt2}).then(() => null, (x) => x.message);` +
      ' process.stdout.write(JSON.stringify({ d, e })); })()';
    const run = await lab.runInClient(process.execPath, ['-e', script]);
    expect(run.stderr).toBe('');
    const { d, e } = JSON.parse(run.stdout) as { d: Diagnosis; e: string | null };
    expect(d.status).toBe('blocked');
    const step = d.steps.find((x): x is TraceStep => x.step === 'trace');
    expect(step).toMatchObject({ verdict: 'skip', traces: [] });
    expect(step?.summary).toMatch(/^trace is not available on darwin: /);
    expect(d.cause.hop).toBeUndefined();
    expect(e).toMatch(/trace\(\) needs Linux/);
  });

  test('explain to an open or a refused port runs no trace', async () => {
    for (const port of [P.open, P.closed]) {
      const run = await lab.runInClient(process.execPath, [BIN, 'explain', '--json', `${lab.serverAddress}:${port}`]);
      const d = JSON.parse(run.stdout) as Diagnosis;
      expect(d.steps.map((x) => x.step)).toEqual(['resolve', 'route', 'probe', 'listeners']);
      expect(d.cause.hop).toBeUndefined();
    }
  });

  test('sockprobe trace HOST:PORT: a line per hop, exit 0 reached and open, 1 rejected; --json', async () => {
    const ok = await lab.runInClient(process.execPath, [BIN, 'trace', `${lab.serverAddress}:${P.open}`, '-m', '8']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const lines = ok.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`sockprobe trace ${lab.serverAddress} port ${P.open}, 8 hops max`);
    for (const k of [1, 2, 3]) expect(lines[k]).toMatch(new RegExp(`^ ${k}  ${lab.hop(k).replace(/\./g, '\\.')}  \\d+\\.\\d{3} ms$`));
    expect(lines[4]).toMatch(new RegExp(`^ 4  ${lab.serverAddress.replace(/\./g, '\\.')}  \\d+\\.\\d{3} ms  open \\(syn-ack\\)$`));
    expect(lines[5]).toBe(`verdict: reached ${lab.serverAddress} port ${P.open} at hop 4: open (syn-ack)`);
    expect(lines).toHaveLength(6);

    const rejected = await lab.runInClient(process.execPath, [BIN, 'trace', '--json', `${lab.serverAddress}:${P.rejectAt2}`]);
    expect(rejected.code).toBe(1);
    const t = JSON.parse(rejected.stdout) as TraceResult;
    expect(t.verdict).toMatchObject({ kind: 'rejected', hop: 3, from: lab.hop(2), fromHop: 2, reason: 'admin-prohibited' });
    expect(t.verdict.result).toMatchObject({ status: 'blocked', from: lab.hop(2), icmp: { type: 3, code: 13 } });

    // A port dropped after router 2: router 2 is the last hop that answered.
    const dropped = await lab.runInClient(process.execPath, [BIN, 'trace', '--json', '-m', '6', '-t', '1200', `${lab.serverAddress}:${P.dropAfter2}`]);
    expect(dropped.code).toBe(1);
    const d = JSON.parse(dropped.stdout) as TraceResult;
    expect(d.verdict).toMatchObject({ kind: 'dropped', hop: 2, from: lab.hop(2), reason: 'silence' });
    expect(path(d)).toEqual(droppedAfter2(lab, 6));

    const closed = await lab.runInClient(process.execPath, [BIN, 'trace', '-q', `${lab.serverAddress}:${P.closed}`]);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toBe('');
  });
}, engineCan('ttl'));

// Debian's traceroute (root: raw sockets) on the same lab: the same hops.
describeLab('trace() and traceroute -T agree', () => {
  const gate = needs(tool('traceroute', 'traceroute'));
  let lab: PathLab;
  let listener: Listener | undefined;
  let listener6: Listener | undefined;

  beforeAll(async () => {
    if (!gate.ok) return;
    lab = newPathLab(3);
    lab.setup();
    lab.nft(
      lab.routers[1] as string,
      `table inet lab {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    tcp dport ${P.dropAfter2} drop
    meta nfproto ipv4 tcp dport ${P.rejectAt2} reject with icmp type admin-prohibited
    meta nfproto ipv6 tcp dport ${P.rejectAt2} reject with icmpv6 type admin-prohibited
  }
}
`,
    );
    listener = await lab.listen('accept', P.open);
    listener6 = await lab.listen('accept', P.open, lab.serverAddress6);
  });

  afterAll(async () => {
    await listener?.close();
    await listener6?.close();
    lab?.teardown();
  });

  /** traceroute -T's hops: [hop, address] of every line after the heading ('*': null). */
  async function traceroute(port: number, host = lab.serverAddress): Promise<[number, string | null][]> {
    const family = host.includes(':') ? '-6' : '-4';
    const theirs = await lab.runInClient('traceroute', [family, '-n', '-T', '-p', String(port), '-q', '1', '-w', '2', '-m', '8', host]);
    expect(theirs.code).toBe(0);
    return theirs.stdout
      .split('\n')
      .slice(1)
      .map((line) => /^\s*(\d+)\s+(\S+)/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m): [number, string | null] => [Number(m[1]), m[2] === '*' ? null : (m[2] as string)]);
  }

  gate.test('a reject at router 2 (traceroute: !X): the same hops, the same sender', async () => {
    const ours = await lab.trace(lab.serverAddress, P.rejectAt2, { timeout: 3000, maxHops: 8 });
    expect(ours.verdict.kind).toBe('rejected');
    expect(path(ours)).toEqual(await traceroute(P.rejectAt2));
  });

  gate.test('a drop after router 2 (traceroute: * from hop 3 on): the same hops', async () => {
    const ours = await lab.trace(lab.serverAddress, P.dropAfter2, { timeout: 1500, maxHops: 8 });
    expect(ours.verdict).toMatchObject({ kind: 'dropped', hop: 2, from: lab.hop(2) });
    expect(path(ours)).toEqual(await traceroute(P.dropAfter2));
  });

  gate.test('to an open port through three routers: the same addresses hop by hop', async () => {
    const ours = await lab.trace(lab.serverAddress, P.open, { timeout: 3000, maxHops: 8 });
    expect(ours.verdict.kind).toBe('reached');
    expect(path(ours)).toEqual(await traceroute(P.open));
  });

  gate.test('IPv6 (traceroute -T -6): the same hops to an open port, and to a reject at router 2', async () => {
    const open = await lab.trace(lab.serverAddress6, P.open, { timeout: 3000, maxHops: 8 });
    expect(open.verdict.kind).toBe('reached');
    expect(path(open)).toEqual([
      [1, lab.hop6(1)],
      [2, lab.hop6(2)],
      [3, lab.hop6(3)],
      [4, lab.serverAddress6],
    ]);
    expect(path(open)).toEqual(await traceroute(P.open, lab.serverAddress6));
    const rejected = await lab.trace(lab.serverAddress6, P.rejectAt2, { timeout: 3000, maxHops: 8 });
    expect(rejected.verdict).toMatchObject({ kind: 'rejected', from: lab.hop6(2), fromHop: 2 });
    expect(path(rejected)).toEqual(await traceroute(P.rejectAt2, lab.serverAddress6));
  });
}, engineCan('ttl'));
