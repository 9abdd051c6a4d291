// trace() through a path of three routers (PathLab in netns.ts): every router
// named by its time-exceeded, then the target; a drop, an ICMP reject and a
// router that sends no time-exceeded, each placed at router 2; the command
// line; and, when Debian's traceroute is installed, the same hops as
// `traceroute -T`.
import { BIN } from '../cli-run';
import { engineCan, needs, tool } from '../preconditions';
import { describeLab, newPathLab, type Listener, type PathLab } from './netns';
import type { TraceResult } from '../../src';

jest.setTimeout(60000);

const P = {
  open: 7100,
  closed: 7101,
  dropAfter2: 7102,
  rejectAt2: 7103,
  silent2: 7104,
} as const;

/** [ttl, from] of every hop: what traceroute would print. */
const path = (t: TraceResult): [number, string | null][] => t.hops.map((h) => [h.ttl, h.from]);

describeLab('trace(): a path of three routers', () => {
  let lab: PathLab;
  let listener: Listener | undefined;

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
    listener = await lab.listen('accept', P.open);
  });

  afterAll(async () => {
    await listener?.close();
    lab?.teardown();
  });

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
    expect(path(t)).toEqual([
      [1, lab.hop(1)],
      [2, lab.hop(2)],
      [3, null],
      [4, null],
      [5, null],
      [6, null],
    ]);
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
    expect(open.verdict).toMatchObject({ kind: 'reached', hop: 4 });
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

  beforeAll(async () => {
    if (!gate.ok) return;
    lab = newPathLab(3);
    lab.setup();
    lab.nft(
      lab.routers[1] as string,
      `table ip lab {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    tcp dport ${P.rejectAt2} reject with icmp type admin-prohibited
  }
}
`,
    );
    listener = await lab.listen('accept', P.open);
  });

  afterAll(async () => {
    await listener?.close();
    lab?.teardown();
  });

  /** traceroute -T's hops: [hop, address] of every line after the heading ('*': null). */
  async function traceroute(port: number): Promise<[number, string | null][]> {
    const theirs = await lab.runInClient('traceroute', ['-n', '-T', '-p', String(port), '-q', '1', '-w', '2', '-m', '8', lab.serverAddress]);
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

  gate.test('to an open port through three routers: the same addresses hop by hop', async () => {
    const ours = await lab.trace(lab.serverAddress, P.open, { timeout: 3000, maxHops: 8 });
    expect(ours.verdict.kind).toBe('reached');
    expect(path(ours)).toEqual(await traceroute(P.open));
  });
}, engineCan('ttl'));
