// One line of plain English for any probe result. The wording per reason
// lives in typed tables, so a reason added to the union without words here
// is a compile error, as is a status missing from the switch.
import { describeValue } from './describe-value';
import { formatHost } from './target';
import {
  assertNever,
  type AddressResult,
  type BlockedReason,
  type DnsErrorReason,
  type LocalErrorReason,
  type CheckDetail,
  type NeighbourDetail,
  type NotReadyReason,
  type OpenReason,
  type ProbeResult,
  type RefusedReason,
  type UnreachableReason,
} from './types';

const openWords: Record<OpenReason, string> = {
  'syn-ack': 'the handshake completed',
  accepted: 'the listener accepted the connection',
  settled: 'the handshake completed and the peer kept the connection open',
  data: 'the handshake completed and the peer spoke first',
};

const notReadyWords: Record<NotReadyReason, string> = {
  'tls-handshake': 'the TLS handshake failed',
  'cert-expired': 'its certificate has expired',
  'cert-not-yet-valid': 'its certificate is not valid yet',
  'cert-untrusted': 'its certificate is not trusted (self-signed, an unknown CA, or a chain missing an intermediate)',
  'cert-name-mismatch': 'its certificate is for another name',
  'http-status': 'it answered with an HTTP status outside the expected ones',
  'body-mismatch': 'its response body does not match the expected pattern',
  'starting-up': 'it is starting up or recovering, and not accepting work yet',
  loading: 'it is loading its data set and not serving yet',
  'too-many-connections': 'it has reached its connection limit',
  'unexpected-reply': 'it answered, but not as the protocol expects',
  'closed-before-reply': 'it closed the connection before answering',
  'reset-before-reply': 'it reset the connection before answering',
  'no-reply': 'it accepted the connection but did not answer in time',
  'auth-failed': 'it refused the credentials',
  'server-error': 'it answered with an error',
};

const refusedWords: Record<RefusedReason, string> = {
  reset: 'the host answered with a TCP reset: nothing listens on that port (or a firewall rejects with tcp-reset)',
  'conn-refused': 'the socket file exists but nothing listens on it',
  'reset-after-accept': 'the connection was accepted and then reset at once (a proxy whose backend is down?)',
  'closed-after-accept': 'the connection was accepted and then closed at once (a proxy whose backend is down?)',
  'backlog-full': "the listener's queue is full: it is not accepting connections fast enough",
};

const blockedWords: Record<BlockedReason, string> = {
  'port-unreach': 'a filter rejected it with ICMP port unreachable',
  'proto-unreach': 'a filter rejected it with ICMP protocol unreachable',
  'admin-prohibited': 'a firewall rejected it (ICMP administratively prohibited)',
  'host-prohibited': 'a firewall rejected it (ICMP host prohibited)',
  'net-prohibited': 'a firewall rejected it (ICMP network prohibited)',
  'reject-route': 'a reject route refused it (ICMPv6 reject route)',
  'perm-denied': 'this machine denied it: a local firewall rule, a prohibit route or missing permission on the socket file',
};

const unreachableWords: Record<UnreachableReason, string> = {
  'no-route': 'there is no route to that address',
  'net-unreach': 'the network is unreachable',
  'host-unreach': 'the host is unreachable (no answer to ARP/neighbour discovery, or a router said so)',
  'beyond-scope': 'the address is beyond the scope of the source address',
  'time-exceeded': 'the packet expired on the way (a routing loop?)',
  blackhole: 'a blackhole route discards traffic to it',
  'no-socket-file': 'the socket file does not exist',
  'dest-unreach': 'a router said the destination is unreachable',
};

const localWords: Record<LocalErrorReason, string> = {
  'no-ports': 'this machine has no free ephemeral port for it (EADDRNOTAVAIL)',
  'no-descriptors': 'this process or machine is out of file descriptors',
  'no-memory': 'the kernel is out of memory for sockets',
  'bad-local-address': 'the local address cannot be bound here',
  'bad-address': 'the address cannot be connected to from here',
  'bad-path': 'the socket path is not usable',
  'wrong-socket-type': 'the socket file is not a stream socket',
  'local-error': 'this machine failed before anything was sent',
};

const dnsWords: Record<DnsErrorReason, string> = {
  'not-found': 'the name does not exist',
  'no-data': 'the name has no address of the family asked for',
  'temporary-failure': 'the resolver failed temporarily (no DNS server answered?)',
  'dns-timeout': 'name resolution did not finish before the deadline',
  'resolver-error': 'the resolver failed',
};

function isProbeResult(r: ProbeResult | AddressResult): r is ProbeResult {
  return 'attempts' in r;
}

function ms(value: number): string {
  return value < 10 ? `${Math.round(value * 100) / 100} ms` : `${Math.round(value)} ms`;
}

/** `host:port`, the resolved address in parentheses when it differs from what was asked, or `unix:/path`. */
function where(r: ProbeResult | AddressResult): string {
  if (r.status === 'dns-error') return `${formatHost(isProbeResult(r) ? r.host : '?')}:${r.port}`;
  if (r.family === 'unix') return `unix:${r.address}`;
  const asked = isProbeResult(r) ? r.host : r.address;
  const base = `${formatHost(asked)}:${r.port ?? ''}`;
  return asked === r.address ? base : `${base} (${r.address})`;
}

function from(r: { from?: string }): string {
  return r.from === undefined ? '' : `, from ${r.from}`;
}

/** Other addresses of the name that did not answer like the top-level one: `(::1 refused)`. */
function others(r: ProbeResult | AddressResult): string {
  if (!isProbeResult(r) || r.attempts.length < 2) return '';
  const rest = r.attempts.filter((a) => !(a.address === r.address && a.status === r.status));
  if (rest.length === 0) return '';
  return ` [${rest.map((a) => `${a.address} ${a.status}`).join(', ')}]`;
}

/** 'ARP' or 'NDP' reply words for a next hop: 'no ARP reply from 198.18.1.99 on c0'. */
function noReply(n: NeighbourDetail): string {
  const who = n.gateway ? `the gateway ${n.address}` : n.address;
  return `no ${n.protocol === 'ndp' ? 'NDP' : 'ARP'} reply from ${who} on ${n.interface}`;
}

/**
 * The words for a next hop whose link-layer address was never resolved:
 * 'no ARP reply from 198.18.1.99 on c0: the host is down or not on this link'.
 */
export function neighbourWords(n: NeighbourDetail): string {
  return `${noReply(n)}: the ${n.gateway ? 'router' : 'host'} is down or not on this link${n.state === 'failed' ? ' (the kernel gave up resolving it)' : ''}`;
}

/** For a timeout whose next hop was still being resolved at the deadline: too soon to tell. */
function unresolvedNote(r: { neighbour?: NeighbourDetail }): string {
  const n = r.neighbour;
  if (n === undefined || n.state !== 'incomplete') return '';
  const age = n.ageMs === null ? '' : ` for ${ms(n.ageMs)}`;
  return `; ${noReply(n)} yet${age}: the SYN has not left this machine, too soon to tell a down host from a drop`;
}

/** A check's own sentence, named: 'tls: TLSv1.3 ..., certificate verified (...)'. */
function checkWords(c: CheckDetail): string {
  return `${c.name}: ${c.detail}`;
}

/** The plain-English words for a result's reason, without the address: 'nothing listens on that port'. */
export function reasonWords(result: ProbeResult | AddressResult): string {
  const r = result;
  if (typeof r !== 'object' || r === null) throw new TypeError(`result must be a probe result object, got ${describeValue(r)}`);
  switch (r.status) {
    case 'open':
      return words(openWords, r.reason);
    case 'not-ready':
      return words(notReadyWords, r.reason);
    case 'refused':
      return words(refusedWords, r.reason);
    case 'blocked':
      return words(blockedWords, r.reason);
    case 'unreachable':
      if (r.neighbour !== undefined && r.reason === 'host-unreach') return neighbourWords(r.neighbour);
      return words(unreachableWords, r.reason);
    case 'timeout':
      return 'nothing answered: dropped by a firewall, or a listener that is not accepting';
    case 'local-error':
      return words(localWords, r.reason);
    case 'dns-error':
      return words(dnsWords, r.reason);
    default:
      return assertNever(r, 'unknown probe status');
  }
}

/** The table's own entry: a reason from outside the union is a TypeError, never 'undefined' or Object.prototype's. */
function words<R extends string>(table: Record<R, string>, reason: R): string {
  if (typeof reason !== 'string' || !Object.hasOwn(table, reason)) throw new TypeError(`unknown reason: ${String(reason)}`);
  return table[reason];
}

/** One line of plain English for a probe result or a single address's result. */
export function describe(result: ProbeResult | AddressResult): string {
  const r = result;
  const words = reasonWords(r); // first: it checks that `result` is a result at all
  const at = where(r);
  switch (r.status) {
    case 'open':
      return `${at} is open: ${words} in ${ms(r.connectMs)}${r.check === undefined ? '' : `; ${checkWords(r.check)}`}${others(r)}`;
    case 'not-ready':
      return `${at} is not ready: ${words}: ${checkWords(r.check)} (connected in ${ms(r.connectMs)})${others(r)}`;
    case 'refused':
      return `${at} refused the connection: ${words}${others(r)}`;
    case 'blocked':
      return `${at} is blocked: ${words}${from(r)}${others(r)}`;
    case 'unreachable':
      return `${at} is unreachable: ${words}${from(r)}${others(r)}`;
    case 'timeout': {
      const retries = r.synRetransmits === null ? '' : `, SYN sent ${r.synRetransmits} more time${r.synRetransmits === 1 ? '' : 's'}`;
      if (unresolvedNote(r) !== '') return `${at} timed out after ${ms(r.elapsedMs)}${unresolvedNote(r)}${others(r)}`;
      return `${at} timed out: nothing answered in ${ms(r.elapsedMs)}${retries} (dropped by a firewall, or a listener that is not accepting)${others(r)}`;
    }
    case 'local-error':
      return `${at} failed on this machine: ${words} (${r.code} at ${r.stage})${others(r)}`;
    case 'dns-error':
      return `${at} did not resolve: ${words} (${r.code})`;
    default:
      return assertNever(r, 'unknown probe status');
  }
}
