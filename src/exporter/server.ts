// The exporter's HTTP server, with blackbox_exporter's interface:
//   GET  /probe?target=&module=[&debug=true]   one probe, its series (or blackbox's debug text)
//   GET  /metrics                              the exporter's own metrics (prom-client, a registry of its own)
//   GET  /-/healthy                            200 Healthy
//   POST /-/reload                             reread the configuration (SIGHUP does the same, see cli.ts)
// A probe's deadline is the module's timeout, bounded by Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds minus --timeout-offset, as blackbox
// computes it. Before any connection, a request passes the per-client
// limits and the allowlist (gate.ts); one that fails gets a 4xx and nothing
// is probed.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as PromClient from 'prom-client';
import { AbortError } from '../errors';
import { ConfigError, loadConfig, type ExporterConfig, type Module } from './config';
import { ClientLimits } from './gate';
import { runProbe } from './prober';
import { renderProbe } from './series';

export interface ExporterOptions {
  configFile: string;
  /** A file holding only sockprobe's section (allowlist, limits), for a config shared with blackbox_exporter. */
  safetyFile?: string | undefined;
  /** Seconds taken off Prometheus's scrape timeout (blackbox's --timeout-offset). Default 0.5. */
  timeoutOffset?: number;
  /** Where log lines go (logfmt). Default: stderr. */
  log?: (line: string) => void;
}

export interface Exporter {
  readonly server: http.Server;
  /** Rereads the configuration; rejects (keeping the old one) when it cannot be used. */
  reload(): void;
  listen(host: string | undefined, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly config: ExporterConfig;
}

/** blackbox_exporter's getTimeout: the scrape timeout header (120 s without one) minus the offset, or the module's timeout when smaller. */
export function probeTimeout(header: string | undefined, moduleTimeoutMs: number, offset: number): number {
  let t = 0;
  if (header !== undefined && header !== '') {
    t = Number(header);
    if (!Number.isFinite(t) || !/^\s*[0-9.eE+-]+\s*$/.test(header)) throw new RangeError(`cannot parse '${header}' as seconds`);
  }
  if (t === 0) t = 120;
  const max = t - offset;
  const m = moduleTimeoutMs / 1000;
  return (m < max && m > 0) || max < 0 ? m : max;
}

function text(res: http.ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function logfmt(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${/^[^\s"=]+$/.test(String(v)) ? String(v) : JSON.stringify(String(v))}`)
    .join(' ');
}

class OwnMetrics {
  readonly registry: PromClient.Registry;
  readonly probes: PromClient.Counter<'module' | 'result'>;
  readonly refused: PromClient.Counter<'code'>;
  readonly unknownModule: PromClient.Counter;
  readonly reloadOk: PromClient.Gauge;
  readonly reloadTime: PromClient.Gauge;

  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const p = require('prom-client') as typeof PromClient;
    const registers = [(this.registry = new p.Registry())];
    p.collectDefaultMetrics({ register: this.registry });
    this.probes = new p.Counter({ name: 'sockprobe_exporter_probes_total', help: 'Probes run, by module and result (success, failure)', labelNames: ['module', 'result'], registers });
    this.refused = new p.Counter({ name: 'sockprobe_exporter_requests_refused_total', help: '/probe requests answered 4xx before any connection (400 bad request, 403 not allowed, 429 over a limit)', labelNames: ['code'], registers });
    this.unknownModule = new p.Counter({ name: 'blackbox_module_unknown_total', help: 'Count of unknown modules requested by probes', registers });
    this.reloadOk = new p.Gauge({ name: 'blackbox_exporter_config_last_reload_successful', help: 'Blackbox exporter config loaded successfully.', registers });
    this.reloadTime = new p.Gauge({ name: 'blackbox_exporter_config_last_reload_success_timestamp_seconds', help: 'Timestamp of the last successful configuration reload.', registers });
  }
}

function debugText(m: Module, logs: readonly string[], metrics: string): string {
  return `Logs for the probe:\n${logs.map((l) => `${l}\n`).join('')}\n\n\nMetrics that would have been returned:\n${metrics}\n\n\nModule configuration:\n${m.text}`;
}

/** Makes the exporter (loading the configuration: ConfigError when it cannot be used). Call listen() to serve. */
export function createExporter(options: ExporterOptions): Exporter {
  const offset = options.timeoutOffset ?? 0.5;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const info = (level: string, msg: string, fields: Record<string, string | number> = {}): void =>
    log(`ts=${new Date().toISOString()} ${logfmt({ level, msg, ...fields })}`);
  const metrics = new OwnMetrics();
  let config = loadConfig(options.configFile, options.safetyFile);
  metrics.reloadOk.set(1);
  metrics.reloadTime.set(Date.now() / 1000);
  const limits = new ClientLimits(config.safety.limits);
  const warnOpen = (): void => {
    if (config.safety.allow === null)
      info('warn', 'No allowlist (sockprobe.allow): any caller can make this exporter connect to any host and port, as blackbox_exporter does');
  };
  warnOpen();

  const reload = (): void => {
    try {
      config = loadConfig(options.configFile, options.safetyFile);
    } catch (error) {
      metrics.reloadOk.set(0);
      throw error;
    }
    limits.update(config.safety.limits);
    metrics.reloadOk.set(1);
    metrics.reloadTime.set(Date.now() / 1000);
    info('info', 'Reloaded config file', { modules: config.modules.size });
    warnOpen();
  };

  const refuse = (res: http.ServerResponse, code: 400 | 403 | 429, reason: string): void => {
    metrics.refused.inc({ code: String(code) });
    text(res, code, `${reason}\n`);
  };

  const probeRequest = async (req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): Promise<void> => {
    const moduleName = query.get('module') ?? 'http_2xx';
    const m = config.modules.get(moduleName);
    if (m === undefined) {
      metrics.unknownModule.inc();
      refuse(res, 400, `Unknown module "${moduleName}"`);
      return;
    }
    const target = query.get('target') ?? '';
    if (target === '') {
      refuse(res, 400, 'Target parameter is missing');
      return;
    }
    let timeoutS: number;
    try {
      const h = req.headers['x-prometheus-scrape-timeout-seconds'];
      timeoutS = probeTimeout(Array.isArray(h) ? h[0] : h, m.timeoutMs, offset);
    } catch (error) {
      text(res, 500, `Failed to parse timeout from Prometheus header: ${(error as Error).message}\n`);
      return;
    }
    if (!(timeoutS > 0)) {
      refuse(res, 400, `The probe's timeout is ${timeoutS} s: the scrape timeout is not larger than --timeout-offset (${offset} s)`);
      return;
    }
    const client = req.socket.remoteAddress ?? 'unknown';
    const over = limits.acquire(client);
    if (over !== null) {
      refuse(res, over.code, over.reason);
      return;
    }
    // The client going away aborts the probe (its sockets are closed at once).
    const controller = new AbortController();
    const onClose = (): void => controller.abort();
    res.once('close', onClose);
    try {
      const debug = query.get('debug') === 'true';
      const outcome = await runProbe(m, target, timeoutS, config.safety.allow, controller.signal, debug);
      switch (outcome.kind) {
        case 'bad-target':
          refuse(res, 400, outcome.reason);
          return;
        case 'denied':
          refuse(res, outcome.denied.code, outcome.denied.reason);
          return;
        case 'run': {
          metrics.probes.inc({ module: moduleName, result: outcome.run.success ? 'success' : 'failure' });
          const body = renderProbe(m, outcome.run);
          if (debug) text(res, 200, debugText(m, outcome.run.logs, body));
          else text(res, 200, body, 'text/plain; version=0.0.4; charset=utf-8');
          return;
        }
      }
    } catch (error) {
      if (!(error instanceof AbortError)) throw error;
    } finally {
      res.removeListener('close', onClose);
      limits.release(client);
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://exporter');
    switch (url.pathname) {
      case '/probe':
        return probeRequest(req, res, url.searchParams);
      case '/metrics':
        text(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
        return;
      case '/-/healthy':
        text(res, 200, 'Healthy');
        return;
      case '/-/reload':
        if (req.method !== 'POST') {
          text(res, 405, 'This endpoint requires a POST request.\n');
          return;
        }
        try {
          reload();
          text(res, 200, '');
        } catch (error) {
          const msg = error instanceof ConfigError ? error.message : String(error);
          info('error', 'Error reloading config', { err: msg });
          text(res, 500, `failed to reload config: ${msg}\n`);
        }
        return;
      case '/':
        text(res, 200, `sockprobe exporter (blackbox_exporter's interface)\nmodules: ${[...config.modules.keys()].join(', ')}\n/probe?target=HOST:PORT&module=NAME[&debug=true]  /metrics  /-/healthy  POST /-/reload\n`);
        return;
      default:
        text(res, 404, '404 page not found\n');
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      info('error', 'Internal error', { err: error instanceof Error ? error.message : String(error) });
      text(res, 500, 'internal error\n');
    });
  });
  server.keepAliveTimeout = 60_000;

  return {
    server,
    reload,
    get config() {
      return config;
    },
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.removeListener('error', reject);
          const a = server.address() as AddressInfo;
          info('info', 'Listening on', { address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}` });
          resolve(a);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
