// One /probe request: a module run against a target, the way
// blackbox_exporter's tcp and unix probers do it (its address choice:
// preferred_ip_protocol, ip_protocol_fallback; one address probed), with
// sockprobe's probe() underneath so the result says why.
import { isIP } from 'node:net';
import { describe } from '../describe';
import { lookup, dnsReason, probe, type ProbeOptions } from '../probe';
import { parseTarget } from '../target';
import type { CheckSpec } from '../checks/index';
import type { Step } from '../checks/send-expect';
import type { TlsCheckOptions } from '../checks/tls';
import type { ProbeResult } from '../types';
import type { HttpModule, Module, TcpModule } from './config';
import { addressAllowed, admit, type Denied } from './gate';
import type { AllowRule } from './config';

/** What one probe found, in the terms the series are made of. */
export interface ProbeRun {
  success: boolean;
  durationS: number;
  /** Time resolving the name took (0 for an address or a path). */
  dnsS: number;
  /** 4 or 6 once an address was chosen; 0 otherwise (a path, a name that did not resolve). */
  ipProtocol: 0 | 4 | 6;
  /** blackbox_exporter's FNV-1a hash of the chosen address; undefined when none was chosen. */
  ipHash: number | undefined;
  result: ProbeResult;
  /** The probe's log lines, for debug=true (logfmt, as blackbox_exporter writes them). */
  logs: string[];
}

export type Outcome = { kind: 'run'; run: ProbeRun } | { kind: 'denied'; denied: Denied } | { kind: 'bad-target'; reason: string };

/** blackbox_exporter's probe_ip_addr_hash: FNV-1a (32 bit) of the address's bytes (4 for IPv4, 16 for IPv6). */
export function ipHash(address: string): number {
  const bytes: number[] = [];
  if (isIP(address) === 4) for (const part of address.split('.')) bytes.push(Number(part));
  else {
    const [head = '', tail] = address.split('%')[0]!.split('::') as [string, string | undefined];
    const words = (s: string): number[] => (s === '' ? [] : s.split(':')).flatMap((w) => (w.includes('.') ? v4Words(w) : [parseInt(w, 16)]));
    const h = words(head);
    const t = tail === undefined ? [] : words(tail);
    const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
    for (const w of all) bytes.push(w >> 8, w & 0xff);
  }
  let hash = 0x811c9dc5;
  for (const b of bytes) {
    hash ^= b;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function v4Words(dotted: string): number[] {
  const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

/** A logfmt value, quoted when it must be. */
function lf(v: string | number): string {
  const s = String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

class Log {
  readonly lines: string[] = [];
  constructor(
    private readonly enabled: boolean,
    private readonly prefix: string,
  ) {}
  add(level: 'debug' | 'info' | 'error', msg: string, fields: Record<string, string | number> = {}): void {
    if (!this.enabled) return;
    let line = `ts=${new Date().toISOString()} ${this.prefix} level=${level} msg=${lf(msg)}`;
    for (const [k, v] of Object.entries(fields)) line += ` ${k}=${lf(v)}`;
    this.lines.push(line);
  }
}

const round6 = (s: number): number => Math.round(s * 1e6) / 1e6;

interface Chosen {
  address: string;
  family: 4 | 6;
}

/** blackbox_exporter's chooseProtocol over the addresses dns.lookup found, in resolver order. */
function choose(m: TcpModule | HttpModule, found: readonly { address: string; family: number }[]): Chosen | undefined {
  const want = m.preferredIpProtocol === 'ip4' ? 4 : 6;
  const first = found.find((a) => a.family === want);
  if (first !== undefined) return { address: first.address, family: want };
  if (!m.ipProtocolFallback) return undefined;
  const other = found[0];
  return other === undefined ? undefined : { address: other.address, family: other.family === 6 ? 6 : 4 };
}

/**
 * The module's check for one target. The probe connects to the address chosen
 * here, so a check that would take the target's name from the probe (the tls
 * check's SNI and certificate name, the http check's Host header) is given
 * the name the target had, unless the module names one itself.
 */
function checkFor(m: Module, host: string | undefined, url?: URL): CheckSpec | undefined {
  const c = m.check;
  if (m.prober === 'http') return httpCheck(m, host, url);
  if (c === undefined || host === undefined || isIP(host) !== 0) return c;
  if ('tls' in c) return { tls: { servername: host, ...c.tls } };
  if ('https' in c) return { https: { host, ...c.https, tls: { servername: host, ...c.https.tls } } };
  if ('http' in c) return { http: { host, ...c.http } };
  if ('send-expect' in c) {
    // The runner takes `tls` on every protocol check (TLS first, then the exchange); CheckSpec's
    // send-expect entry does not list it, hence the wider type here.
    const se = c['send-expect'] as { steps: readonly Step[]; tls?: TlsCheckOptions };
    if (se.tls !== undefined) return { 'send-expect': { ...se, tls: { servername: host, ...se.tls } } } as CheckSpec;
  }
  return c;
}

/** An http module's check for its target URL: http, or https with tls_config (SNI and name: the URL's host unless server_name). */
function httpCheck(m: HttpModule, host: string | undefined, url: URL | undefined): CheckSpec {
  const path = url === undefined ? '/' : `${url.pathname}${url.search}`;
  const named = host !== undefined && isIP(host) === 0;
  const opts = { ...m.http, path, ...(named ? { host: url?.host ?? host } : {}) };
  if (url?.protocol !== 'https:') return { http: opts };
  return { https: { ...opts, tls: named ? { servername: host, ...m.tlsOptions } : m.tlsOptions } };
}

/** host:port of an http target ('http://h:8080/x', 'h:8080', 'https://[::1]/'), or why it is not one. */
function httpTarget(text: string): { url: URL; host: string; port: number } | string {
  let url: URL;
  try {
    url = new URL(/^https?:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return `'${text}' is not a URL (http://host:port/path)`;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return `'${text}' has no host`;
  return { url, host, port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) };
}

function probeOptions(m: Module, timeoutMs: number, signal: AbortSignal | undefined, host?: string, url?: URL): ProbeOptions {
  const o: ProbeOptions = { timeout: Math.max(1, timeoutMs), close: m.sockprobe.close };
  if (signal !== undefined) o.signal = signal;
  if (m.sockprobe.settleMs > 0) o.settle = m.sockprobe.settleMs;
  const check = checkFor(m, host, url);
  if (check !== undefined) o.check = check;
  return o;
}

/**
 * Runs `module` against `targetText` within `timeoutS`. Resolves with the run,
 * or with why the request is refused before any connection (not allowed, a
 * malformed target). Rejects only with an AbortError (the client went away).
 */
export async function runProbe(
  m: Module,
  targetText: string,
  timeoutS: number,
  rules: readonly AllowRule[] | null,
  signal: AbortSignal | undefined,
  debug: boolean,
): Promise<Outcome> {
  const started = performance.now();
  const log = new Log(debug, `module=${lf(m.name)} target=${lf(targetText)}`);
  log.add('info', 'Beginning probe', { probe: m.prober, timeout_seconds: timeoutS });
  const timeoutMs = timeoutS * 1000;
  if (m.prober === 'unix') {
    const path = targetText.startsWith('unix:') ? targetText.slice(5) : targetText;
    if (!path.startsWith('/')) return { kind: 'bad-target', reason: `module ${m.name} (prober unix) takes a socket path as the target (/run/app.sock), got '${targetText}'` };
    const a = admit(rules, { path });
    if (a.kind === 'denied') return { kind: 'denied', denied: a.denied };
    log.add('info', 'Dialing unix');
    const result = await probe({ path }, probeOptions(m, timeoutMs, signal));
    return { kind: 'run', run: finish(m, result, started, 0, 0, undefined, log) };
  }
  let target: { host: string; port: number };
  let url: URL | undefined;
  if (m.prober === 'http') {
    const t = httpTarget(targetText);
    if (typeof t === 'string') return { kind: 'bad-target', reason: `module ${m.name} (prober http): ${t}` };
    target = { host: t.host, port: t.port };
    url = t.url;
  } else {
    let t;
    try {
      t = parseTarget(targetText);
    } catch (error) {
      return { kind: 'bad-target', reason: (error as Error).message };
    }
    if ('path' in t) return { kind: 'bad-target', reason: `module ${m.name} (prober tcp) takes host:port as the target, got '${targetText}'` };
    target = t;
  }
  const a = admit(rules, target);
  if (a.kind === 'denied') return { kind: 'denied', denied: a.denied };
  const ipProtocol = m.preferredIpProtocol;
  log.add('info', 'Resolving target address', { target: target.host, ip_protocol: ipProtocol });
  const literal = isIP(target.host.split('%')[0] ?? '');
  let chosen: Chosen | undefined;
  let dnsS = 0;
  if (literal !== 0) {
    // An address needs no resolver; blackbox_exporter asks it anyway and gets the address back.
    if (literal === (ipProtocol === 'ip4' ? 4 : 6) || m.ipProtocolFallback) chosen = { address: target.host, family: literal === 6 ? 6 : 4 };
  } else {
    const t0 = performance.now();
    const found = await lookup(target.host, 0, timeoutMs, signal);
    dnsS = (performance.now() - t0) / 1000;
    if (!found.ok) {
      if (a.kind === 'check-address')
        return { kind: 'denied', denied: { code: 403, reason: `target ${target.host}:${target.port} did not resolve (${found.code}), so its address cannot be checked against the allowlist (sockprobe.allow)` } };
      log.add('error', 'Resolution with IP protocol failed', { target: target.host, err: found.code });
      return { kind: 'run', run: finish(m, dnsError(target.host, target.port, found.code, dnsS), started, dnsS, 0, undefined, log) };
    }
    chosen = choose(m, found.addresses);
  }
  if (chosen === undefined) {
    log.add('error', 'Resolution with IP protocol failed', { target: target.host, ip_protocol: ipProtocol, err: 'no address of that protocol and ip_protocol_fallback is false' });
    return { kind: 'run', run: finish(m, dnsError(target.host, target.port, 'ENODATA', dnsS), started, dnsS, 0, undefined, log) };
  }
  log.add('info', 'Resolved target address', { target: target.host, ip: chosen.address });
  if (a.kind === 'check-address' && rules !== null) {
    const d = addressAllowed(rules, target.host, chosen.address, target.port);
    if (d !== null) return { kind: 'denied', denied: d };
  }
  const remaining = timeoutMs - (performance.now() - started);
  const options = probeOptions(m, remaining, signal, target.host, url);
  let result: ProbeResult;
  if (m.prober === 'tcp' && m.sourceIpAddress !== undefined) {
    if (isIP(m.sourceIpAddress) !== chosen.family) {
      log.add('error', 'Error dialing TCP', { err: `source_ip_address ${m.sourceIpAddress} is not of the target's family (IPv${chosen.family})` });
      result = badLocal(target.host, chosen, target.port);
      return { kind: 'run', run: finish(m, result, started, dnsS, chosen.family, ipHash(chosen.address), log) };
    }
    options.localAddress = m.sourceIpAddress;
    log.add('debug', 'Using local address', { srcIP: m.sourceIpAddress });
  }
  log.add('info', m.check === undefined ? 'Dialing TCP without TLS' : `Dialing TCP, then sockprobe's ${Object.keys(m.check)[0] ?? ''} check`);
  result = await probe(chosen.address, target.port, options);
  // probe() of an address says nothing of the name: put it back.
  result.host = target.host;
  result.dnsMs = Math.round(dnsS * 1e6) / 1000;
  return { kind: 'run', run: finish(m, result, started, dnsS, chosen.family, ipHash(chosen.address), log) };
}

function dnsError(host: string, port: number, code: string, dnsS: number): ProbeResult {
  const ms = Math.round(dnsS * 1e6) / 1000;
  return { status: 'dns-error', reason: dnsReason(code), code, errno: null, address: null, family: null, port, elapsedMs: ms, host, attempts: [], dnsMs: ms };
}

function badLocal(host: string, chosen: Chosen, port: number): ProbeResult {
  const r = { status: 'local-error', reason: 'bad-local-address', code: 'EAFNOSUPPORT', errno: 97, stage: 'bind', address: chosen.address, family: chosen.family, port, elapsedMs: 0 } as const;
  return { ...r, host, attempts: [r], dnsMs: 0 };
}

function finish(m: Module, result: ProbeResult, started: number, dnsS: number, ipProtocol: 0 | 4 | 6, hash: number | undefined, log: Log): ProbeRun {
  const success = result.status === 'open';
  const durationS = (performance.now() - started) / 1000;
  if (success) log.add('info', 'Successfully dialed');
  else log.add('error', m.prober === 'unix' ? 'Error dialing unix' : 'Error dialing TCP', { status: result.status, reason: result.reason, err: describe(result) });
  log.add(success ? 'info' : 'error', success ? 'Probe succeeded' : 'Probe failed', { duration_seconds: round6(durationS) });
  return { success, durationS, dnsS, ipProtocol, ipHash: hash, result, logs: log.lines };
}
