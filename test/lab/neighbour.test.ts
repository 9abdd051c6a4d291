// Issue 16, section 1: the deadline that is not a drop. A host that is down on
// the client's own link never answers ARP / NDP, so the SYN never leaves the
// machine; at a deadline shorter than the kernel's own neighbour failure
// (~3 s), the next hop's neighbour entry says so. A real drop stays a timeout.
// Everything runs inside the lab's namespaces (test/lab/netns.ts).
import { ADDR, describeLab, newLab, type Lab, type Listener } from './netns';
import { engineCan } from '../preconditions';
import type { NeighbourDetail, ProbeResult } from '../../src';
import { describe as describeResult } from '../../src/describe';

jest.setTimeout(30000);

const P = { drop: 7209, open: 7200 } as const;

// A drop in the server namespace: the SYN reaches the live host (through the
// router, whose neighbour entry on c0 is resolved) and nothing answers.
const serverRules = `
table inet neighbour_drop {
  chain input_filter {
    type filter hook input priority 0; policy accept;
    tcp dport ${P.drop} drop
  }
}
`;

function neighbourOf(r: ProbeResult): NeighbourDetail | undefined {
  return r.status === 'timeout' || r.status === 'unreachable' ? r.neighbour : undefined;
}

function show(r: ProbeResult): string {
  return JSON.stringify(r);
}

describeLab('network lab: a deadline before the next hop answered ARP / NDP', () => {
  let lab: Lab;
  const listeners: Listener[] = [];

  beforeAll(async () => {
    lab = newLab();
    lab.setup();
    lab.nft(lab.server, serverRules);
    listeners.push(await lab.listen('accept', P.open));
    listeners.push(await lab.listen('accept', P.open, ADDR.server6));
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    lab?.teardown();
  });

  /** Forgets the client's neighbour entries, so each case starts its own resolution. */
  function flushNeighbours(): void {
    lab.ip(lab.client, 'neigh', 'flush', 'dev', 'c0');
  }

  test('IPv4: a very short deadline (younger than the retransmit interval) stays timeout, with the ARP evidence', async () => {
    flushNeighbours();
    const r = await lab.probeOne([ADDR.absentNeighbour, 80], { timeout: 200 });
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 'timeout', reason: 'no-response' });
    const n = neighbourOf(r);
    expect(n).toMatchObject({ address: ADDR.absentNeighbour, protocol: 'arp', state: 'incomplete', gateway: false, interface: 'c0' });
    expect(n?.ageMs).toBeLessThan(n?.retransMs ?? 0);
    expect(describeResult(r)).toContain('no ARP reply from 198.18.1.99 on c0 yet');
  });

  test('IPv4: host down on the link, deadline 1500 ms: unreachable, host-unreach, ARP incomplete on c0', async () => {
    flushNeighbours();
    const r = await lab.probeOne([ADDR.absentNeighbour, 80], { timeout: 1500 });
    if (r.status !== 'unreachable') throw new Error(`expected unreachable: ${show(r)}`);
    expect({ reason: r.reason, code: r.code }).toEqual({ reason: 'host-unreach', code: 'EHOSTUNREACH' });
    expect(r.neighbour).toMatchObject({ address: ADDR.absentNeighbour, protocol: 'arp', state: 'incomplete', gateway: false, interface: 'c0' });
    expect(r.neighbour?.ageMs).toBeGreaterThanOrEqual(r.neighbour?.retransMs ?? Infinity);
    // At the deadline, not at the kernel's own failure (~3 s).
    expect(r.elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(r.elapsedMs).toBeLessThan(2500);
    expect(describeResult(r)).toContain('no ARP reply from 198.18.1.99 on c0: the host is down or not on this link');
  });

  test('IPv6: host down on the link, deadline 1500 ms: unreachable, host-unreach, NDP incomplete on c0', async () => {
    flushNeighbours();
    const r = await lab.probeOne([ADDR.absentNeighbour6, 80], { timeout: 1500 });
    if (r.status !== 'unreachable') throw new Error(`expected unreachable: ${show(r)}`);
    expect({ reason: r.reason, code: r.code }).toEqual({ reason: 'host-unreach', code: 'EHOSTUNREACH' });
    expect(r.neighbour).toMatchObject({ address: ADDR.absentNeighbour6, protocol: 'ndp', state: 'incomplete', gateway: false, interface: 'c0' });
    expect(r.elapsedMs).toBeLessThan(2500);
    expect(describeResult(r)).toContain('no NDP reply from 2001:db8:1::99 on c0: the host is down or not on this link');
  });

  test('IPv6: a very short deadline stays timeout, with the NDP evidence', async () => {
    flushNeighbours();
    const r = await lab.probeOne([ADDR.absentNeighbour6, 80], { timeout: 200 });
    expect({ status: r.status, reason: r.reason }).toEqual({ status: 'timeout', reason: 'no-response' });
    expect(neighbourOf(r)).toMatchObject({ address: ADDR.absentNeighbour6, protocol: 'ndp', state: 'incomplete', interface: 'c0' });
  });

  test.each([
    ['IPv4', ADDR.absentNeighbour],
    ['IPv6', ADDR.absentNeighbour6],
  ] as const)('%s: a long deadline (5000 ms, past the kernel\'s own neighbour failure): the kernel says host-unreach itself', async (_name, host) => {
    flushNeighbours();
    const r = await lab.probeOne([host, 80], { timeout: 5000 });
    if (r.status !== 'unreachable') throw new Error(`expected unreachable: ${show(r)}`);
    expect({ reason: r.reason, code: r.code }).toEqual({ reason: 'host-unreach', code: 'EHOSTUNREACH' });
    // The kernel's error ended it, not the deadline: nothing was read at a deadline.
    expect(r.neighbour).toBeUndefined();
    expect(r.elapsedMs).toBeLessThan(5000);
  });

  test('many deadlines at once (a scan): each probe gets the next hop of its own destination', async () => {
    flushNeighbours();
    const warm = await lab.probeOne([ADDR.server, P.open]);
    if (warm.status !== 'open') throw new Error(`expected open: ${show(warm)}`);
    // Same deadline, same timer sweep: ports of the absent neighbour and the dropped port behind the router, interleaved.
    const probes = [];
    for (let i = 0; i < 8; i++) {
      probes.push({ target: [ADDR.absentNeighbour, 8000 + i] as [string, number], options: { timeout: 1500 } });
      probes.push({ target: [ADDR.server, P.drop] as [string, number], options: { timeout: 1500 } });
    }
    const results = await lab.probe(probes, { parallel: true });
    expect(results).toHaveLength(16);
    results.forEach((r, i) => {
      if (i % 2 === 0) {
        if (r.status !== 'unreachable') throw new Error(`expected unreachable: ${show(r)}`);
        expect(r.neighbour).toMatchObject({ address: ADDR.absentNeighbour, state: 'incomplete', gateway: false });
      } else {
        if (r.status !== 'timeout') throw new Error(`expected timeout: ${show(r)}`);
        expect(r.neighbour).toMatchObject({ address: ADDR.routerClientSide, gateway: true });
      }
    });
  });

  test('policy routing: the next hop is the one the rule for the probe\'s source address picks', async () => {
    // From client2 only, table 100 sends the server's subnet through a gateway on c0 that nobody owns.
    const gateway = '198.18.1.98';
    lab.ip(lab.client, 'route', 'add', '198.18.2.0/24', 'via', gateway, 'dev', 'c0', 'table', '100');
    lab.ip(lab.client, 'rule', 'add', 'from', ADDR.client2, 'lookup', '100');
    try {
      flushNeighbours();
      const r = await lab.probeOne([ADDR.server, P.drop], { timeout: 1500, localAddress: ADDR.client2 });
      if (r.status !== 'unreachable') throw new Error(`expected unreachable: ${show(r)}`);
      expect(r.neighbour).toMatchObject({ address: gateway, protocol: 'arp', state: 'incomplete', gateway: true, interface: 'c0' });
      // The main table's next hop (the router) for the default source, in the same lab.
      const main = await lab.probeOne([ADDR.server, P.drop], { timeout: 1500 });
      expect(neighbourOf(main)).toMatchObject({ address: ADDR.routerClientSide, gateway: true });
    } finally {
      lab.ip(lab.client, 'rule', 'del', 'from', ADDR.client2, 'lookup', '100');
      lab.ip(lab.client, 'route', 'flush', 'table', '100');
    }
  });

  test('a timeout to an address of this host (loopback, its own address) carries no neighbour: there is no link', async () => {
    lab.nft(lab.client, `table inet own_drop {\n  chain input_filter {\n    type filter hook input priority 0; policy accept;\n    tcp dport ${P.drop} drop\n  }\n}\n`);
    try {
      for (const host of ['127.0.0.1', '::1', ADDR.client, ADDR.client6]) {
        const r = await lab.probeOne([host, P.drop], { timeout: 300 });
        if (r.status !== 'timeout') throw new Error(`expected timeout: ${show(r)}`);
        expect(r.neighbour).toBeUndefined();
      }
    } finally {
      lab.exec(lab.client, 'nft', ['delete', 'table', 'inet', 'own_drop']);
    }
  });

  test.each([
    ['IPv4', ADDR.server, ADDR.routerClientSide, 'arp'],
    ['IPv6', ADDR.server6, ADDR.routerClientSide6, 'ndp'],
  ] as const)('%s: a dropped port on a live host stays timeout, the next hop (the router) resolved', async (_name, server, router, protocol) => {
    // Resolve the router first: an open port through it.
    const warm = await lab.probeOne([server, P.open]);
    if (warm.status !== 'open') throw new Error(`expected open: ${show(warm)}`);
    const r = await lab.probeOne([server, P.drop], { timeout: 1500 });
    if (r.status !== 'timeout') throw new Error(`expected timeout: ${show(r)}`);
    expect(r.reason).toBe('no-response');
    expect(r.synRetransmits).toBeGreaterThanOrEqual(1);
    const n = r.neighbour;
    expect(n).toMatchObject({ address: router, protocol, gateway: true, interface: 'c0' });
    expect(['reachable', 'stale', 'delay', 'probe']).toContain(n?.state);
    expect(describeResult(r)).not.toContain('reply from');
  });
}, engineCan('neighbour'));
