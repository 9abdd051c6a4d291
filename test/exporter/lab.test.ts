// The exporter against the real thing, in the network lab (test/lab/netns.ts):
// a real Prometheus (Debian's `prometheus`) scraping `sockprobe exporter` with
// blackbox_exporter's documented relabelling, the series read back through
// Prometheus's HTTP API; and blackbox_exporter itself (Debian's
// `prometheus-blackbox-exporter`) side by side with sockprobe, the same
// configuration file, the same targets: the same probe_success everywhere,
// and sockprobe's series say why. Everything runs inside the lab's client
// namespace (its own loopback, fixed ports there); the targets are the lab's.
//
// With SOCKPROBE_EXPORTER_REPORT=file the side-by-side table is written there
// (Markdown, for the README).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMetrics, sample, sleep } from '../health/helpers';
import { ADDR, newLab, type Lab, type Listener } from '../lab/netns';
import { engineCan, needs, nftInNetns, sysctl, tool } from '../preconditions';
import { getInNamespace, killAll, startExporter, startListening, tempDir, type Answer, type Running } from './helpers';

jest.setTimeout(90000);

const P = { open: 7000, closed: 7001, tcpReset: 7002, portUnreach: 7003, adminProhibited: 7004, drop: 7009, v6AdminProhibited: 7104 } as const;

const ROUTER_RULES = `
table inet lab {
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    ip daddr ${ADDR.server} tcp dport ${P.tcpReset} reject with tcp reset
    ip daddr ${ADDR.server} tcp dport ${P.portUnreach} reject with icmp type port-unreachable
    ip daddr ${ADDR.server} tcp dport ${P.adminProhibited} reject with icmp type admin-prohibited
    tcp dport ${P.drop} drop
    ip6 daddr ${ADDR.server6} tcp dport ${P.v6AdminProhibited} reject with icmpv6 type admin-prohibited
  }
}`;

interface Case {
  target: string;
  lab: string;
  status: string;
  reason: string;
  from?: string;
}

const CASES: Case[] = [
  { target: `${ADDR.server}:${P.open}`, lab: 'a listener', status: 'open', reason: 'syn-ack' },
  { target: `${ADDR.server}:${P.closed}`, lab: 'no listener', status: 'refused', reason: 'reset' },
  { target: `${ADDR.server}:${P.tcpReset}`, lab: 'router: reject with tcp reset', status: 'refused', reason: 'reset' },
  { target: `${ADDR.server}:${P.portUnreach}`, lab: 'router: reject with icmp port-unreachable', status: 'blocked', reason: 'port-unreach', from: ADDR.routerClientSide },
  { target: `${ADDR.server}:${P.adminProhibited}`, lab: 'router: reject with icmp admin-prohibited', status: 'blocked', reason: 'admin-prohibited', from: ADDR.routerClientSide },
  { target: `${ADDR.server}:${P.drop}`, lab: 'router: drop', status: 'timeout', reason: 'no-response' },
  { target: `${ADDR.noRoute}:80`, lab: 'no route on the client', status: 'unreachable', reason: 'no-route' },
  { target: `[${ADDR.server6}]:${P.open}`, lab: 'a listener (IPv6)', status: 'open', reason: 'syn-ack' },
  { target: `[${ADDR.server6}]:${P.v6AdminProhibited}`, lab: 'router: reject with icmpv6 admin-prohibited', status: 'blocked', reason: 'admin-prohibited', from: ADDR.routerClientSide6 },
];

const BLACKBOX_YML = `modules:
  tcp_connect:
    prober: tcp
    timeout: 5s
`;

// sockprobe's section in a file of its own: blackbox_exporter rejects unknown keys.
const SOCKPROBE_YML = `allow:
  - hosts: [198.18.0.0/15, 2001:db8::/32]
limits:
  concurrent_per_client: 64
`;

const SOCKPROBE_PORT = 9115;
const BLACKBOX_PORT = 9116;
const PROMETHEUS_PORT = 9090;

const gate = needs(
  nftInNetns,
  sysctl,
  tool('prometheus', 'prometheus'),
  tool('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter'),
  // The reasons and ICMP senders compared here come from the ICMP error queue.
  engineCan('icmpQueue'),
);

gate.describe('the exporter in the network lab: Prometheus, and blackbox_exporter side by side', () => {
  let lab: Lab;
  const tmp = tempDir();
  const listeners: Listener[] = [];
  const started: Running[] = [];
  const inClient = (): string[] => ['ip', 'netns', 'exec', lab.client];

  beforeAll(async () => {
    lab = newLab();
    lab.setup();
    lab.nft(lab.router, ROUTER_RULES);
    listeners.push(await lab.listen('accept', P.open), await lab.listen('accept', P.open, ADDR.server6));
    const config = tmp.file('blackbox.yml', BLACKBOX_YML);
    const safety = tmp.file('sockprobe.yml', SOCKPROBE_YML);
    started.push(await startExporter(config, ['--sockprobe.config.file', safety, '--web.listen-address', `127.0.0.1:${SOCKPROBE_PORT}`], inClient()));
    started.push(
      await startListening(
        'ip',
        ['netns', 'exec', lab.client, 'prometheus-blackbox-exporter', '--config.file', config, '--web.listen-address', `127.0.0.1:${BLACKBOX_PORT}`],
        /Listening on.*address=127\.0\.0\.1:(\d+)/,
      ),
    );
  });

  afterAll(async () => {
    for (const r of started) await r.stop();
    for (const l of listeners) await l.close();
    lab.teardown();
    killAll();
    tmp.remove();
  });

  test('blackbox_exporter and sockprobe: the same probe_success on every target, and sockprobe says why', async () => {
    const headers = { 'X-Prometheus-Scrape-Timeout-Seconds': '2' };
    const url = (port: number, target: string): string => `http://127.0.0.1:${port}/probe?module=tcp_connect&target=${encodeURIComponent(target)}`;
    const answers = await getInNamespace(lab.client, CASES.flatMap((c) => [{ url: url(BLACKBOX_PORT, c.target), headers }, { url: url(SOCKPROBE_PORT, c.target), headers }]));
    const rows: string[] = [];
    const problems: string[] = [];
    CASES.forEach((c, i) => {
      const bb = answers[2 * i] as Answer;
      const sp = answers[2 * i + 1] as Answer;
      expect(bb.status).toBe(200);
      expect(sp.status).toBe(200);
      const b = parseMetrics(bb.body);
      const s = parseMetrics(sp.body);
      const bbSuccess = sample(b, 'probe_success', {});
      const spSuccess = sample(s, 'probe_success', {});
      if (bbSuccess !== spSuccess) problems.push(`${c.target}: blackbox_exporter probe_success ${String(bbSuccess)}, sockprobe ${String(spSuccess)}`);
      // blackbox's own series agree too: the address's protocol and hash.
      for (const name of ['probe_ip_protocol', 'probe_ip_addr_hash'])
        if (sample(b, name, {}) !== sample(s, name, {})) problems.push(`${c.target}: ${name} ${String(sample(b, name, {}))} vs ${String(sample(s, name, {}))}`);
      const status = s.find((x) => x.name === 'sockprobe_probe_status');
      expect({ target: c.target, status: status?.labels.status, reason: status?.labels.reason }).toEqual({ target: c.target, status: c.status, reason: c.reason });
      const icmp = s.find((x) => x.name === 'sockprobe_icmp_sender_info');
      expect(icmp?.labels.from).toBe(c.from);
      rows.push(
        `| \`${c.target}\` | ${c.lab} | ${String(bbSuccess)} | ${String(spSuccess)} | \`{status="${status?.labels.status ?? ''}",reason="${status?.labels.reason ?? ''}"}\` | ${icmp === undefined ? '' : `\`from="${icmp.labels.from ?? ''}"\``} |`,
      );
    });
    const table = [
      '| target (from the lab client) | what the lab does | blackbox_exporter `probe_success` | sockprobe `probe_success` | `sockprobe_probe_status` | `sockprobe_icmp_sender_info` |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
    console.log(`blackbox_exporter and sockprobe exporter side by side (same blackbox.yml, module tcp_connect):\n${table}`);
    const report = process.env.SOCKPROBE_EXPORTER_REPORT;
    if (report !== undefined && report !== '') fs.writeFileSync(path.resolve(report), `${table}\n`);
    expect(problems).toEqual([]);
  });

  test('a target outside the allowlist: 403 from sockprobe, the reason in the body', async () => {
    const [a] = await getInNamespace(lab.client, [{ url: `http://127.0.0.1:${SOCKPROBE_PORT}/probe?module=tcp_connect&target=10.20.30.40:80` }]);
    expect(a).toMatchObject({ status: 403, body: 'target 10.20.30.40:80 is not in the allowlist (sockprobe.allow)\n' });
  });

  test("Prometheus scrapes the exporter with blackbox's relabelling: probe_success and the reason of an open, a refused and a blocked target", async () => {
    const targets = CASES.filter((c) => ['open', 'refused', 'blocked', 'timeout'].includes(c.status) && !c.target.startsWith('['));
    const prometheusYml = `global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: sockprobe_tcp
    metrics_path: /probe
    params:
      module: [tcp_connect]
    static_configs:
      - targets: ${JSON.stringify(targets.map((c) => c.target))}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:${SOCKPROBE_PORT}
`;
    const promDir = path.join(tmp.dir, 'prometheus');
    fs.mkdirSync(promDir);
    const prom = await startListening(
      'ip',
      [
        'netns', 'exec', lab.client, 'prometheus',
        `--config.file=${tmp.file('prometheus.yml', prometheusYml)}`,
        `--storage.tsdb.path=${path.join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
      ],
      /Server is ready to receive web requests/,
      PROMETHEUS_PORT,
    );
    started.push(prom);
    const api = async (query: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const [a] = await getInNamespace(lab.client, [{ url: `http://127.0.0.1:${PROMETHEUS_PORT}/api/v1/query?query=${encodeURIComponent(query)}` }]);
      const body = JSON.parse((a as Answer).body) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      expect(body.status).toBe('success');
      return body.data.result;
    };
    // At least two scrapes of every target.
    let scraped = 0;
    for (let i = 0; i < 60 && scraped < targets.length; i++) {
      await sleep(500);
      scraped = (await api('count_over_time(probe_success[1m]) >= 2')).length;
    }
    expect(scraped).toBe(targets.length);
    const success = new Map((await api('probe_success')).map((r) => [r.metric.instance, Number(r.value[1])]));
    const status = new Map((await api('sockprobe_probe_status == 1')).map((r) => [r.metric.instance, `${r.metric.status ?? ''}/${r.metric.reason ?? ''}`]));
    const up = await api('up');
    expect(up.every((r) => r.value[1] === '1' && r.metric.job === 'sockprobe_tcp')).toBe(true);
    for (const c of targets) {
      expect({ instance: c.target, success: success.get(c.target), status: status.get(c.target) }).toEqual({
        instance: c.target,
        success: c.status === 'open' ? 1 : 0,
        status: `${c.status}/${c.reason}`,
      });
    }
    // Who rejected the blocked one, as a label a dashboard can show.
    const icmp = await api('sockprobe_icmp_sender_info');
    expect(icmp.map((r) => `${r.metric.instance ?? ''} ${r.metric.from ?? ''}`).sort()).toEqual(
      targets.filter((c) => c.from !== undefined).map((c) => `${c.target} ${c.from ?? ''}`).sort(),
    );
    await prom.stop();
  });
});
