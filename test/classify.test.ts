// classify() on its own, table-driven over raw outcomes: RawOutcome objects
// as the addon reports them (errno values from os.constants.errno, the
// addon's stage names, ICMP error-queue entries of origin 2 / 3 with the
// kernel's errno for each type and code, TCP_INFO, endedInStart, settle).
// Most of these need a firewall, a router or an exhausted machine to happen
// for real; the real kernel produces them in the other suites (probe, lab,
// faults). Here every member and reason classify() can give is reached.
import * as os from 'node:os';
import type { RawIcmp, RawNeighbour, RawOutcome, RawStage, RawTcpInfo } from '../src/binding';
import type { CheckOutcome } from '../src/checks/runner';
import { classify, mostTelling, type AttemptTarget } from '../src/classify';
import type {
  AddressResult,
  BlockedReason,
  LocalErrorReason,
  LocalErrorStage,
  NeighbourDetail,
  NotReadyReason,
  OpenReason,
  RefusedReason,
  Status,
  UnreachableReason,
} from '../src';

const E = os.constants.errno;

const tcp4: AttemptTarget = { address: '192.0.2.1', family: 4, port: 80 };
const tcp6: AttemptTarget = { address: '2001:db8::1', family: 6, port: 80 };
const unix: AttemptTarget = { address: '/run/app.sock', family: 'unix', port: null };

/** A raw outcome with the fields a row does not care about filled in as the addon leaves them. */
function raw(errno: number, stage: RawStage, more: Partial<RawOutcome> = {}): RawOutcome {
  return { errno, stage, elapsedNs: 1_234_567, connectNs: 0, sndbuf: 0, rcvbuf: 0, localAddress: '', localPort: 0, ...more };
}

/** An error-queue entry: origin 2 is ICMP, 3 ICMPv6 (SO_EE_ORIGIN_*); errno is what the kernel made of it. */
function icmp(origin: 1 | 2 | 3, type: number, code: number, errno: number, offender = '192.0.2.254'): Partial<RawOutcome> {
  const entry: RawIcmp = { errno, origin, type, code, info: 0, offender };
  return { icmp: entry };
}

/** TCP_INFO as the addon reads it; after a failed handshake the kernel leaves rtt 0, rttvar 250000, mss 536. */
function tcpInfo(state: number, more: Partial<RawTcpInfo> = {}): RawTcpInfo {
  return {
    bytes: 232, state, caState: 0, retransmits: 0, probes: 0, backoff: 0, options: 0, rto: 1_000_000,
    sndMss: 536, rcvMss: 536, unacked: 0, lost: 0, retrans: 0, rtt: 0, rttvar: 250_000, sndCwnd: 10, totalRetrans: 0,
    ...more,
  };
}

interface Expected {
  status: Status;
  reason: string;
  code: string | null;
  errno: number | null;
  stage?: LocalErrorStage;
  from?: string;
  icmp?: { type: number; code: number };
  neighbour?: NeighbourDetail;
}

/**
 * The next hop's neighbour entry as the addon reads it at a deadline (state:
 * NUD_* bits, 0x01 INCOMPLETE, 0x02 REACHABLE, 0x04 STALE, 0x20 FAILED).
 */
function neigh(state: number, more: Partial<RawNeighbour> = {}): Partial<RawOutcome> {
  const n: RawNeighbour = {
    lookup: 'entry', state, address: '192.0.2.1', gateway: false, ifindex: 3, interface: 'eth0', probes: 3, updatedMs: 1500, retransMs: 1000,
    ...more,
  };
  return { neighbour: n };
}

/** The evidence classify() attaches for neigh(...): the same facts, the state named. */
function evidence(state: NeighbourDetail['state'], more: Partial<NeighbourDetail> = {}): NeighbourDetail {
  return { address: '192.0.2.1', protocol: 'arp', state, gateway: false, interface: 'eth0', ageMs: 1500, retransMs: 1000, ...more };
}

const syn = { tcp: tcpInfo(2, { retransmits: 1 }) };
const downHost = (n: NeighbourDetail): Expected => ({ status: 'unreachable', reason: 'host-unreach', code: 'EHOSTUNREACH', errno: E.EHOSTUNREACH, neighbour: n });
const noResponse = (n?: NeighbourDetail): Expected => ({ status: 'timeout', reason: 'no-response', code: 'ETIMEDOUT', errno: E.ETIMEDOUT, ...(n ? { neighbour: n } : {}) });

type Row = [name: string, outcome: RawOutcome, target: AttemptTarget, expected: Expected];

const refused = (reason: RefusedReason, code: string, errno: number): Expected => ({ status: 'refused', reason, code, errno });
const blocked = (reason: BlockedReason, code: string, errno: number, from?: string, type?: number, icmpCode?: number): Expected => ({
  status: 'blocked', reason, code, errno, ...(from === undefined ? {} : { from }), ...(type === undefined ? {} : { icmp: { type, code: icmpCode ?? 0 } }),
});
const unreachable = (reason: UnreachableReason, code: string, errno: number, from?: string, type?: number, icmpCode?: number): Expected => ({
  status: 'unreachable', reason, code, errno, ...(from === undefined ? {} : { from }), ...(type === undefined ? {} : { icmp: { type, code: icmpCode ?? 0 } }),
});
const local = (reason: LocalErrorReason, code: string, errno: number, stage: LocalErrorStage): Expected => ({ status: 'local-error', reason, code, errno, stage });
const open = (reason: OpenReason): Expected => ({ status: 'open', reason, code: null, errno: null });

const R = '192.0.2.254';
const R6 = '2001:db8::fe';

/** A check's outcome as the runner reports it (src/checks/runner.ts). */
function checked(ready: boolean, reason: NotReadyReason | undefined, code: string | null): CheckOutcome {
  return { ready, reason, code, check: { name: 'test', detail: 'what the service answered', sent: '', received: '', facts: {}, elapsedMs: 1 } };
}

/** Every not-ready reason, with a code the check would give for it. */
const NOT_READY: [NotReadyReason, string | null][] = [
  ['tls-handshake', null], ['cert-expired', 'CERT_HAS_EXPIRED'], ['cert-not-yet-valid', 'CERT_NOT_YET_VALID'],
  ['cert-untrusted', 'DEPTH_ZERO_SELF_SIGNED_CERT'], ['cert-name-mismatch', 'ERR_TLS_CERT_ALTNAME_INVALID'], ['http-status', '503'],
  ['body-mismatch', null], ['starting-up', '57P03'], ['loading', 'LOADING'], ['too-many-connections', '1040'],
  ['unexpected-reply', null], ['closed-before-reply', null], ['reset-before-reply', 'ECONNRESET'], ['no-reply', null],
  ['auth-failed', null], ['server-error', null],
];

const rows: Row[] = [
  // open
  ['TCP handshake completed', raw(0, 'connected', { tcp: tcpInfo(1, { rtt: 120, rttvar: 60 }) }), tcp4, open('syn-ack')],
  ['Unix listener accepted', raw(0, 'connected'), unix, open('accepted')],
  ['settle window: the peer stayed quiet', raw(0, 'connected', { settle: 'quiet', settleErrno: 0 }), tcp4, open('settled')],
  ['settle window: the peer spoke first', raw(0, 'connected', { settle: 'data', settleErrno: 0 }), tcp6, open('data')],
  ['a check passed: open, with the check', raw(0, 'connected', { tcp: tcpInfo(1, { rtt: 120, rttvar: 60 }), check: checked(true, undefined, null) }), tcp4, open('syn-ack')],

  // not-ready: the handshake completed, the check (src/checks, against real servers in test/ready and
  // test/protocols) reported the service not ready; classify() keeps the TCP facts and takes its reason.
  ...NOT_READY.map(([reason, code]): Row => [
    `a check failed: ${reason}`,
    raw(0, 'connected', { tcp: tcpInfo(1, { rtt: 120, rttvar: 60 }), check: checked(false, reason, code) }),
    tcp4,
    { status: 'not-ready', reason, code, errno: null },
  ]),

  // refused
  ['TCP: RST answered the SYN inside connect()', raw(E.ECONNREFUSED, 'connect'), tcp4, refused('reset', 'ECONNREFUSED', E.ECONNREFUSED)],
  ['TCP: RST answered the SYN, read from SO_ERROR', raw(E.ECONNREFUSED, 'so_error', { endedInStart: true }), tcp6, refused('reset', 'ECONNREFUSED', E.ECONNREFUSED)],
  ['TCP: RST, an error-queue entry of local origin says no more', raw(E.ECONNREFUSED, 'errqueue', icmp(1, 0, 0, E.ECONNREFUSED, '')), tcp4, refused('reset', 'ECONNREFUSED', E.ECONNREFUSED)],
  ['Unix: a socket file with no listener', raw(E.ECONNREFUSED, 'connect'), unix, refused('conn-refused', 'ECONNREFUSED', E.ECONNREFUSED)],
  ['TCP: accepted, then reset before the first look', raw(E.ECONNRESET, 'so_error'), tcp4, refused('reset-after-accept', 'ECONNRESET', E.ECONNRESET)],
  ['TCP: accepted, then closed (EPIPE) before the first look', raw(E.EPIPE, 'so_error'), tcp4, refused('reset-after-accept', 'EPIPE', E.EPIPE)],
  ['Unix: ECONNRESET is a plain reset', raw(E.ECONNRESET, 'connect'), unix, refused('reset', 'ECONNRESET', E.ECONNRESET)],
  ['settle window: the peer reset', raw(0, 'connected', { settle: 'reset', settleErrno: E.ECONNRESET }), tcp4, refused('reset-after-accept', 'ECONNRESET', E.ECONNRESET)],
  ['settle window: reset with no errno from the kernel', raw(0, 'connected', { settle: 'reset', settleErrno: 0 }), tcp4, refused('reset-after-accept', 'ECONNRESET', E.ECONNRESET)],
  ['settle window: the peer closed (FIN)', raw(0, 'connected', { settle: 'fin', settleErrno: 0 }), tcp4, refused('closed-after-accept', 'EOF', 0)],
  ["Unix: the listener's queue is full", raw(E.EAGAIN, 'connect'), unix, refused('backlog-full', 'EAGAIN', E.EAGAIN)],

  // blocked: ICMP (type 3) and ICMPv6 (type 1) rejections, and local denials
  ['ICMP port unreachable', raw(E.ECONNREFUSED, 'so_error', icmp(2, 3, 3, E.ECONNREFUSED, R)), tcp4, blocked('port-unreach', 'ECONNREFUSED', E.ECONNREFUSED, R, 3, 3)],
  ['ICMP protocol unreachable', raw(E.ENOPROTOOPT, 'so_error', icmp(2, 3, 2, E.ENOPROTOOPT, R)), tcp4, blocked('proto-unreach', 'ENOPROTOOPT', E.ENOPROTOOPT, R, 3, 2)],
  ['ICMP network administratively prohibited', raw(E.ENETUNREACH, 'so_error', icmp(2, 3, 9, E.ENETUNREACH, R)), tcp4, blocked('net-prohibited', 'ENETUNREACH', E.ENETUNREACH, R, 3, 9)],
  ['ICMP host administratively prohibited', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 10, E.EHOSTUNREACH, R)), tcp4, blocked('host-prohibited', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 10)],
  ['ICMP communication administratively prohibited (filtered)', raw(E.EHOSTUNREACH, 'errqueue', icmp(2, 3, 13, E.EHOSTUNREACH, R)), tcp4, blocked('admin-prohibited', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 13)],
  ['ICMP host precedence violation', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 14, E.EHOSTUNREACH, R)), tcp4, blocked('admin-prohibited', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 14)],
  ['ICMP precedence cutoff', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 15, E.EHOSTUNREACH, R)), tcp4, blocked('admin-prohibited', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 15)],
  ['ICMP rejection with no offender address', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 13, E.EHOSTUNREACH, '')), tcp4, blocked('admin-prohibited', 'EHOSTUNREACH', E.EHOSTUNREACH, undefined, 3, 13)],
  ['ICMPv6 administratively prohibited', raw(E.EACCES, 'so_error', icmp(3, 1, 1, E.EACCES, R6)), tcp6, blocked('admin-prohibited', 'EACCES', E.EACCES, R6, 1, 1)],
  ['ICMPv6 port unreachable', raw(E.ECONNREFUSED, 'so_error', icmp(3, 1, 4, E.ECONNREFUSED, R6)), tcp6, blocked('port-unreach', 'ECONNREFUSED', E.ECONNREFUSED, R6, 1, 4)],
  ['ICMPv6 source address failed ingress/egress policy', raw(E.EACCES, 'so_error', icmp(3, 1, 5, E.EACCES, R6)), tcp6, blocked('admin-prohibited', 'EACCES', E.EACCES, R6, 1, 5)],
  ['ICMPv6 reject route to destination', raw(E.EACCES, 'errqueue', icmp(3, 1, 6, E.EACCES, R6)), tcp6, blocked('reject-route', 'EACCES', E.EACCES, R6, 1, 6)],
  ['a local prohibit route or firewall rule: EACCES from connect()', raw(E.EACCES, 'connect'), tcp4, blocked('perm-denied', 'EACCES', E.EACCES)],
  ['a local firewall rule: EPERM from connect()', raw(E.EPERM, 'connect'), tcp6, blocked('perm-denied', 'EPERM', E.EPERM)],
  ['Unix: no write permission on the socket file', raw(E.EACCES, 'connect'), unix, blocked('perm-denied', 'EACCES', E.EACCES)],

  // unreachable
  ['no route: ENETUNREACH from connect()', raw(E.ENETUNREACH, 'connect'), tcp4, unreachable('no-route', 'ENETUNREACH', E.ENETUNREACH)],
  ['neighbour never answered: EHOSTUNREACH', raw(E.EHOSTUNREACH, 'so_error'), tcp4, unreachable('host-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH)],
  ['the interface is down: ENETDOWN', raw(E.ENETDOWN, 'connect'), tcp4, unreachable('net-unreach', 'ENETDOWN', E.ENETDOWN)],
  ['a blackhole route: EINVAL from connect()', raw(E.EINVAL, 'connect'), tcp4, unreachable('blackhole', 'EINVAL', E.EINVAL)],
  ['Unix: no socket file at the path', raw(E.ENOENT, 'connect'), unix, unreachable('no-socket-file', 'ENOENT', E.ENOENT)],
  ['ICMP network unreachable', raw(E.ENETUNREACH, 'so_error', icmp(2, 3, 0, E.ENETUNREACH, R)), tcp4, unreachable('net-unreach', 'ENETUNREACH', E.ENETUNREACH, R, 3, 0)],
  ['ICMP destination network unknown', raw(E.ENETUNREACH, 'so_error', icmp(2, 3, 6, E.ENETUNREACH, R)), tcp4, unreachable('net-unreach', 'ENETUNREACH', E.ENETUNREACH, R, 3, 6)],
  ['ICMP network unreachable for TOS', raw(E.ENETUNREACH, 'so_error', icmp(2, 3, 11, E.ENETUNREACH, R)), tcp4, unreachable('net-unreach', 'ENETUNREACH', E.ENETUNREACH, R, 3, 11)],
  ['ICMP host unreachable', raw(E.EHOSTUNREACH, 'errqueue', icmp(2, 3, 1, E.EHOSTUNREACH, R)), tcp4, unreachable('host-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 1)],
  // The kernel's errno for these two is EHOSTDOWN (112) and ENONET (64) on Linux, named by classify.ts's own table; the verdict comes from the ICMP code.
  ...(process.platform === 'linux'
    ? ([
        ['ICMP destination host unknown: EHOSTDOWN (Linux)', raw(112, 'so_error', icmp(2, 3, 7, 112, R)), tcp4, unreachable('host-unreach', 'EHOSTDOWN', 112, R, 3, 7)],
        ['ICMP source host isolated: ENONET (Linux)', raw(64, 'so_error', icmp(2, 3, 8, 64, R)), tcp4, unreachable('dest-unreach', 'ENONET', 64, R, 3, 8)],
      ] as Row[])
    : []),
  ['ICMP destination host unknown', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 7, E.EHOSTUNREACH, R)), tcp4, unreachable('host-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 7)],
  ['ICMP host unreachable for TOS', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 12, E.EHOSTUNREACH, R)), tcp4, unreachable('host-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 12)],
  ['ICMP source host isolated: a code with no meaning of its own', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 3, 8, E.EHOSTUNREACH, R)), tcp4, unreachable('dest-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 3, 8)],
  ['ICMP time exceeded (a routing loop)', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 11, 0, E.EHOSTUNREACH, R)), tcp4, unreachable('time-exceeded', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 11, 0)],
  ['ICMP of another type (source quench)', raw(E.EHOSTUNREACH, 'so_error', icmp(2, 4, 0, E.EHOSTUNREACH, R)), tcp4, unreachable('dest-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R, 4, 0)],
  ['ICMPv6 no route to destination', raw(E.ENETUNREACH, 'so_error', icmp(3, 1, 0, E.ENETUNREACH, R6)), tcp6, unreachable('no-route', 'ENETUNREACH', E.ENETUNREACH, R6, 1, 0)],
  ['ICMPv6 beyond scope of source address', raw(E.EHOSTUNREACH, 'so_error', icmp(3, 1, 2, E.EHOSTUNREACH, R6)), tcp6, unreachable('beyond-scope', 'EHOSTUNREACH', E.EHOSTUNREACH, R6, 1, 2)],
  ['ICMPv6 address unreachable', raw(E.EHOSTUNREACH, 'errqueue', icmp(3, 1, 3, E.EHOSTUNREACH, R6)), tcp6, unreachable('host-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R6, 1, 3)],
  ['ICMPv6 destination unreachable with an unknown code', raw(E.EHOSTUNREACH, 'so_error', icmp(3, 1, 7, E.EHOSTUNREACH, R6)), tcp6, unreachable('dest-unreach', 'EHOSTUNREACH', E.EHOSTUNREACH, R6, 1, 7)],
  ['ICMPv6 time exceeded', raw(E.EHOSTUNREACH, 'so_error', icmp(3, 3, 0, E.EHOSTUNREACH, R6)), tcp6, unreachable('time-exceeded', 'EHOSTUNREACH', E.EHOSTUNREACH, R6, 3, 0)],
  ['ICMPv6 of another type (parameter problem)', raw(E.EPROTO, 'so_error', icmp(3, 4, 0, E.EPROTO, R6)), tcp6, unreachable('dest-unreach', 'EPROTO', E.EPROTO, R6, 4, 0)],

  // timeout
  ['the deadline passed with the SYN unanswered', raw(E.ETIMEDOUT, 'timeout', { tcp: tcpInfo(2, { totalRetrans: 3 }) }), tcp4, { status: 'timeout', reason: 'no-response', code: 'ETIMEDOUT', errno: E.ETIMEDOUT }],
  ['the kernel gave up retrying: ETIMEDOUT from SO_ERROR', raw(E.ETIMEDOUT, 'so_error'), tcp6, { status: 'timeout', reason: 'no-response', code: 'ETIMEDOUT', errno: E.ETIMEDOUT }],

  // the deadline, with the next hop's neighbour entry read then
  ['deadline, ARP incomplete for 1.5 retransmit intervals: host down on the link', raw(0, 'timeout', { ...syn, ...neigh(0x01) }), tcp4, downHost(evidence('incomplete'))],
  ['deadline, ARP incomplete for exactly one retransmit interval', raw(0, 'timeout', neigh(0x01, { updatedMs: 1000 })), tcp4, downHost(evidence('incomplete', { ageMs: 1000 }))],
  ['deadline, NDP failed: the kernel gave up (however young)', raw(0, 'timeout', neigh(0x20, { address: '2001:db8::1', updatedMs: 10 })), tcp6, downHost(evidence('failed', { address: '2001:db8::1', protocol: 'ndp', ageMs: 10 }))],
  ["deadline, the gateway's ARP incomplete: the router is down", raw(0, 'timeout', neigh(0x01, { address: '192.0.2.254', gateway: true })), tcp4, downHost(evidence('incomplete', { address: '192.0.2.254', gateway: true }))],
  ['deadline, ARP incomplete younger than the retransmit interval: too soon to tell', raw(0, 'timeout', neigh(0x01, { updatedMs: 200 })), tcp4, noResponse(evidence('incomplete', { ageMs: 200 }))],
  ['deadline, ARP incomplete of unknown age: not judged', raw(0, 'timeout', neigh(0x01, { updatedMs: -1 })), tcp4, noResponse(evidence('incomplete', { ageMs: null }))],
  ['deadline, ARP incomplete with the retransmit interval unreadable: not judged', raw(0, 'timeout', neigh(0x01, { retransMs: -1 })), tcp4, noResponse(evidence('incomplete', { retransMs: null }))],
  ['deadline, the next hop reachable: the SYN left, a drop', raw(0, 'timeout', { ...syn, ...neigh(0x02, { address: '192.0.2.254', gateway: true }) }), tcp4, noResponse(evidence('reachable', { address: '192.0.2.254', gateway: true }))],
  ['deadline, the next hop stale: the SYN left, a drop', raw(0, 'timeout', neigh(0x04)), tcp6, noResponse(evidence('stale', { protocol: 'ndp' }))],
  ['deadline, the next hop in delay', raw(0, 'timeout', neigh(0x08)), tcp4, noResponse(evidence('delay'))],
  ['deadline, the next hop being probed', raw(0, 'timeout', neigh(0x10)), tcp4, noResponse(evidence('probe'))],
  ['deadline, a permanent entry', raw(0, 'timeout', neigh(0x80)), tcp4, noResponse(evidence('permanent'))],
  ['deadline, an interface without ARP', raw(0, 'timeout', neigh(0x40, { interface: '' })), tcp4, noResponse(evidence('noarp', { interface: '#3' }))],
  ['deadline, an entry in no state', raw(0, 'timeout', neigh(0x00)), tcp4, noResponse(evidence('none'))],
  ['deadline, the kernel has no entry for the next hop', raw(0, 'timeout', neigh(0, { lookup: 'none', updatedMs: -1, probes: -1 })), tcp4, noResponse(evidence('no-entry', { ageMs: null }))],
  ['deadline, the route read but the entry unreadable: no evidence', raw(0, 'timeout', neigh(0, { lookup: 'unread' })), tcp4, noResponse()],

  // local-error, and every stage word
  ['out of descriptors (EMFILE) at socket()', raw(E.EMFILE, 'socket'), tcp4, local('no-descriptors', 'EMFILE', E.EMFILE, 'socket')],
  ['out of descriptors system-wide (ENFILE) at socket()', raw(E.ENFILE, 'socket'), unix, local('no-descriptors', 'ENFILE', E.ENFILE, 'socket')],
  ['no buffer space (ENOBUFS) at socket()', raw(E.ENOBUFS, 'socket'), tcp4, local('no-memory', 'ENOBUFS', E.ENOBUFS, 'socket')],
  ['no memory (ENOMEM) at connect()', raw(E.ENOMEM, 'connect'), tcp4, local('no-memory', 'ENOMEM', E.ENOMEM, 'connect')],
  ['no IPv6 in this kernel (EAFNOSUPPORT) at socket()', raw(E.EAFNOSUPPORT, 'socket'), tcp6, local('local-error', 'EAFNOSUPPORT', E.EAFNOSUPPORT, 'socket')],
  ['a socket option could not be set', raw(E.EEXIST, 'setsockopt'), tcp4, local('local-error', 'EEXIST', E.EEXIST, 'socket-option')],
  ['an address that cannot be used (a bad zone id)', raw(E.ENXIO, 'address'), tcp6, local('bad-address', 'ENXIO', E.ENXIO, 'address')],
  ['a socket path too long for sockaddr_un', raw(E.ENAMETOOLONG, 'address'), unix, local('bad-address', 'ENAMETOOLONG', E.ENAMETOOLONG, 'address')],
  ['localAddress is not an address of this host', raw(E.EADDRNOTAVAIL, 'bind'), tcp4, local('bad-local-address', 'EADDRNOTAVAIL', E.EADDRNOTAVAIL, 'bind')],
  ['localAddress cannot be bound for another reason', raw(E.EACCES, 'bind'), tcp4, local('local-error', 'EACCES', E.EACCES, 'bind')],
  ['out of descriptors at bind()', raw(E.EMFILE, 'bind'), tcp4, local('no-descriptors', 'EMFILE', E.EMFILE, 'bind')],
  ['no ephemeral port left (EADDRNOTAVAIL) at connect()', raw(E.EADDRNOTAVAIL, 'connect'), tcp4, local('no-ports', 'EADDRNOTAVAIL', E.EADDRNOTAVAIL, 'connect')],
  ['no ephemeral port left (EADDRINUSE) at connect()', raw(E.EADDRINUSE, 'connect'), tcp6, local('no-ports', 'EADDRINUSE', E.EADDRINUSE, 'connect')],
  ['the event loop would not take the socket', raw(E.ENOSPC, 'poll'), tcp4, local('local-error', 'ENOSPC', E.ENOSPC, 'watch')],
  ['an error with no meaning of its own from SO_ERROR', raw(E.EIO, 'so_error'), tcp4, local('local-error', 'EIO', E.EIO, 'handshake')],
  ['POLLERR with nothing on the error queue', raw(E.EIO, 'errqueue'), tcp4, local('local-error', 'EIO', E.EIO, 'error-queue')],
  ['an errno with the (never reported) connected stage', raw(E.EIO, 'connected'), tcp4, local('local-error', 'EIO', E.EIO, 'handshake')],
  ['Unix: the socket file is not a stream socket', raw(E.EPROTOTYPE, 'connect'), unix, local('wrong-socket-type', 'EPROTOTYPE', E.EPROTOTYPE, 'connect')],
  ['Unix: a path component is not a directory', raw(E.ENOTDIR, 'connect'), unix, local('bad-path', 'ENOTDIR', E.ENOTDIR, 'connect')],
  ['Unix: a symlink loop in the path', raw(E.ELOOP, 'connect'), unix, local('bad-path', 'ELOOP', E.ELOOP, 'connect')],
  ['Unix: a path component too long', raw(E.ENAMETOOLONG, 'connect'), unix, local('bad-path', 'ENAMETOOLONG', E.ENAMETOOLONG, 'connect')],
  ['TCP: ENOENT has no TCP meaning', raw(E.ENOENT, 'connect'), tcp4, local('local-error', 'ENOENT', E.ENOENT, 'connect')],
  ['TCP: EAGAIN has no TCP meaning', raw(E.EAGAIN, 'connect'), tcp4, local('local-error', 'EAGAIN', E.EAGAIN, 'connect')],
  ['TCP: ENOTDIR has no TCP meaning', raw(E.ENOTDIR, 'connect'), tcp4, local('local-error', 'ENOTDIR', E.ENOTDIR, 'connect')],
  ['TCP: EINVAL from SO_ERROR is not a blackhole route', raw(E.EINVAL, 'so_error'), tcp4, local('local-error', 'EINVAL', E.EINVAL, 'handshake')],
  ['Unix: EINVAL is not a blackhole route', raw(E.EINVAL, 'connect'), unix, local('local-error', 'EINVAL', E.EINVAL, 'connect')],
  ['an errno this platform has no name for', raw(4000, 'connect'), tcp4, local('local-error', 'E4000', 4000, 'connect')],
];

function picked(r: AddressResult): Expected {
  const out: Record<string, unknown> = { status: r.status, reason: r.reason, code: r.code, errno: r.errno };
  for (const key of ['stage', 'from', 'icmp', 'neighbour'] as const) if (key in r) out[key] = (r as unknown as Record<string, unknown>)[key];
  return out as unknown as Expected;
}

describe('classify(), table-driven over raw outcomes (the real kernel produces these in the other suites)', () => {
  test.each(rows)('%s', (_name, outcome, target, expected) => {
    const r = classify(outcome, target);
    expect(picked(r)).toEqual(expected);
    expect(r).toMatchObject({ address: target.address, family: target.family, port: target.port, elapsedMs: 1.235 });
    // A plain object that survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  test('the table reaches every member, every reason and every stage word classify() can give', () => {
    // Typed records: a reason or stage added to the union fails to compile here until a row covers it.
    const reasons: { [S in Exclude<Status, 'dns-error'>]: Record<Extract<AddressResult, { status: S }>['reason'], true> } = {
      open: { 'syn-ack': true, accepted: true, settled: true, data: true },
      'not-ready': {
        'tls-handshake': true, 'cert-expired': true, 'cert-not-yet-valid': true, 'cert-untrusted': true, 'cert-name-mismatch': true,
        'http-status': true, 'body-mismatch': true, 'starting-up': true, loading: true, 'too-many-connections': true,
        'unexpected-reply': true, 'closed-before-reply': true, 'reset-before-reply': true, 'no-reply': true, 'auth-failed': true, 'server-error': true,
      },
      refused: { reset: true, 'conn-refused': true, 'reset-after-accept': true, 'closed-after-accept': true, 'backlog-full': true },
      blocked: { 'port-unreach': true, 'proto-unreach': true, 'admin-prohibited': true, 'host-prohibited': true, 'net-prohibited': true, 'reject-route': true, 'perm-denied': true },
      unreachable: { 'no-route': true, 'net-unreach': true, 'host-unreach': true, 'beyond-scope': true, 'time-exceeded': true, blackhole: true, 'no-socket-file': true, 'dest-unreach': true },
      timeout: { 'no-response': true },
      'local-error': { 'no-ports': true, 'no-descriptors': true, 'no-memory': true, 'bad-local-address': true, 'bad-address': true, 'bad-path': true, 'wrong-socket-type': true, 'local-error': true },
    };
    const stages: Record<LocalErrorStage, true> = { socket: true, 'socket-option': true, address: true, bind: true, connect: true, watch: true, handshake: true, 'error-queue': true };
    const all = Object.entries(reasons).flatMap(([status, rs]) => Object.keys(rs).map((reason) => `${status}/${reason}`));
    const seen = new Set(rows.map(([, , , e]) => `${e.status}/${e.reason}`));
    expect(all.filter((x) => !seen.has(x))).toEqual([]);
    expect([...seen].filter((x) => !all.includes(x))).toEqual([]);
    const seenStages = new Set(rows.flatMap(([, , , e]) => (e.stage === undefined ? [] : [e.stage])));
    expect(Object.keys(stages).filter((s) => !seenStages.has(s as LocalErrorStage))).toEqual([]);
    // Every raw stage of the addon appears in some row.
    const rawStages: Record<RawStage, true> = { socket: true, setsockopt: true, address: true, bind: true, connect: true, poll: true, so_error: true, errqueue: true, timeout: true, connected: true };
    const seenRaw = new Set(rows.map(([, o]) => o.stage));
    expect(Object.keys(rawStages).filter((s) => !seenRaw.has(s as RawStage))).toEqual([]);
  });
});

describe('classify(): the fields beside status and reason, over raw outcomes', () => {
  test('open: connectMs, buffers and the local address from the raw outcome', () => {
    const r = classify(
      raw(0, 'connected', { elapsedNs: 2_000_400, connectNs: 1_999_600, sndbuf: 2_626_560, rcvbuf: 131_072, localAddress: '192.0.2.2', localPort: 40_000 }),
      tcp4,
    );
    expect(r).toEqual({
      status: 'open', reason: 'syn-ack', code: null, errno: null, address: '192.0.2.1', family: 4, port: 80,
      elapsedMs: 2, connectMs: 2, sndbuf: 2_626_560, rcvbuf: 131_072, local: { address: '192.0.2.2', port: 40_000 },
    });
  });

  test.each<[string, RawOutcome, AttemptTarget, unknown]>([
    ['a completed handshake: RTT and MSS measured', raw(0, 'connected', { tcp: tcpInfo(1, { rtt: 120, rttvar: 60, sndMss: 65_483, totalRetrans: 1 }) }), tcp4, { rttUs: 120, rttVarUs: 60, mss: 65_483, synRetransmits: 1 }],
    ['connected and already in close-wait: still measured', raw(0, 'connected', { tcp: tcpInfo(8, { rtt: 0, rttvar: 5, sndMss: 1448 }) }), tcp4, { rttUs: 0, rttVarUs: 5, mss: 1448, synRetransmits: 0 }],
    ['connected in syn-recv with rtt 0: the placeholders are not data', raw(0, 'connected', { tcp: tcpInfo(3, { sndMss: 1448 }) }), tcp4, { rttUs: null, rttVarUs: null, mss: 1448, synRetransmits: 0 }],
    ['a failed handshake: the kernel placeholders are null', raw(E.ECONNREFUSED, 'so_error', { tcp: tcpInfo(7, { totalRetrans: 2 }) }), tcp4, { rttUs: null, rttVarUs: null, mss: null, synRetransmits: 2 }],
    ['ended inside start(): nothing retransmitted, nothing measured', raw(E.ECONNREFUSED, 'so_error', { endedInStart: true }), tcp4, { rttUs: null, rttVarUs: null, mss: null, synRetransmits: 0 }],
    ['no TCP_INFO (not Linux): no tcp field', raw(E.ECONNREFUSED, 'so_error'), tcp4, undefined],
    ['Unix: never a tcp field, even with TCP_INFO-like input', raw(0, 'connected', { tcp: tcpInfo(1), endedInStart: true }), unix, undefined],
  ])('tcp: %s', (_name, outcome, target, tcp) => {
    const r = classify(outcome, target);
    expect(r.tcp).toEqual(tcp);
    expect('tcp' in r).toBe(tcp !== undefined);
  });

  test('timeout: synRetransmits from TCP_INFO, null where the platform does not tell', () => {
    const withInfo = classify(raw(E.ETIMEDOUT, 'timeout', { tcp: tcpInfo(2, { totalRetrans: 3 }) }), tcp4);
    expect(withInfo.status === 'timeout' && withInfo.synRetransmits).toBe(3);
    const without = classify(raw(E.ETIMEDOUT, 'timeout'), tcp4);
    expect(without.status === 'timeout' && without.synRetransmits).toBeNull();
  });

  test('elapsedMs: nanoseconds to milliseconds, three decimals', () => {
    expect(classify(raw(E.ECONNREFUSED, 'connect', { elapsedNs: 0 }), tcp4).elapsedMs).toBe(0);
    expect(classify(raw(E.ECONNREFUSED, 'connect', { elapsedNs: 1_499 }), tcp4).elapsedMs).toBe(0.001);
    expect(classify(raw(E.ECONNREFUSED, 'connect', { elapsedNs: 2_000_000_000 }), tcp4).elapsedMs).toBe(2000);
  });
});

describe('mostTelling(): the attempt that answers best, over classified raw outcomes', () => {
  const of = (outcome: RawOutcome, target: AttemptTarget = tcp4): AddressResult => classify(outcome, target);
  const isOpen = of(raw(0, 'connected'));
  const refusedOne = of(raw(E.ECONNREFUSED, 'connect'), tcp6);
  const blockedOne = of(raw(E.EACCES, 'connect'));
  const unreachableOne = of(raw(E.ENETUNREACH, 'connect'));
  const localOne = of(raw(E.EMFILE, 'socket'));
  const timedOut = of(raw(E.ETIMEDOUT, 'timeout'));

  test.each<[string, AddressResult[], AddressResult | undefined]>([
    ['nothing tried', [], undefined],
    ['an open one wins over everything', [timedOut, localOne, unreachableOne, blockedOne, refusedOne, isOpen], isOpen],
    ["a host's refusal over a filter's rejection", [blockedOne, refusedOne], refusedOne],
    ["a filter's rejection over unreachability", [unreachableOne, blockedOne], blockedOne],
    ['unreachability over a local error', [localOne, unreachableOne], unreachableOne],
    ['a local error over silence', [timedOut, localOne], localOne],
    ['silence last', [timedOut], timedOut],
  ])('%s', (_name, attempts, best) => {
    expect(mostTelling(attempts)).toBe(best);
  });
});
