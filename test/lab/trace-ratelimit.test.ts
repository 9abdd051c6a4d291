// trace() where a router rate-limits its ICMP (the kernel's per-destination
// token bucket, net.ipv4.icmp_ratelimit / net.ipv6.icmp.ratelimit, set inside
// router 2's namespace): the hop's time-exceeded is lost on the first try and
// found on a retry, and the per-try outcomes say so.
//
// How the kernel's bucket behaves (inet_peer_xrlim_allow): a destination it
// has never sent ICMP to starts with 60 s of tokens (capped at 6 x the limit),
// each message costs one limit and needs more than one limit in the bucket.
// With a limit of 31 s: the first message goes at once (60 - 31 = 29 s left),
// the next only 2 s later (when the bucket holds more than 31 s again). Each
// test traces from a client address router 2 has never answered (a fresh
// bucket): one trace to hop 2 spends the first message, then the trace under
// test runs at once with 3 tries of 1.5 s each. Hop 2's first try (SYNs at 0
// and 1 s, the kernel's first retransmission) is answered by nobody; its
// second (SYNs at 1.5 s and 2.5 s) is answered at 2.5 s. IPv6 has its own
// sysctl (net.ipv6.icmp.ratelimit) and its own buckets; with the same value it
// behaves the same on the kernels tried (6.18: the route back to the client
// gives no wider-prefix discount here).
import { engineCan } from '../preconditions';
import { describeLab, newPathLab, type Listener, type PathLab } from './netns';
import type { TraceResult } from '../../src';

jest.setTimeout(60000);

const PORT = 7120;
const LIMIT_MS = 31000;

describeLab('trace(): a router that rate-limits its ICMP', () => {
  let lab: PathLab;
  let listener: Listener | undefined;
  let listener6: Listener | undefined;

  beforeAll(async () => {
    lab = newPathLab(3);
    lab.setup();
    const r2 = lab.routers[1] as string;
    lab.sysctl(r2, 'net.ipv4.icmp_ratelimit', String(LIMIT_MS));
    lab.sysctl(r2, 'net.ipv6.icmp.ratelimit', String(LIMIT_MS));
    listener = await lab.listen('accept', PORT);
    listener6 = await lab.listen('accept', PORT, lab.serverAddress6);
  });

  afterAll(async () => {
    await listener?.close();
    await listener6?.close();
    lab?.teardown();
  });

  test.each([
    ['IPv4', 1, 4],
    ['IPv6', 2, 6],
  ] as const)('%s: hop 2 is lost on the first try and found on the retry', async (_name, n, family) => {
    const server = family === 4 ? lab.serverAddress : lab.serverAddress6;
    const source = family === 4 ? lab.clientAddress(n) : lab.clientAddress6(n);
    const hop = (k: number): string => (family === 4 ? lab.hop(k) : lab.hop6(k));
    const [spend, t] = (await lab.traces([
      [server, PORT, { localAddress: source, firstHop: 2, maxHops: 2, tries: 1, timeout: 500 }],
      [server, PORT, { localAddress: source, maxHops: 6, tries: 3, timeout: 4500 }],
    ])) as [TraceResult, TraceResult];
    // The first message of the fresh bucket: answered.
    expect(spend.hops[0]?.tries[0]).toMatchObject({ status: 'unreachable', reason: 'time-exceeded', from: hop(2) });
    const outcomes = t.hops.map((h) => [h.ttl, h.from, h.tries.map((r) => r.status)]);
    expect(outcomes).toEqual([
      [1, hop(1), ['unreachable']],
      [2, hop(2), ['timeout', 'unreachable']],
      [3, hop(3), ['unreachable']],
      [4, server, ['open']],
    ]);
    expect(t.hops[1]?.tries[0]).toMatchObject({ status: 'timeout', reason: 'no-response' });
    expect(t.hops[1]?.tries[1]).toMatchObject({ status: 'unreachable', reason: 'time-exceeded', from: hop(2) });
    // Found by the retry's retransmitted SYN (the bucket refilled between its two SYNs).
    expect(t.hops[1]?.tries[1]?.tcp?.synRetransmits).toBeGreaterThanOrEqual(1);
    expect(t.verdict).toMatchObject({ kind: 'reached', hop: 4, from: server });
  });
}, engineCan('ttl'));
