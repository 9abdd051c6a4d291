// explain(): the "connection refused" troubleshooting checklist, run for real.
// Resolution, route, a probe of every address, and for a local target the
// listeners on the port, then the most likely cause in plain words and the
// next thing to check.
import * as dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { describe, reasonWords } from './describe';
import { listenerAccepts, readTcpListeners, type TcpListener } from './procnet';
import { probe, type ProbeOptions, type ProbeTarget } from './probe';
import { formatHost, formatTarget, parseTarget } from './target';
import { assertNever, type AddressResult, type CheckDetail, type NotReadyReason, type ProbeResult, type ProbeResultOf, type Status } from './types';
import { isObject } from './validate';

/** pass: fine; warn: works, but not for everyone; fail: this is where it breaks; skip: does not apply. */
export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';

interface StepBase {
  verdict: Verdict;
  /** One line of plain English. */
  summary: string;
  /** Further lines of evidence, one fact each. */
  details: string[];
}

export interface ResolveStep extends StepBase {
  step: 'resolve';
  host: string;
  /** Every address in resolver order (the order most clients try them in). */
  addresses: { address: string; family: 4 | 6 }[];
  dnsMs: number;
  /** The resolver's error code, when resolution failed. */
  code: string | null;
}

export interface RouteEntry {
  address: string;
  family: 4 | 6;
  /** Source address the kernel picks for this destination; null when it has no route. */
  source: string | null;
  /** Interface that owns the source address, from os.networkInterfaces(). */
  interface: string | null;
  /** errno name when the kernel refused to route (ENETUNREACH, EHOSTUNREACH, EACCES...). */
  code: string | null;
}

export interface RouteStep extends StepBase {
  step: 'route';
  routes: RouteEntry[];
}

export interface ProbeStep extends StepBase {
  step: 'probe';
  result: ProbeResult;
}

export interface ListenersStep extends StepBase {
  step: 'listeners';
  port: number;
  /** Every TCP listener on the port in this network namespace, any address. */
  listeners: TcpListener[];
  /** Per probed address: the listeners that accept connections to it. */
  accepting: { address: string; family: 4 | 6; listeners: TcpListener[] }[];
}

export interface SocketFileStep extends StepBase {
  step: 'socket-file';
  path: string;
  exists: boolean;
  isSocket: boolean;
  /** Permission bits as octal text ('0660'), owner uid and gid, when the file exists. */
  mode: string | null;
  uid: number | null;
  gid: number | null;
}

/** What the service answered once connected (a target with a check), and what to do about it. */
export interface ServiceStep extends StepBase {
  step: 'service';
  /** The check's evidence: what was sent, the first bytes received, the facts read. */
  check: CheckDetail;
  /** Set when the service is not ready. */
  reason: NotReadyReason | null;
  /** What to do. */
  advice: string;
}

export type Step = ResolveStep | RouteStep | ProbeStep | ListenersStep | SocketFileStep | ServiceStep;

export type CauseCode =
  | 'open'
  | 'ipv4-only'
  | 'ipv6-only'
  | 'partly-open'
  | 'dns-error'
  | 'no-route'
  | 'nothing-listening'
  | 'other-address'
  | 'refused-despite-listener'
  | 'refused'
  | 'closed-after-accept'
  | 'not-ready'
  | 'blocked'
  | 'unreachable'
  | 'overloaded'
  | 'timeout'
  | 'local-error'
  | 'no-socket-file'
  | 'not-a-socket'
  | 'stale-socket-file'
  | 'permission-denied';

export interface Diagnosis {
  /** The target as text: host:port, [v6]:port or unix:/path. */
  target: string;
  /** True when every address is open. */
  ok: boolean;
  /** The probe's top-level status. */
  status: Status;
  steps: Step[];
  cause: { code: CauseCode; text: string };
  /** The next thing to check or do. */
  next: string;
  elapsedMs: number;
}

export type ExplainOptions = ProbeOptions;

// ---------------------------------------------------------------- helpers

const v4Loopback = /^127\./;

/** Loopback, a wildcard (which connects to this host), or an address of one of this host's interfaces. */
export function isLocalAddress(address: string): boolean {
  const plain = address.split('%', 1)[0] ?? address;
  const bare = plain.startsWith('::ffff:') && plain.includes('.') ? plain.slice(7) : plain;
  if (v4Loopback.test(bare) || bare === '::1' || bare === '0.0.0.0' || bare === '::') return true;
  return interfaceOf(bare) !== null;
}

function interfaceOf(address: string): string | null {
  const plain = address.split('%', 1)[0] ?? address;
  for (const [name, infos] of Object.entries(os.networkInterfaces())) {
    if (infos?.some((i) => i.address === plain)) return name;
  }
  return null;
}

/**
 * The source address the kernel would use for `address`, found by
 * connecting a UDP socket: connect() on a datagram socket only picks the
 * route and the source; nothing is sent.
 */
function route(address: string, family: 4 | 6, port: number): Promise<RouteEntry> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    const done = (entry: RouteEntry): void => {
      socket.close();
      resolve(entry);
    };
    const failed = (error: NodeJS.ErrnoException): void =>
      done({ address, family, source: null, interface: null, code: error.code ?? 'EINVAL' });
    socket.on('error', failed);
    // With a callback, dgram hands a connect() error to it rather than emitting 'error'.
    socket.connect(port, address, (error?: Error) => {
      if (error) return failed(error);
      const source = socket.address().address;
      done({ address, family, source, interface: interfaceOf(source), code: null });
    });
  });
}

function family(f: 4 | 6): string {
  return `IPv${f}`;
}

function listenerText(l: TcpListener): string {
  const owner = l.pid === undefined ? `uid ${l.uid}` : `${l.command ?? '?'}, pid ${l.pid}`;
  return `${formatHost(l.address)}:${l.port} (${owner})`;
}

function join(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1] ?? ''}`;
}

// ---------------------------------------------------------------- steps

function resolveStep(r: ProbeResult, port: number): ResolveStep {
  const addresses = r.attempts.flatMap((a) => (a.family === 'unix' ? [] : [{ address: a.address, family: a.family }]));
  if (r.status === 'dns-error')
    return {
      step: 'resolve',
      verdict: 'fail',
      summary: describe(r),
      details: [],
      host: r.host,
      addresses,
      dnsMs: r.dnsMs,
      code: r.code,
    };
  const numeric = r.attempts.length === 1 && r.attempts[0]?.address === r.host;
  const list = addresses.map((a) => `${a.address} (${family(a.family)})`).join(', ');
  return {
    step: 'resolve',
    verdict: 'pass',
    summary: numeric
      ? `${formatHost(r.host)}:${port} is a numeric ${family(addresses[0]?.family ?? 4)} address: nothing to resolve`
      : `${r.host} resolves to ${list} in ${Math.round(r.dnsMs * 100) / 100} ms`,
    details: [],
    host: r.host,
    addresses,
    dnsMs: r.dnsMs,
    code: null,
  };
}

async function routeStep(r: ProbeResult, port: number): Promise<RouteStep> {
  const routes = await Promise.all(
    r.attempts.flatMap((a) => (a.family === 'unix' ? [] : [route(a.address, a.family, port)])),
  );
  const lines = routes.map((e) =>
    e.source === null
      ? `${e.address}: no route (${e.code ?? '?'})`
      : `${e.address}: from ${e.source}${e.interface === null ? '' : ` via ${e.interface}`}`,
  );
  const failed = routes.filter((e) => e.source === null).length;
  const verdict: Verdict = routes.length === 0 ? 'skip' : failed === 0 ? 'pass' : failed === routes.length ? 'fail' : 'warn';
  return {
    step: 'route',
    verdict,
    summary: routes.length === 0 ? "no address to route" : lines.join("; "),
    details: [],
    routes,
  };
}

function probeStep(r: ProbeResult): ProbeStep {
  const open = r.attempts.filter((a) => a.status === 'open').length;
  const verdict: Verdict = open === 0 ? 'fail' : open === r.attempts.length ? 'pass' : 'warn';
  return {
    step: 'probe',
    verdict,
    summary: describe(r),
    details: r.attempts.length > 1 ? r.attempts.map((a) => describe(a)) : [],
    result: r,
  };
}

async function listenersStep(r: ProbeResult, port: number): Promise<ListenersStep> {
  const ips = r.attempts.flatMap((a) => (a.family === 'unix' ? [] : [{ address: a.address, family: a.family }]));
  const base = { step: 'listeners' as const, port, details: [] as string[] };
  const local = ips.filter((a) => isLocalAddress(a.address));
  if (local.length === 0)
    return {
      ...base,
      verdict: 'skip',
      summary: 'not an address of this host: its listeners cannot be read from here',
      listeners: [],
      accepting: [],
    };
  const listeners = await readTcpListeners(port);
  const accepting = local.map((a) => ({ ...a, listeners: listeners.filter((l) => listenerAccepts(l, a.address, a.family)) }));
  const served = accepting.filter((a) => a.listeners.length > 0);
  const unserved = accepting.filter((a) => a.listeners.length === 0).map((a) => a.address);
  const verdict: Verdict = unserved.length === 0 ? 'pass' : served.length === 0 ? 'fail' : 'warn';
  let summary: string;
  if (listeners.length === 0) summary = `nothing listens on port ${port} on this host (/proc/net/tcp, /proc/net/tcp6)`;
  else {
    summary = `port ${port} listeners: ${listeners.map(listenerText).join(', ')}`;
    if (unserved.length > 0) summary += `; none accepts ${join(unserved)}`;
  }
  return { ...base, verdict, summary, listeners, accepting };
}

async function socketFileStep(path: string): Promise<SocketFileStep> {
  const base = { step: 'socket-file' as const, path, details: [] as string[] };
  try {
    const st = await fs.stat(path);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const isSocket = st.isSocket();
    return {
      ...base,
      verdict: isSocket ? 'pass' : 'fail',
      summary: isSocket
        ? `${path} is a socket file (mode ${mode}, uid ${st.uid}, gid ${st.gid})`
        : `${path} exists but is not a socket (mode ${mode})`,
      exists: true,
      isSocket,
      mode,
      uid: st.uid,
      gid: st.gid,
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOENT';
    return {
      ...base,
      verdict: 'fail',
      summary: code === 'ENOENT' ? `${path} does not exist` : `${path} cannot be inspected (${code})`,
      exists: code !== 'ENOENT',
      isSocket: false,
      mode: null,
      uid: null,
      gid: null,
    };
  }
}

/** What to do about a service that is not ready, by reason. */
const advice: Record<NotReadyReason, (c: CheckDetail) => string> = {
  'tls-handshake': () => 'check that the port speaks TLS (not plain text), and the protocol versions, ciphers and ALPN both sides accept (openssl s_client -connect)',
  'cert-expired': (c) => `renew the certificate${c.tls?.leaf ? ` (${c.tls.leaf.subject}, expired ${c.tls.leaf.notAfter})` : ''} and reload the service; then check that renewal runs by itself`,
  'cert-not-yet-valid': () => "check this machine's clock and the server's; the certificate's notBefore is in the future",
  'cert-untrusted': (c) =>
    c.tls?.verifyError === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || c.tls?.verifyError === 'UNABLE_TO_GET_ISSUER_CERT'
      ? 'the server does not send its intermediate certificate: configure the full chain (leaf, then intermediates) on the server'
      : 'use a certificate from a CA the clients trust, or give the clients that CA (--ca)',
  'cert-name-mismatch': (c) => `use a certificate whose subjectAltName covers ${c.tls?.servername ?? 'the name clients connect to'}, or connect with the name it carries`,
  'http-status': (c) => `look at the service's logs and at what answers ${c.http?.path ?? 'the path'} (a proxy's 502/503 means its backend is down)`,
  'body-mismatch': () => 'look at the response body: the service answers, but not with what a healthy instance says',
  'starting-up': () => 'wait for the start-up or recovery to finish (a standby with hot_standby = off never accepts queries: point clients at the primary)',
  loading: () => 'wait for the data set to load; a restart starts the loading again',
  'too-many-connections': () => 'the connection limit is reached: find who holds the connections (a leak, a missing pool), or raise the limit (max_connections)',
  'unexpected-reply': () => 'check that this port serves the protocol asked for (another service, a proxy, TLS where plain text was expected?)',
  'closed-before-reply': () => 'the service accepts and closes: look at its logs (a proxy whose backend is down, an access rule, a full connection table)',
  'reset-before-reply': () => 'the service accepts and resets: look at its logs (a proxy whose backend is down, an access rule)',
  'no-reply': () => 'the service accepts but does not answer: it is stuck or overloaded, or it waits for the client to speak another protocol',
  'auth-failed': () => 'check the credentials the check uses',
  'server-error': (c) => `read the error (${c.detail}) and the service's logs`,
};

function serviceStep(r: ProbeResult): ServiceStep | undefined {
  if (r.status !== 'open' && r.status !== 'not-ready') return undefined;
  if (r.check === undefined) return undefined;
  const ready = r.status === 'open';
  return {
    step: 'service',
    verdict: ready ? 'pass' : 'fail',
    summary: `${r.check.name}: ${r.check.detail}`,
    details: [
      ...(r.check.sent === '' ? [] : [`sent: ${r.check.sent}`]),
      ...(r.check.received === '' ? [] : [`received: ${r.check.received}`]),
      ...Object.entries(r.check.facts).map(([k, v]) => `${k}: ${String(v)}`),
    ],
    check: r.check,
    reason: ready ? null : r.reason,
    advice: ready ? 'nothing to do: the service answered as a ready one does' : advice[r.reason](r.check),
  };
}

// ---------------------------------------------------------------- cause

type Cause = { code: CauseCode; text: string; next: string };

function failedAttempts(r: ProbeResult): AddressResult[] {
  return r.attempts.filter((a) => a.status !== 'open');
}

/** Some addresses open, others not: the dual-stack trap when one family is open and the other refused. */
function partlyOpen(r: ProbeResult, target: string): Cause {
  const open = r.attempts.filter((a) => a.status === 'open');
  const failed = failedAttempts(r);
  const openFamilies = new Set(open.map((a) => a.family));
  const failedFamilies = new Set(failed.map((a) => a.family));
  const allRefused = failed.every((a) => a.status === 'refused');
  const list = (as: AddressResult[]): string => join(as.map((a) => a.address));
  if (allRefused && openFamilies.size === 1 && failedFamilies.size === 1 && !openFamilies.has('unix')) {
    const [openFamily] = openFamilies;
    const other = openFamily === 4 ? 6 : 4;
    if (failedFamilies.has(other)) {
      const code: CauseCode = openFamily === 4 ? 'ipv4-only' : 'ipv6-only';
      const wildcard = other === 6 ? ':: (which takes IPv4 too on Linux, unless IPV6_V6ONLY is set)' : '0.0.0.0 as well';
      return {
        code,
        text:
          `the service listens on IPv${String(openFamily)} only: ${r.host} resolves to ${join(r.attempts.map((a) => a.address))}; ` +
          `${list(open)} is open but ${list(failed)} refused. Clients that try ${list(failed)} first and do not fall back fail with "connection refused"`,
        next: `make the service listen on ${list(failed)} too, or on ${wildcard}; or point clients at ${list(open)} instead of ${r.host}`,
      };
    }
  }
  return {
    code: 'partly-open',
    text: `${target} is open on ${list(open)} but not on ${list(failed)}: clients that pick a failing address first may fail`,
    next: `check why ${list(failed)} fails (see the probe lines above), or make clients use ${list(open)}`,
  };
}

function refusedCause(r: ProbeResultOf<'refused'>, target: string, listeners: ListenersStep | undefined): Cause {
  const port = r.port ?? 0;
  if (r.reason === 'reset-after-accept' || r.reason === 'closed-after-accept')
    return {
      code: 'closed-after-accept',
      text: `something accepted the connection to ${target} and dropped it at once: typically a proxy or load balancer whose backend is down`,
      next: 'check the backend behind the proxy (docker-proxy, a load balancer) and its logs',
    };
  if (listeners === undefined || listeners.verdict === 'skip')
    return {
      code: 'refused',
      text: `${target}: the host answered with a TCP reset: nothing listens on port ${port} there, or a firewall rejects with tcp-reset`,
      next: `on ${r.host}, check that the service runs and listens on ${formatHost(r.address)}:${port} (ss -ltnp), and its firewall rules`,
    };
  if (listeners.listeners.length === 0)
    return {
      code: 'nothing-listening',
      text: `nothing listens on port ${port} on this host: no process has a TCP socket listening on it, on any address`,
      next: `start the service, or check which port it is configured for and whether it failed at start-up (its logs)`,
    };
  const served = listeners.accepting.filter((a) => a.listeners.length > 0);
  if (served.length === 0) {
    const bound = [...new Set(listeners.listeners.map((l) => l.address))];
    const wanted = join(listeners.accepting.map((a) => a.address));
    return {
      code: 'other-address',
      text: `something listens on port ${port}, but on ${join(bound)} only, not on ${wanted}`,
      next: `connect to ${join(bound.map((b) => `${formatHost(b)}:${port}`))}, or make the service listen on ${wanted} (or on 0.0.0.0 / :: for every address)`,
    };
  }
  return {
    code: 'refused-despite-listener',
    text: `a process listens on ${join(served.map((a) => a.address))} port ${port}, yet the connection was refused: a local firewall rule that rejects with tcp-reset, or the listener is in another network namespace`,
    next: 'look at the firewall rules (nft list ruleset) and at which namespace the service runs in',
  };
}

function tcpCause(r: ProbeResult, target: string, routes: RouteStep | undefined, listeners: ListenersStep | undefined): Cause {
  const open = r.attempts.filter((a) => a.status === 'open').length;
  if (open > 0 && open < r.attempts.length) return partlyOpen(r, target);
  if (open === 0 && routes?.verdict === 'fail')
    return {
      code: 'no-route',
      text: `this host has no route to ${join(routes.routes.map((e) => e.address))}`,
      next: `check the routing table (ip route get ${routes.routes[0]?.address ?? r.host}) and the interface that should reach it`,
    };
  switch (r.status) {
    case 'open':
      return { code: 'open', text: `${target} is open on every address`, next: 'nothing to fix: the connection works from here' };
    case 'dns-error':
      return {
        code: 'dns-error',
        text: `the name ${r.host} did not resolve (${r.code}): ${reasonWords(r)}`,
        next: `check the name for typos, then what the system resolver says (getent ahosts ${r.host}), /etc/hosts and /etc/resolv.conf`,
      };
    case 'refused':
      return refusedCause(r, target, listeners);
    case 'not-ready':
      return { code: 'not-ready', text: `${target} accepts connections but is not ready: ${reasonWords(r)}: ${r.check.detail}`, next: advice[r.reason](r.check) };
    case 'blocked':
      return {
        code: 'blocked',
        text: `connections to ${target} are rejected${r.from === undefined ? '' : ` (the rejection came from ${r.from})`}: ${reasonWords(r)}`,
        next:
          r.reason === 'perm-denied'
            ? `look at this host's firewall rules (nft list ruleset, iptables -L) and its routing policy (ip rule, ip route get ${r.address})`
            : `look at the firewall rules${r.from === undefined ? ' on this host and on the path' : ` on ${r.from}`} (nft list ruleset, iptables -L)`,
      };
    case 'unreachable':
      if (r.neighbour !== undefined)
        return {
          code: 'unreachable',
          text: `${target} cannot be reached: ${reasonWords(r)}; the SYN never left this machine`,
          next: `check that ${r.neighbour.address} is up and on the link ${r.neighbour.interface} (ip neigh show ${r.neighbour.address}; ip route get ${r.address})`,
        };
      return {
        code: 'unreachable',
        text: `${target} cannot be reached: ${reasonWords(r)}`,
        next: `check that the host is up and the route to it (ip route get ${r.address})`,
      };
    case 'timeout': {
      const accepting = listeners?.accepting.some((a) => a.listeners.length > 0) ?? false;
      if (accepting)
        return {
          code: 'overloaded',
          text: `a process listens on ${target} but did not complete the handshake in time: its accept queue is full (overloaded or stuck)`,
          next: 'look at the service: is it stuck or overloaded? (ss -ltn shows Recv-Q, the queue, against Send-Q, the backlog)',
        };
      if (r.neighbour?.state === 'incomplete')
        return {
          code: 'timeout',
          text: `the deadline came before ${r.neighbour.address} answered ${r.neighbour.protocol === 'ndp' ? 'neighbour discovery' : 'ARP'} on ${r.neighbour.interface}: the SYN had not left this machine yet`,
          next: `try a longer --timeout (above ${r.neighbour.retransMs ?? 1000} ms) to tell a host that is down from one that is slow to answer`,
        };
      return {
        code: 'timeout',
        text: `nothing answered ${target} before the deadline: something drops the packets silently (a firewall DROP rule), or the host is down`,
        next: 'check the firewall rules for a drop on this port, on this host, the path and the target; then try a longer --timeout',
      };
    }
    case 'local-error':
      return {
        code: 'local-error',
        text: `this machine failed before sending anything: ${reasonWords(r)}`,
        next:
          r.reason === 'no-ports'
            ? 'count connections in TIME_WAIT (ss -s) and look at net.ipv4.ip_local_port_range'
            : r.reason === 'no-descriptors'
              ? 'raise the descriptor limit (ulimit -n) or look for a descriptor leak in the client'
              : `look at the error ${r.code} at stage ${r.stage}`,
      };
    default:
      return assertNever(r, 'unknown probe status');
  }
}

function unixCause(r: ProbeResult, file: SocketFileStep, target: string): Cause {
  if (!file.exists)
    return {
      code: 'no-socket-file',
      text: `the socket file ${file.path} does not exist: the service is not running or uses another path`,
      next: 'start the service, or check the socket path in its configuration and in the client',
    };
  if (!file.isSocket && file.mode !== null)
    return {
      code: 'not-a-socket',
      text: `${file.path} is not a socket file`,
      next: 'check the path: it names a regular file or directory, not the service socket',
    };
  if (r.status === 'open') return { code: 'open', text: `${target} is open`, next: 'nothing to fix: the connection works from here' };
  if (r.status === 'refused' && r.reason === 'conn-refused')
    return {
      code: 'stale-socket-file',
      text: `the socket file ${file.path} exists but no process listens on it: a stale file left by a service that stopped`,
      next: 'restart the service (it usually removes and recreates the file) and look at why it stopped',
    };
  if (r.status === 'blocked' && r.reason === 'perm-denied')
    return {
      code: 'permission-denied',
      text: `this user may not connect to ${file.path} (mode ${file.mode ?? '?'}, uid ${String(file.uid)}, gid ${String(file.gid)})`,
      next: 'run as a user with write permission on the socket file, or add this user to its group',
    };
  return { code: r.status === 'refused' ? 'refused' : 'local-error', text: describe(r), next: 'see the probe line above' };
}

// ---------------------------------------------------------------- explain

/**
 * Runs the troubleshooting checklist for `target` (a 'host:port',
 * '[v6]:port' or 'unix:/path' string, or a ProbeTarget) and says what is
 * wrong. Never rejects for a network outcome; rejects only for bad
 * arguments and an aborted signal, like probe().
 */
export async function explain(target: string | ProbeTarget, options?: ExplainOptions): Promise<Diagnosis> {
  const started = performance.now();
  const t: ProbeTarget = typeof target === 'string' ? parseTarget(target) : target;
  if (!isObject(t)) throw new TypeError('target must be a string or an object');
  const text = formatTarget(t);
  const steps: Step[] = [];
  let cause: Cause;
  let result: ProbeResult;
  if ('path' in t) {
    const file = await socketFileStep(t.path);
    result = await probe(t, options);
    steps.push(file, probeStep(result));
    cause = unixCause(result, file, text);
    const service = serviceStep(result);
    if (service !== undefined) steps.push(service);
  } else {
    result = await probe(t, options);
    steps.push(resolveStep(result, t.port));
    let routes: RouteStep | undefined;
    let listeners: ListenersStep | undefined;
    if (result.status !== 'dns-error') {
      routes = await routeStep(result, t.port);
      listeners = await listenersStep(result, t.port);
      steps.push(routes, probeStep(result), listeners);
      const service = serviceStep(result);
      if (service !== undefined) steps.push(service);
    }
    cause = tcpCause(result, text, routes, listeners);
  }
  return {
    target: text,
    ok: result.attempts.length > 0 && result.attempts.every((a) => a.status === 'open'),
    status: result.status,
    steps,
    cause: { code: cause.code, text: cause.text },
    next: cause.next,
    elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
  };
}
