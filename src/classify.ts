// Turns an engine's raw facts into the result union. The only place where
// errno values, ICMP types and codes get a meaning. Errors are classified by
// name ('ECONNREFUSED'), not number: the numbers differ per OS (111 on Linux,
// 61 on macOS, 10061 on Windows), and errnoName() is where they are named.
import * as os from 'node:os';
import { nativeLoad, type RawOutcome, type RawIcmp, type RawNeighbour, type RawStage, type RawTcpInfo } from './binding';
import type {
  AddressResult,
  BlockedReason,
  BlockedResult,
  Family,
  LocalErrorReason,
  LocalErrorResult,
  LocalErrorStage,
  NeighbourDetail,
  NeighbourState,
  OpenResult,
  RefusedResult,
  TcpDetail,
  TimeoutResult,
  UnreachableReason,
  UnreachableResult,
} from './types';
import { TCP_STATE } from './tcp-states';
import { withCheck } from './checks/result';

/**
 * errno number -> name. The addon's table first (the OS's numbers as libuv
 * names them: Windows' 10061 is 'ECONNREFUSED'), then os.constants.errno,
 * which is the OS's own numbering on Linux and macOS and what the node engine
 * and the settle check give numbers from. A binary without the table leaves
 * os.constants.errno alone.
 */
const errnoNames = new Map<number, string>();
const nativeNames = nativeLoad.ok ? nativeLoad.binding.errnoNames : undefined;
if (nativeNames !== undefined) {
  for (const [value, name] of Object.entries(nativeNames)) errnoNames.set(Number(value), name);
}
for (const [name, value] of Object.entries(os.constants.errno)) {
  // First name wins: EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Linux errno values Node's os.constants.errno leaves out (its list is the
// one libuv knows), named here so a result never says E112. Linux numbers only.
// The ones a socket can meet: ICMP host-unknown (3/7) gives EHOSTDOWN and
// host-isolated (3/8) ENONET (the kernel's icmp_err_convert).
const LINUX_ONLY_ERRNOS: readonly [number, string][] = [
  [64, 'ENONET'],
  [70, 'ECOMM'],
  [94, 'ESOCKTNOSUPPORT'],
  [96, 'EPFNOSUPPORT'],
  [108, 'ESHUTDOWN'],
  [109, 'ETOOMANYREFS'],
  [112, 'EHOSTDOWN'],
  [132, 'ERFKILL'],
];
if (process.platform === 'linux') for (const [value, name] of LINUX_ONLY_ERRNOS) if (!errnoNames.has(value)) errnoNames.set(value, name);
const E = os.constants.errno;

/** The name of an errno as the OS (or the engine) gave it: 'ECONNREFUSED'; `E<n>` when it has none. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

const ORIGIN_ICMP = 2;
const ORIGIN_ICMP6 = 3;

type IcmpVerdict =
  | { status: 'blocked'; reason: BlockedReason }
  | { status: 'unreachable'; reason: UnreachableReason };

/** ICMP destination unreachable / time exceeded, IPv4 (RFC 792, 1812). */
function icmp4Verdict(type: number, code: number): IcmpVerdict {
  if (type === 11) return { status: 'unreachable', reason: 'time-exceeded' };
  if (type !== 3) return { status: 'unreachable', reason: 'dest-unreach' };
  switch (code) {
    case 0:
    case 6:
    case 11:
      return { status: 'unreachable', reason: 'net-unreach' };
    case 1:
    case 7:
    case 12:
      return { status: 'unreachable', reason: 'host-unreach' };
    case 2:
      return { status: 'blocked', reason: 'proto-unreach' };
    case 3:
      return { status: 'blocked', reason: 'port-unreach' };
    case 9:
      return { status: 'blocked', reason: 'net-prohibited' };
    case 10:
      return { status: 'blocked', reason: 'host-prohibited' };
    case 13:
    case 14:
    case 15:
      return { status: 'blocked', reason: 'admin-prohibited' };
    default:
      return { status: 'unreachable', reason: 'dest-unreach' };
  }
}

/** ICMPv6 destination unreachable / time exceeded (RFC 4443). */
function icmp6Verdict(type: number, code: number): IcmpVerdict {
  if (type === 3) return { status: 'unreachable', reason: 'time-exceeded' };
  if (type !== 1) return { status: 'unreachable', reason: 'dest-unreach' };
  switch (code) {
    case 0:
      return { status: 'unreachable', reason: 'no-route' };
    case 1:
    case 5:
      return { status: 'blocked', reason: 'admin-prohibited' };
    case 2:
      return { status: 'unreachable', reason: 'beyond-scope' };
    case 3:
      return { status: 'unreachable', reason: 'host-unreach' };
    case 4:
      return { status: 'blocked', reason: 'port-unreach' };
    case 6:
      return { status: 'blocked', reason: 'reject-route' };
    default:
      return { status: 'unreachable', reason: 'dest-unreach' };
  }
}

function icmpVerdict(icmp: RawIcmp): IcmpVerdict | null {
  if (icmp.origin === ORIGIN_ICMP) return icmp4Verdict(icmp.type, icmp.code);
  if (icmp.origin === ORIGIN_ICMP6) return icmp6Verdict(icmp.type, icmp.code);
  return null;
}

/**
 * After a failed handshake the kernel leaves its initial values in tcp_info
 * (rtt 0 with rttvar 250000 µs, mss 524/536): only a completed handshake
 * gives a measured RTT and a negotiated MSS.
 */
function tcpDetail(tcp: RawTcpInfo | undefined, connected: boolean, endedInStart: boolean): TcpDetail | undefined {
  if (tcp === undefined) return endedInStart ? { rttUs: null, rttVarUs: null, mss: null, synRetransmits: 0 } : undefined;
  const measured = connected && (tcp.state === TCP_STATE.established || tcp.state >= TCP_STATE['close-wait'] || tcp.rtt > 0);
  return {
    rttUs: measured ? known(tcp.rtt) : null,
    rttVarUs: measured ? known(tcp.rttvar) : null,
    mss: connected ? known(tcp.sndMss) : null,
    synRetransmits: known(tcp.totalRetrans),
  };
}

/** A TCP info column the platform does not fill is NaN in the record (record.ts): null here, never a number. */
function known(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

/** NUD_* bits (<linux/neighbour.h>), most telling first when more than one is set. */
const NUD: readonly [number, NeighbourState][] = [
  [0x20, 'failed'],
  [0x01, 'incomplete'],
  [0x10, 'probe'],
  [0x08, 'delay'],
  [0x04, 'stale'],
  [0x02, 'reachable'],
  [0x80, 'permanent'],
  [0x40, 'noarp'],
];

/** The neighbour evidence of a raw outcome; undefined when the entry could not be read. */
function neighbourDetail(n: RawNeighbour | undefined, family: Family): NeighbourDetail | undefined {
  if (n === undefined || n.lookup === 'unread') return undefined;
  let state: NeighbourState = n.lookup === 'none' ? 'no-entry' : 'none';
  if (n.lookup === 'entry') {
    for (const [bit, name] of NUD) {
      if ((n.state & bit) !== 0) {
        state = name;
        break;
      }
    }
  }
  return {
    address: n.address,
    protocol: family === 6 ? 'ndp' : 'arp',
    state,
    gateway: n.gateway,
    interface: n.interface !== '' ? n.interface : `#${n.ifindex}`,
    ageMs: n.lookup === 'entry' && n.updatedMs >= 0 ? n.updatedMs : null,
    retransMs: n.retransMs >= 0 ? n.retransMs : null,
  };
}

/**
 * At a deadline: the next hop's link-layer address was never resolved, so the
 * SYN never left. 'failed' is the kernel's own verdict; 'incomplete' counts
 * only once unanswered for at least one retransmit interval (a younger entry
 * may yet be answered: too soon to tell).
 */
function neighbourUnresolved(n: NeighbourDetail): boolean {
  if (n.state === 'failed') return true;
  return n.state === 'incomplete' && n.ageMs !== null && n.retransMs !== null && n.ageMs >= n.retransMs;
}

export interface AttemptTarget {
  address: string;
  family: Family;
  port: number | null;
}

const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;

/**
 * The addon's step names in the words a local-error result shows. 'timeout'
 * is not here: a deadline is a timeout result, never a local error.
 */
const stageWords: Record<Exclude<RawStage, 'timeout'>, LocalErrorStage> = {
  socket: 'socket',
  setsockopt: 'socket-option',
  address: 'address',
  bind: 'bind',
  connect: 'connect',
  poll: 'watch',
  so_error: 'handshake',
  errqueue: 'error-queue',
  // The addon says 'connected' only with errno 0 (an open result); an error
  // that came with it would be the answer to the finished handshake.
  connected: 'handshake',
};

function localReason(code: string, stage: RawStage): LocalErrorReason {
  if (stage === 'address') return 'bad-address';
  if (code === 'EMFILE' || code === 'ENFILE') return 'no-descriptors';
  if (code === 'ENOBUFS' || code === 'ENOMEM') return 'no-memory';
  if (stage === 'bind') return code === 'EADDRNOTAVAIL' ? 'bad-local-address' : 'local-error';
  if (code === 'EADDRNOTAVAIL' || code === 'EADDRINUSE') return 'no-ports';
  return 'local-error';
}

type Failed = Exclude<AddressResult, { status: 'open' }>;

/**
 * A failure result: the keys of `{ status, reason, code, errno, address,
 * family, port, elapsedMs, ...(tcp ? { tcp } : {}) }` in that order, built as
 * one literal and a store instead of object spreads (V8 copies each spread
 * through a runtime call). Callers add their member's remaining keys
 * (synRetransmits, from and icmp, stage) right after, in the union's order.
 */
function failed<R extends Failed>(
  status: R['status'],
  reason: R['reason'],
  errno: number,
  code: string,
  target: AttemptTarget,
  elapsedMs: number,
  tcp: TcpDetail | undefined,
): R {
  const r = {
    status,
    reason,
    code,
    errno,
    address: target.address,
    family: target.family,
    port: target.port,
    elapsedMs,
  } as unknown as R;
  if (tcp !== undefined) r.tcp = tcp;
  return r;
}

/** The address-level result for one raw outcome. */
export function classify(raw: RawOutcome, target: AttemptTarget): AddressResult {
  const isUnix = target.family === 'unix';
  const elapsedMs = ms(raw.elapsedNs);
  const connected = raw.errno === 0 && raw.stage === 'connected';
  const tcp = isUnix ? undefined : tcpDetail(raw.tcp, connected, raw.endedInStart === true);

  if (connected) {
    if (raw.settle === 'fin' || raw.settle === 'reset') {
      const errno = raw.settle === 'reset' ? (raw.settleErrno || E.ECONNRESET) : E.ECONNRESET;
      const r: RefusedResult = {
        status: 'refused',
        reason: raw.settle === 'reset' ? 'reset-after-accept' : 'closed-after-accept',
        code: raw.settle === 'reset' ? errnoName(errno) : 'EOF',
        errno: raw.settle === 'reset' ? errno : 0,
        address: target.address,
        family: target.family,
        port: target.port,
        elapsedMs,
      };
      if (tcp !== undefined) r.tcp = tcp;
      return r;
    }
    // Stores after the literal, in the union's key order: an engine that
    // cannot read a socket option leaves its field out, never 0.
    const r = {
      status: 'open',
      reason: raw.settle === 'quiet' ? 'settled' : raw.settle === 'data' ? 'data' : isUnix ? 'accepted' : 'syn-ack',
      code: null,
      errno: null,
      address: target.address,
      family: target.family,
      port: target.port,
      elapsedMs,
      connectMs: ms(raw.connectNs),
    } as OpenResult;
    if (raw.sndbuf !== undefined) r.sndbuf = raw.sndbuf;
    if (raw.rcvbuf !== undefined) r.rcvbuf = raw.rcvbuf;
    r.local = { address: raw.localAddress, port: raw.localPort };
    if (tcp !== undefined) r.tcp = tcp;
    return raw.check === undefined ? r : withCheck(r, raw.check);
  }

  // A deadline is sockprobe's, not the kernel's: the engine reports no errno
  // for it, and the result says ETIMEDOUT, as Node does for its own timeouts.
  const timedOut = raw.stage === 'timeout';
  const errno = timedOut ? E.ETIMEDOUT : raw.errno;
  const code = timedOut ? 'ETIMEDOUT' : raw.code ?? errnoName(raw.errno);

  if (raw.stage === 'timeout' || code === 'ETIMEDOUT') {
    const neighbour = timedOut && !isUnix ? neighbourDetail(raw.neighbour, target.family) : undefined;
    if (neighbour !== undefined && neighbourUnresolved(neighbour)) {
      // The errno the kernel gives itself when its neighbour resolution fails.
      const r = failed<UnreachableResult>('unreachable', 'host-unreach', E.EHOSTUNREACH, 'EHOSTUNREACH', target, elapsedMs, tcp);
      r.neighbour = neighbour;
      return r;
    }
    const r = failed<TimeoutResult>('timeout', 'no-response', errno, code, target, elapsedMs, tcp);
    r.synRetransmits = tcp ? tcp.synRetransmits : null;
    if (neighbour !== undefined) r.neighbour = neighbour;
    return r;
  }

  // An ICMP message on the error queue is the most precise evidence there is:
  // it tells a router's port-unreachable (also ECONNREFUSED) from a host's RST.
  if (raw.icmp !== undefined) {
    const verdict = icmpVerdict(raw.icmp);
    if (verdict !== null) {
      const r =
        verdict.status === 'blocked'
          ? failed<BlockedResult>('blocked', verdict.reason, errno, code, target, elapsedMs, tcp)
          : failed<UnreachableResult>('unreachable', verdict.reason, errno, code, target, elapsedMs, tcp);
      if (raw.icmp.offender !== '') r.from = raw.icmp.offender;
      r.icmp = { type: raw.icmp.type, code: raw.icmp.code };
      return r;
    }
  }

  if (raw.stage === 'connect' || raw.stage === 'so_error' || raw.stage === 'errqueue') {
    switch (code) {
      case 'ECONNREFUSED':
        return failed<RefusedResult>('refused', isUnix ? 'conn-refused' : 'reset', errno, code, target, elapsedMs, tcp);
      case 'ECONNRESET':
      case 'EPIPE':
        // The kernel gives ECONNREFUSED for an RST answering the SYN; ECONNRESET
        // (EPIPE after the peer's FIN) only once the handshake had completed:
        // the peer accepted, then reset before the probe first looked.
        if (!isUnix) return failed<RefusedResult>('refused', 'reset-after-accept', errno, code, target, elapsedMs, tcp);
        return failed<RefusedResult>('refused', 'reset', errno, code, target, elapsedMs, tcp);
      case 'EAGAIN':
      case 'EWOULDBLOCK':
        if (isUnix) return failed<RefusedResult>('refused', 'backlog-full', errno, code, target, elapsedMs, tcp);
        break;
      case 'ENETUNREACH':
        return failed<UnreachableResult>('unreachable', 'no-route', errno, code, target, elapsedMs, tcp);
      case 'EHOSTUNREACH':
        return failed<UnreachableResult>('unreachable', 'host-unreach', errno, code, target, elapsedMs, tcp);
      case 'ENETDOWN':
        return failed<UnreachableResult>('unreachable', 'net-unreach', errno, code, target, elapsedMs, tcp);
      case 'EACCES':
      case 'EPERM':
        return failed<BlockedResult>('blocked', 'perm-denied', errno, code, target, elapsedMs, tcp);
      case 'ENOENT':
        if (isUnix) return failed<UnreachableResult>('unreachable', 'no-socket-file', errno, code, target, elapsedMs, tcp);
        break;
      case 'EINVAL':
        // connect() says EINVAL for a route of type blackhole.
        if (!isUnix && raw.stage === 'connect') return failed<UnreachableResult>('unreachable', 'blackhole', errno, code, target, elapsedMs, tcp);
        break;
      case 'EPROTOTYPE':
        return localError('wrong-socket-type', errno, code, target, elapsedMs, tcp, raw.stage);
      case 'ENOTDIR':
      case 'ELOOP':
      case 'ENAMETOOLONG':
        if (isUnix) return localError('bad-path', errno, code, target, elapsedMs, tcp, raw.stage);
        break;
      default:
        break;
    }
  }
  return localError(localReason(code, raw.stage), errno, code, target, elapsedMs, tcp, raw.stage);
}

function localError(
  reason: LocalErrorReason,
  errno: number,
  code: string,
  target: AttemptTarget,
  elapsedMs: number,
  tcp: TcpDetail | undefined,
  stage: Exclude<RawStage, 'timeout'>,
): LocalErrorResult {
  const r = failed<LocalErrorResult>('local-error', reason, errno, code, target, elapsedMs, tcp);
  r.stage = stageWords[stage];
  return r;
}

const rank: Record<AddressResult['status'], number> = {
  open: 0,
  // Connected, but the service said it is not ready: more telling than any TCP failure.
  'not-ready': 1,
  refused: 2,
  blocked: 3,
  unreachable: 4,
  'local-error': 5,
  timeout: 6,
};

/**
 * The attempt that best answers "what happened": an open one if any, else
 * the most telling failure: a service that is not ready, a host's refusal, then a filter's rejection, then
 * unreachability, then a local error, and silence last.
 */
export function mostTelling(attempts: readonly AddressResult[]): AddressResult | undefined {
  let best: AddressResult | undefined;
  for (const a of attempts) {
    if (best === undefined || rank[a.status] < rank[best.status]) best = a;
  }
  return best;
}
