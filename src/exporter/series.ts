// The series one /probe answers: blackbox_exporter's, with its names and
// help texts (as Debian's blackbox_exporter 0.23 writes them for tcp and
// unix modules), then sockprobe's, which say why a probe failed. Written as
// Prometheus text exposition directly: a handful of gauges per request, where
// a registry per request (what blackbox_exporter does) would cost more than
// the probe itself on loopback. `promtool check metrics` checks the output in
// the tests.
import type { ProbeResult } from '../types';
import type { Module } from './config';
import type { ProbeRun } from './prober';

/** Name, help: blackbox_exporter's texts, word for word. */
export const BLACKBOX_HELP = {
  probe_dns_lookup_time_seconds: 'Returns the time taken for probe dns lookup in seconds',
  probe_duration_seconds: 'Returns how long the probe took to complete in seconds',
  probe_expect_info: 'Explicit content matched',
  probe_failed_due_to_bytes: 'Indicates if probe failed due to bytes',
  probe_failed_due_to_regex: 'Indicates if probe failed due to regex',
  probe_http_duration_seconds: 'Duration of http request by phase, summed over all redirects',
  probe_http_redirects: 'The number of redirects',
  probe_http_ssl: 'Indicates if SSL was used for the final redirect',
  probe_http_status_code: 'Response HTTP status code',
  probe_http_version: 'Returns the version of HTTP of the probe response',
  probe_ip_addr_hash: "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
  probe_ip_protocol: 'Specifies whether probe ip protocol is IP4 or IP6',
  probe_success: 'Displays whether or not the probe was a success',
  probe_ssl_earliest_cert_expiry: 'Returns last SSL chain expiry in unixtime',
  probe_ssl_last_chain_expiry_timestamp_seconds: 'Returns last SSL chain expiry in timestamp',
  probe_ssl_last_chain_info: 'Contains SSL leaf certificate information',
  probe_tls_version_info: 'Returns the TLS version used or NaN when unknown',
} as const;

export const SOCKPROBE_HELP = {
  sockprobe_probe_status: "1 for the probe's status and reason (open/syn-ack, refused/reset, blocked/admin-prohibited, timeout/no-response, ...)",
  sockprobe_icmp_sender_info: 'The host whose ICMP message rejected or stopped the connection, with the ICMP type and code',
  sockprobe_syn_retransmits: 'SYN retransmissions of the probe (Linux TCP_INFO; 0 when the platform does not tell)',
  sockprobe_connect_seconds: 'Time the TCP or Unix handshake took, when the target was open (or open but not ready); 0 otherwise',
  sockprobe_tls_verified: "1 when the server's certificate verified (chain, dates, name); code is the verification error otherwise",
} as const;

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function gauge(name: string, help: string, value: number, labels?: Record<string, string>): string {
  let l = '';
  if (labels !== undefined) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escape(v)}"`);
    l = `{${parts.join(',')}}`;
  }
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${l} ${value}\n`;
}

/** SYNs sent again; undefined where the engine or platform does not tell (the series is then left out, not 0). */
function synRetransmits(r: ProbeResult): number | undefined {
  if (r.status === 'timeout') return r.synRetransmits ?? undefined;
  if (r.status === 'dns-error') return 0;
  return r.tcp?.synRetransmits ?? undefined;
}

function icmpSender(r: ProbeResult): Record<string, string> | undefined {
  if ((r.status === 'blocked' || r.status === 'unreachable') && r.from !== undefined)
    return { from: r.from, icmp_type: String(r.icmp?.type ?? ''), icmp_code: String(r.icmp?.code ?? '') };
  return undefined;
}

/** 'TLSv1.3' (Node) as blackbox_exporter names it: 'TLS 1.3'. */
function tlsVersion(v: string): string {
  const m = /^TLSv(\d\.\d)$/.exec(v);
  return m === null ? 'unknown' : `TLS ${m[1] ?? ''}`;
}

/** The series of a TLS handshake (the tls check): blackbox's, also when the certificate did not verify (the evidence). */
function tlsSeries(r: ProbeResult): { before: string; after: string; verified: string } {
  const t = r.status === 'open' || r.status === 'not-ready' ? r.check?.tls : undefined;
  if (t === undefined) return { before: '', after: '', verified: '' };
  const b = BLACKBOX_HELP;
  const seconds = (iso: string | null): number | undefined => (iso === null ? undefined : Date.parse(iso) / 1000);
  let before = '';
  const earliest = seconds(t.earliestNotAfter);
  if (earliest !== undefined) before += gauge('probe_ssl_earliest_cert_expiry', b.probe_ssl_earliest_cert_expiry, earliest);
  const chain = seconds(t.verifiedChainNotAfter);
  if (chain !== undefined) before += gauge('probe_ssl_last_chain_expiry_timestamp_seconds', b.probe_ssl_last_chain_expiry_timestamp_seconds, chain);
  if (t.leaf !== null) {
    before += gauge('probe_ssl_last_chain_info', b.probe_ssl_last_chain_info, 1, {
      fingerprint_sha256: t.leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
      subject: t.leaf.subject,
      issuer: t.leaf.issuer,
      subjectalternative: t.leaf.subjectAltNames.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)).join(','),
    });
  }
  const after = t.version === null ? '' : gauge('probe_tls_version_info', b.probe_tls_version_info, 1, { version: tlsVersion(t.version) });
  const verified = gauge('sockprobe_tls_verified', SOCKPROBE_HELP.sockprobe_tls_verified, t.authorized ? 1 : 0, { code: t.verifyError ?? '' });
  return { before, after, verified };
}

/** blackbox's http series (prober/http.go) from the http check's detail: a family each, in name order, after probe_duration_seconds. */
function httpSeries(r: ProbeResult, dnsS: number): string {
  const b = BLACKBOX_HELP;
  const check = r.status === 'open' || r.status === 'not-ready' ? r.check : undefined;
  const h = check?.http;
  const bodyFailed = r.status === 'not-ready' && r.reason === 'body-mismatch';
  let out = gauge('probe_failed_due_to_regex', b.probe_failed_due_to_regex, bodyFailed ? 1 : 0);
  // Phases as blackbox splits them: resolve, connect (TCP), tls, processing (request to first byte), transfer (the rest).
  const connect = r.status === 'open' || r.status === 'not-ready' ? r.connectMs / 1000 : 0;
  const tls = (h?.phases.tls ?? 0) / 1000;
  const processing = h === undefined || h.phases.firstByte < 0 ? 0 : h.phases.firstByte / 1000;
  const transfer = h === undefined || h.phases.firstByte < 0 ? 0 : Math.max(0, h.phases.total / 1000 - connect - tls - processing);
  out += `# HELP probe_http_duration_seconds ${b.probe_http_duration_seconds}\n# TYPE probe_http_duration_seconds gauge\n`;
  for (const [phase, v] of [['connect', connect], ['processing', processing], ['resolve', dnsS], ['tls', tls], ['transfer', transfer]] as const)
    out += `probe_http_duration_seconds{phase="${phase}"} ${v}\n`;
  out += gauge('probe_http_redirects', b.probe_http_redirects, 0);
  out += gauge('probe_http_ssl', b.probe_http_ssl, h?.status !== null && h?.status !== undefined && check?.tls !== undefined ? 1 : 0);
  out += gauge('probe_http_status_code', b.probe_http_status_code, h?.status ?? 0);
  out += gauge('probe_http_version', b.probe_http_version, h?.httpVersion === null || h?.httpVersion === undefined ? 0 : Number(h.httpVersion));
  return out;
}

/** The text exposition of one probe (families in name order, as blackbox_exporter's registry gathers them). */
export function renderProbe(m: Module, run: ProbeRun): string {
  const r = run.result;
  const b = BLACKBOX_HELP;
  const s = SOCKPROBE_HELP;
  let out = '';
  if (m.prober !== 'unix') out += gauge('probe_dns_lookup_time_seconds', b.probe_dns_lookup_time_seconds, run.dnsS);
  out += gauge('probe_duration_seconds', b.probe_duration_seconds, run.durationS);
  if (m.prober === 'http') out += httpSeries(r, run.dnsS);
  // query_response's labels: send-expect's facts label.<name>, expanded from the match (blackbox's probe_expect_info).
  const facts = (r.status === 'open' || r.status === 'not-ready') && r.check !== undefined ? r.check.facts : {};
  const labels = Object.entries(facts).filter(([k]) => k.startsWith('label.'));
  if (labels.length > 0) out += gauge('probe_expect_info', b.probe_expect_info, 1, Object.fromEntries(labels.map(([k, v]) => [k.slice(6), String(v)])));
  // blackbox sets regex when the peer ended before a line matched (send-expect's unexpected-reply or closed-before-reply
  // on a line step), bytes when other bytes came than expect_bytes.
  const expectFailed = r.status === 'not-ready' && r.check.name.startsWith('send-expect') ? r.check.facts.failed_expect : undefined;
  const peerEnded = r.status === 'not-ready' && (r.reason === 'unexpected-reply' || r.reason === 'closed-before-reply');
  if (m.prober !== 'http') {
    out += gauge('probe_failed_due_to_bytes', b.probe_failed_due_to_bytes, expectFailed === 'bytes' && r.status === 'not-ready' && r.reason === 'unexpected-reply' ? 1 : 0);
    out += gauge('probe_failed_due_to_regex', b.probe_failed_due_to_regex, expectFailed === 'line' && peerEnded ? 1 : 0);
  }
  if (m.prober === 'tcp' || m.prober === 'http') {
    out += gauge('probe_ip_addr_hash', b.probe_ip_addr_hash, run.ipHash ?? 0);
    out += gauge('probe_ip_protocol', b.probe_ip_protocol, run.ipProtocol);
  }
  const tls = tlsSeries(r);
  out += tls.before;
  out += gauge('probe_success', b.probe_success, run.success ? 1 : 0);
  out += tls.after;
  out += gauge('sockprobe_connect_seconds', s.sockprobe_connect_seconds, r.status === 'open' || r.status === 'not-ready' ? r.connectMs / 1000 : 0);
  const icmp = icmpSender(r);
  if (icmp !== undefined) out += gauge('sockprobe_icmp_sender_info', s.sockprobe_icmp_sender_info, 1, icmp);
  out += gauge('sockprobe_probe_status', s.sockprobe_probe_status, 1, { status: r.status, reason: r.reason });
  const retransmits = synRetransmits(r);
  if (retransmits !== undefined) out += gauge('sockprobe_syn_retransmits', s.sockprobe_syn_retransmits, retransmits);
  out += tls.verified;
  return out;
}
