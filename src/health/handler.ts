// healthHandler(): a (req, res) handler for node:http that answers a health
// report (GET /) and Prometheus metrics (GET /metrics). It probes only the
// targets given here, caches a round for `cacheMs`, and lets every request
// that arrives meanwhile share the one round in flight. Connections the
// application registers are inspected in every round too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import type * as PromClient from 'prom-client';
import { describeValue } from '../describe-value';
import type { CheckDetail, ProbeResult } from '../types';
import { checkNonNegativeMs, checkOptions } from '../validate';
import { checkSettings, runCheck, type CheckReport } from './check';
import { ConnectionRegistry, type ConnectionCheck, type ConnectionOptions, type HealthConnection } from './connections';
import { checkTargetsAgainst, normalizeTargets, now, round3, type HealthTarget, type PassThroughProbeOptions } from './targets';

export interface HealthHandlerOptions extends PassThroughProbeOptions {
  /** Timeout of each probe, ms. Default 1000 (Kubernetes' timeoutSeconds). */
  timeout?: number;
  /** How long a round's results answer requests, ms; 0 probes per request (still one round in flight at a time). Default 1000. */
  cacheMs?: number;
  /** Path of the health report. Default '/'. */
  path?: string;
  /** Path of the Prometheus metrics. Default '/metrics'. */
  metricsPath?: string;
  /** Connections the application holds, inspected every round (more with handler.register()). */
  connections?: readonly HealthConnection[];
}

export interface HealthReport {
  status: 'healthy' | 'unhealthy';
  ok: boolean;
  /** When the round that answers started (ISO 8601). */
  checkedAt: string;
  durationMs: number;
  /** Age of the round's results when this answer was made, ms. */
  ageMs: number;
  targets: Array<{
    target: string;
    ok: boolean;
    status: ProbeResult['status'];
    reason: string;
    code: string | null;
    address: string | null;
    elapsedMs: number;
    /** What the target's check (tls, https, a protocol) found, when it has one and it ran. */
    check?: CheckDetail;
  }>;
  /** The registered connections, as inspected in this round. */
  connections: ConnectionCheck[];
}

/** A request handler for node:http (and for Express, Fastify and Koa through their raw req/res). */
export type HealthHandler = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** Rounds of probes run so far. */
  readonly rounds: number;
  /** Watches `socket` under `name` (replacing one of the same name) until unregister(name) or until it closes. */
  register(name: string, socket: net.Socket | tls.TLSSocket, options?: ConnectionOptions): void;
  /** Stops watching `name`; false when nothing was registered under it. */
  unregister(name: string): boolean;
};

interface Round {
  report: CheckReport;
  connections: ConnectionCheck[];
  /** Every target open and every connection healthy. */
  ok: boolean;
  startedWall: number;
  finished: number;
}

// prom-client takes about 100 ms to load: it is loaded when the first
// handler is made, not when sockprobe is imported.
let promClient: typeof PromClient | undefined;
function prom(): typeof PromClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  promClient ??= require('prom-client') as typeof PromClient;
  return promClient;
}

function checkPath(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${describeValue(value)}`);
  if (!value.startsWith('/') || value.includes('?') || value.length > 1024)
    throw new RangeError(`${name} must start with '/', have no query and be at most 1024 characters, got '${value}'`);
  return value;
}

class Metrics {
  readonly registry: PromClient.Registry;
  readonly success: PromClient.Gauge<'target'>;
  readonly duration: PromClient.Gauge<'target'>;
  readonly dns: PromClient.Gauge<'target'>;
  readonly ipProtocol: PromClient.Gauge<'target'>;
  readonly status: PromClient.Gauge<'target' | 'status' | 'reason'>;
  readonly connect: PromClient.Gauge<'target'>;
  readonly synRetransmits: PromClient.Gauge<'target'>;
  readonly rounds: PromClient.Counter;
  readonly lastRound: PromClient.Gauge;
  readonly requests: PromClient.Counter<'path' | 'code'>;
  readonly sslEarliest: PromClient.Gauge<'target'>;
  readonly sslLastChain: PromClient.Gauge<'target'>;
  readonly tlsVersion: PromClient.Gauge<'target' | 'version'>;
  readonly tlsVerified: PromClient.Gauge<'target' | 'code'>;
  readonly httpStatus: PromClient.Gauge<'target'>;
  readonly httpDuration: PromClient.Gauge<'target' | 'phase'>;
  readonly failedDueToRegex: PromClient.Gauge<'target'>;
  /** The gauges of the checks' series: reset every round, so a target's series go when its check no longer reports them. */
  readonly checkGauges: readonly PromClient.Gauge<string>[];
  readonly connHealthy: PromClient.Gauge<'connection'>;
  readonly connGauges: ReadonlyArray<readonly [PromClient.Gauge<'connection'>, (c: ConnectionCheck) => number | undefined]>;

  constructor() {
    const p = prom();
    // A private registry: never the process-wide default one.
    const registers = [(this.registry = new p.Registry())];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): PromClient.Gauge<L> =>
      new p.Gauge<L>({ name, help, labelNames, registers });
    this.success = gauge('probe_success', 'Displays whether or not the probe was a success', ['target']);
    this.duration = gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds', ['target']);
    this.dns = gauge('probe_dns_lookup_time_seconds', 'Returns the time taken for probe dns lookup in seconds', ['target']);
    this.ipProtocol = gauge('probe_ip_protocol', 'Specifies whether probe ip protocol is IP4 or IP6 (0: Unix socket or no address)', ['target']);
    this.status = gauge('sockprobe_probe_status', "1 for the probe's current status and reason (open, not-ready, refused, blocked, unreachable, timeout, local-error, dns-error; not-ready's reason says why: cert-expired, starting-up...)", ['target', 'status', 'reason']);
    this.connect = gauge('sockprobe_connect_seconds', 'Time the TCP or Unix handshake took, when the target was open (or open but not ready)', ['target']);
    // blackbox_exporter's names and meanings for what the tls and http checks see.
    this.sslEarliest = gauge('probe_ssl_earliest_cert_expiry', 'Returns earliest SSL cert expiry in unixtime (of the certificates the server presented, verified or not)', ['target']);
    this.sslLastChain = gauge('probe_ssl_last_chain_expiry_timestamp_seconds', 'Returns last SSL chain expiry in timestamp (the earliest expiry of the verified chain; absent when it did not verify)', ['target']);
    this.tlsVersion = gauge('probe_tls_version_info', 'Returns the TLS version used or NaN when unknown', ['target', 'version']);
    this.tlsVerified = gauge('sockprobe_tls_verified', "1 when the server's certificate verified (chain, dates, name); code is the verification error otherwise", ['target', 'code']);
    this.httpStatus = gauge('probe_http_status_code', 'Response HTTP status code (0 when no response came)', ['target']);
    this.httpDuration = gauge('probe_http_duration_seconds', 'Duration of http request by phase', ['target', 'phase']);
    this.failedDueToRegex = gauge('probe_failed_due_to_regex', 'Indicates if probe failed due to regex', ['target']);
    this.checkGauges = [this.sslEarliest, this.sslLastChain, this.tlsVersion, this.tlsVerified, this.httpStatus, this.httpDuration, this.failedDueToRegex] as PromClient.Gauge<string>[];
    this.synRetransmits = gauge('sockprobe_syn_retransmits', 'SYN retransmissions of the last probe (TCP info; no sample when the engine or platform does not tell)', ['target']);
    this.rounds = new p.Counter({ name: 'sockprobe_probe_rounds_total', help: 'Rounds of probes run by this handler', registers });
    this.lastRound = new p.Gauge({ name: 'sockprobe_probe_last_round_timestamp_seconds', help: 'When the last round of probes started, seconds since the epoch', registers });
    this.requests = new p.Counter({ name: 'sockprobe_health_requests_total', help: 'Requests answered by the health handler, by path (health, metrics, other) and HTTP status code', labelNames: ['path', 'code'], registers });
    const conn = (name: string, help: string): PromClient.Gauge<'connection'> => gauge(name, help, ['connection']);
    this.connHealthy = conn('sockprobe_connection_healthy', 'Whether the registered connection is healthy (1) or not (0): see the JSON report for the reason');
    const us = (v: number | undefined): number | undefined => (v === undefined ? undefined : v / 1e6);
    // Gauges, not counters: a name can be registered again with a new socket,
    // whose kernel counters start again from zero.
    this.connGauges = [
      [conn('sockprobe_connection_rtt_seconds', 'Smoothed round-trip time of the registered connection (TCP_INFO)'), (c) => us(c.snapshot?.rttUs)],
      [conn('sockprobe_connection_rtt_variance_seconds', 'Round-trip time variance of the registered connection (TCP_INFO)'), (c) => us(c.snapshot?.rttVarUs)],
      [conn('sockprobe_connection_retransmits', 'Consecutive retransmission timeouts of the segment in flight (TCP_INFO; 0 on a healthy path)'), (c) => c.snapshot?.retransmits],
      [conn('sockprobe_connection_total_retrans', "Segments retransmitted over the socket's life (TCP_INFO; a gauge: it restarts when a new socket is registered under the name)"), (c) => c.snapshot?.totalRetrans],
      [conn('sockprobe_connection_send_queue_bytes', 'Bytes written and not yet acknowledged by the peer (SIOCOUTQ)'), (c) => c.snapshot?.sendQueue],
      [conn('sockprobe_connection_recv_queue_bytes', 'Bytes received and not yet read by the application (SIOCINQ)'), (c) => c.snapshot?.recvQueue],
      [conn('sockprobe_connection_snd_cwnd_segments', 'Congestion window of the registered connection, segments (TCP_INFO)'), (c) => c.snapshot?.sndCwnd],
    ];
  }

  private recordCheck(target: string, c: CheckDetail, dnsMs: number): void {
    const t = c.tls;
    if (t !== undefined) {
      const seconds = (iso: string | null): number | undefined => (iso === null ? undefined : Date.parse(iso) / 1000);
      const earliest = seconds(t.earliestNotAfter);
      if (earliest !== undefined) this.sslEarliest.set({ target }, earliest);
      const verified = seconds(t.verifiedChainNotAfter);
      if (verified !== undefined) this.sslLastChain.set({ target }, verified);
      if (t.version !== null) this.tlsVersion.set({ target, version: t.version }, 1);
      this.tlsVerified.set({ target, code: t.verifyError ?? '' }, t.authorized ? 1 : 0);
    }
    const h = c.http;
    if (h !== undefined) {
      this.httpStatus.set({ target }, h.status ?? 0);
      const p = h.phases;
      const processing = Math.max(0, p.firstByte);
      this.httpDuration.set({ target, phase: 'resolve' }, dnsMs / 1000);
      this.httpDuration.set({ target, phase: 'connect' }, p.connect / 1000);
      this.httpDuration.set({ target, phase: 'tls' }, p.tls / 1000);
      this.httpDuration.set({ target, phase: 'processing' }, processing / 1000);
      this.httpDuration.set({ target, phase: 'transfer' }, Math.max(0, p.total - p.connect - p.tls - processing) / 1000);
      this.failedDueToRegex.set({ target }, h.bodyMatched === false ? 1 : 0);
    }
  }

  record(r: Round): void {
    this.rounds.inc();
    this.lastRound.set(r.startedWall / 1000);
    // Only the current status series of each target: drop the previous ones.
    this.status.reset();
    for (const g of this.checkGauges) g.reset();
    for (const { target, result } of r.report.results) {
      this.success.set({ target }, result.status === 'open' ? 1 : 0);
      this.duration.set({ target }, result.elapsedMs / 1000);
      this.dns.set({ target }, result.dnsMs / 1000);
      this.ipProtocol.set({ target }, result.family === 4 || result.family === 6 ? result.family : 0);
      this.status.set({ target, status: result.status, reason: result.reason }, 1);
      const connected = result.status === 'open' || result.status === 'not-ready';
      this.connect.set({ target }, connected ? result.connectMs / 1000 : 0);
      if (connected && result.check !== undefined) this.recordCheck(target, result.check, result.dnsMs);
      const retransmits = result.status === 'timeout' ? result.synRetransmits : result.status === 'dns-error' ? null : result.tcp?.synRetransmits;
      // Unknown (no TCP info on this engine or platform): no sample, rather than a 0 that reads as a fact.
      if (retransmits === null || retransmits === undefined) this.synRetransmits.remove({ target });
      else this.synRetransmits.set({ target }, retransmits);
    }
    // Only the connections registered now: a series goes when its connection does.
    this.connHealthy.reset();
    for (const [g] of this.connGauges) g.reset();
    for (const c of r.connections) {
      const labels = { connection: c.connection };
      this.connHealthy.set(labels, c.ok ? 1 : 0);
      // A value the socket or kernel does not give is no series, not a zero.
      for (const [g, read] of this.connGauges) {
        const v = read(c);
        if (v !== undefined) g.set(labels, v);
      }
    }
  }
}

function report(r: Round): HealthReport {
  return {
    status: r.ok ? 'healthy' : 'unhealthy',
    ok: r.ok,
    checkedAt: new Date(r.startedWall).toISOString(),
    durationMs: r.report.durationMs,
    ageMs: round3(Math.max(0, now() - r.finished)),
    targets: r.report.results.map(({ target, ok, result }) => ({
      target,
      ok,
      status: result.status,
      reason: result.reason,
      code: result.code,
      address: result.address,
      elapsedMs: result.elapsedMs,
      ...((result.status === 'open' || result.status === 'not-ready') && result.check !== undefined ? { check: result.check } : {}),
    })),
    connections: r.connections,
  };
}

function send(res: ServerResponse, code: number, type: string, body: string, head: boolean, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed || res.writableEnded) return;
  res.writeHead(code, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(head ? undefined : body);
}

/**
 * A `(req, res)` handler: GET/HEAD `path` (default '/') answers 200 with a
 * JSON report when every target is open, 503 otherwise; GET/HEAD
 * `metricsPath` (default '/metrics') answers Prometheus text. Other paths 404,
 * other methods 405. Nothing in a request chooses what is probed.
 */
export function healthHandler(targets: HealthTarget | readonly HealthTarget[], options?: HealthHandlerOptions): HealthHandler {
  const list = normalizeTargets(targets, true);
  const o = checkOptions(options);
  const s = checkSettings({ ...o, signal: undefined }, 1000);
  checkTargetsAgainst(list, s.pass);
  const cacheMs = checkNonNegativeMs(o.cacheMs === undefined ? 1000 : o.cacheMs, 'cacheMs');
  const healthPath = checkPath(o.path, 'path', '/');
  const metricsPath = checkPath(o.metricsPath, 'metricsPath', '/metrics');
  if (healthPath === metricsPath) throw new RangeError(`path and metricsPath must differ, both are '${healthPath}'`);
  let cached: Round | undefined;
  // A new or removed connection shows in the next answer, not after the cache time.
  const registry = new ConnectionRegistry(o.connections, () => {
    cached = undefined;
  });
  const metrics = new Metrics();
  let inFlight: Promise<Round> | undefined;
  let rounds = 0;

  const current = (): Promise<Round> => {
    if (cached !== undefined && now() - cached.finished < cacheMs) return Promise.resolve(cached);
    if (inFlight === undefined) {
      const startedWall = Date.now();
      rounds++;
      // Read at the round's start, synchronously: a socket cannot close between being listed and being read.
      const connections = registry.inspectAll();
      inFlight = runCheck(list, s)
        .then((r): Round => {
          const round: Round = { report: r, connections, ok: r.ok && connections.every((c) => c.ok), startedWall, finished: now() };
          metrics.record(round);
          cached = round;
          return round;
        })
        .finally(() => {
          inFlight = undefined;
        });
    }
    return inFlight;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const which = path === healthPath ? 'health' : path === metricsPath ? 'metrics' : 'other';
    const head = req.method === 'HEAD';
    let code: number;
    if (which === 'other') {
      code = 404;
      send(res, code, 'application/json; charset=utf-8', JSON.stringify({ error: 'not found' }), head);
    } else if (req.method !== 'GET' && !head) {
      code = 405;
      send(res, code, 'application/json; charset=utf-8', JSON.stringify({ error: 'method not allowed' }), false, { allow: 'GET, HEAD' });
    } else {
      const round = await current();
      if (which === 'health') {
        code = round.ok ? 200 : 503;
        send(res, code, 'application/json; charset=utf-8', JSON.stringify(report(round)), head);
      } else {
        code = 200;
        metrics.requests.inc({ path: which, code: String(code) });
        send(res, code, metrics.registry.contentType, await metrics.registry.metrics(), head);
        return;
      }
    }
    metrics.requests.inc({ path: which, code: String(code) });
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      // Nothing above should fail; if something does, answer 500 rather than leave the request hanging.
      try {
        send(res, 500, 'application/json; charset=utf-8', JSON.stringify({ error: 'internal error' }), false);
      } catch {
        res.destroy();
      }
      process.emitWarning(`sockprobe healthHandler: ${String(error)}`);
    });
  };
  Object.defineProperty(handler, 'rounds', { get: () => rounds, enumerable: true });
  const h = handler as HealthHandler;
  h.register = (name, socket, opts) => registry.register(name, socket, opts);
  h.unregister = (name) => registry.unregister(name);
  return h;
}
