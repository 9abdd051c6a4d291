// The public result types. A probe's outcome is a discriminated union on
// `status`; every member is a plain JSON-serialisable object.
import type { NotReadyReason } from './checks/protocol';

export type { NotReadyReason };

/** Address family of an attempt: 4, 6, or 'unix' for a Unix domain socket. */
export type Family = 4 | 6 | 'unix';

export type Status = 'open' | 'not-ready' | 'refused' | 'blocked' | 'unreachable' | 'timeout' | 'local-error' | 'dns-error';


/** ICMP message that named the failure (Linux, from the socket's error queue). */
export interface IcmpDetail {
  /** ICMP (IPv4) or ICMPv6 type: 3 / 1 for destination unreachable, 11 / 3 for time exceeded. */
  type: number;
  code: number;
}

/**
 * What TCP_INFO said at completion or deadline (Linux). Values the kernel
 * leaves as placeholders after a failed handshake are null, not data.
 */
export interface TcpDetail {
  /** Smoothed round-trip time of the handshake in microseconds; null unless the handshake completed. */
  rttUs: number | null;
  rttVarUs: number | null;
  /** Negotiated MSS; null unless the handshake completed. */
  mss: number | null;
  /** SYNs sent again because no answer came; null where the platform's TCP info does not count them. */
  synRetransmits: number | null;
}

/**
 * State of a neighbour cache entry (Linux NUD_*): 'incomplete' (a solicitation
 * was sent, no reply yet), 'failed' (the kernel gave up: no reply), 'reachable',
 * 'stale', 'delay', 'probe' (a link-layer address is known), 'noarp' /
 * 'permanent' (none needed or configured), 'none' (an entry in no state),
 * 'no-entry' (the kernel has no entry for the next hop).
 */
export type NeighbourState =
  | 'incomplete'
  | 'failed'
  | 'reachable'
  | 'stale'
  | 'delay'
  | 'probe'
  | 'noarp'
  | 'permanent'
  | 'none'
  | 'no-entry';

/**
 * The neighbour (ARP for IPv4, NDP for IPv6) entry of the route's next hop,
 * read when the deadline ended an attempt (Linux): whether the SYN could leave
 * this machine at all. Absent when it could not be read.
 */
export interface NeighbourDetail {
  /** The next hop: the route's gateway, or the destination itself when it is on the link. */
  address: string;
  /** 'arp' (IPv4) or 'ndp' (IPv6 neighbour discovery). */
  protocol: 'arp' | 'ndp';
  state: NeighbourState;
  /** True when the next hop is the route's gateway (a router), not the destination. */
  gateway: boolean;
  /** The outgoing interface's name (`#<ifindex>` when it has none the kernel would give). */
  interface: string;
  /** Milliseconds since the entry last changed state; null when not known. */
  ageMs: number | null;
  /** The interface's neighbour retransmit interval (retrans_time_ms); null when not known. */
  retransMs: number | null;
}

interface Common {
  /** Short machine word for why; nmap's `--reason` word where nmap has one. */
  reason: string;
  /** errno name such as 'ECONNREFUSED'; null when open. */
  code: string | null;
  errno: number | null;
  /** The numeric address probed (or the socket path for 'unix'). */
  address: string;
  family: Family;
  /** null for Unix domain sockets. */
  port: number | null;
  /** Time this attempt took, ms. */
  elapsedMs: number;
  tcp?: TcpDetail;
}

export type OpenReason = 'syn-ack' | 'accepted' | 'settled' | 'data';

export interface OpenResult extends Common {
  status: 'open';
  /** 'syn-ack' (TCP), 'accepted' (Unix), or after a `settle` window 'settled' (peer stayed quiet) / 'data' (peer spoke first). */
  reason: OpenReason;
  code: null;
  errno: null;
  /** Time from connect() to the connection being established, ms. */
  connectMs: number;
  /** SO_SNDBUF / SO_RCVBUF in bytes; absent where the engine cannot read them (the node engine: see engine().facts). */
  sndbuf?: number;
  rcvbuf?: number;
  local: { address: string; port: number };
  /** What a check (tls, http, a protocol) found once connected, when one ran and passed. */
  check?: CheckDetail;
}

/** What the TLS handshake showed (the tls and https checks, a STARTTLS). Dates are ISO 8601 (UTC). */
export interface TlsDetail {
  /** The SNI name sent; null when the target is an IP address and no servername was given (RFC 6066: never an IP). */
  servername: string | null;
  /** 'TLSv1.3', 'TLSv1.2'...; null when the handshake did not complete. */
  version: string | null;
  cipher: string | null;
  /** The ALPN protocol the server picked; null when none. */
  alpn: string | null;
  /** Time from the ClientHello to the handshake's end (or its failure), ms. */
  handshakeMs: number;
  /** True when the chain verified against the CAs and the name matched. */
  authorized: boolean;
  /** OpenSSL's or Node's verification code: 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID'...; null when verified. */
  verifyError: string | null;
  /** The leaf certificate the server presented; null when none was (handshake failure). */
  leaf: CertificateDetail | null;
  /** Every certificate the server presented, leaf first (as far as the chain could be read). */
  chain: CertificateDetail[];
  /** Earliest notAfter among the presented certificates (blackbox's probe_ssl_earliest_cert_expiry). */
  earliestNotAfter: string | null;
  /** Earliest notAfter of the verified chain (leaf to trusted root); null when the chain did not verify. */
  verifiedChainNotAfter: string | null;
}

export interface CertificateDetail {
  subject: string;
  issuer: string;
  /** subjectAltName entries as OpenSSL prints them: 'DNS:example.test', 'IP Address:127.0.0.1'. */
  subjectAltNames: string[];
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER certificate, colon-separated hex as OpenSSL prints it. */
  fingerprint256: string;
  serialNumber: string;
}

/** What an HTTP exchange showed (the http and https checks). */
export interface HttpDetail {
  method: string;
  path: string;
  /** The Host header sent. */
  hostHeader: string;
  /** null when no status line came. */
  status: number | null;
  /** '1.1', '1.0'; null when no status line came. */
  httpVersion: string | null;
  /** The statuses that count as ready, as given: '200-399'. */
  expected: string;
  /** The body matched the expected regex; null when none was asked for (or no body was read). */
  bodyMatched: boolean | null;
  /** Phases, ms: connect (TCP handshake), tls (0 for plain http), firstByte (request written to first response byte). */
  phases: { connect: number; tls: number; firstByte: number; total: number };
}

/** The evidence of a check: what it sent, what came back, what it read. */
export interface CheckDetail {
  /** 'tls', 'http', 'https', 'redis', 'postgres', ... */
  name: string;
  /** One sentence: what the service answered. */
  detail: string;
  /** Printable rendering of the bytes sent ('' when none; a TLS handshake is '<TLS ClientHello>'). */
  sent: string;
  /** Printable rendering of the first bytes received (at most 256 characters). */
  received: string;
  facts: Record<string, string | number | boolean>;
  /** Time the check took after the TCP handshake, ms. */
  elapsedMs: number;
  tls?: TlsDetail;
  http?: HttpDetail;
}

/**
 * The TCP handshake completed but the service behind it is not ready: its
 * check (TLS, HTTP, a protocol exchange) failed. The TCP facts of the
 * attempt are kept, and the check's evidence is in `check`.
 */
export interface NotReadyResult extends Common {
  status: 'not-ready';
  reason: NotReadyReason;
  /** The check's own code when it has one ('CERT_HAS_EXPIRED', 'ECONNRESET', '57P03'...), else null. */
  code: string | null;
  errno: number | null;
  connectMs: number;
  /** As OpenResult's: absent where the engine cannot read them. */
  sndbuf?: number;
  rcvbuf?: number;
  local: { address: string; port: number };
  check: CheckDetail;
}

export type RefusedReason =
  | 'reset'
  | 'conn-refused'
  | 'reset-after-accept'
  | 'closed-after-accept'
  | 'backlog-full';

export interface RefusedResult extends Common {
  status: 'refused';
  /**
   * 'reset': a TCP RST answered the SYN (nothing listens, or a firewall's tcp-reset);
   * 'conn-refused': no listener on a Unix socket path; 'reset-after-accept' /
   * 'closed-after-accept': accepted then reset / closed within `settle` ms (a proxy
   * whose backend is down); 'backlog-full': a Unix listener's queue is full.
   */
  reason: RefusedReason;
  code: string;
  errno: number;
}

export type BlockedReason =
  | 'port-unreach'
  | 'proto-unreach'
  | 'admin-prohibited'
  | 'host-prohibited'
  | 'net-prohibited'
  | 'reject-route'
  | 'perm-denied';

export interface BlockedResult extends Common {
  status: 'blocked';
  reason: BlockedReason;
  code: string;
  errno: number;
  /** Address of the host whose ICMP message rejected the connection, when one did. */
  from?: string;
  icmp?: IcmpDetail;
}

export type UnreachableReason =
  | 'no-route'
  | 'net-unreach'
  | 'host-unreach'
  | 'beyond-scope'
  | 'time-exceeded'
  | 'blackhole'
  | 'no-socket-file'
  | 'dest-unreach';

export interface UnreachableResult extends Common {
  status: 'unreachable';
  reason: UnreachableReason;
  code: string;
  errno: number;
  from?: string;
  icmp?: IcmpDetail;
  /**
   * Set when the deadline came while the next hop's link-layer address was
   * still unresolved ('incomplete' for at least one retransmit interval, or
   * 'failed'): the SYN never left this machine. reason 'host-unreach', code
   * EHOSTUNREACH: what the kernel says itself once its neighbour resolution fails (~3 s).
   */
  neighbour?: NeighbourDetail;
}

export interface TimeoutResult extends Common {
  status: 'timeout';
  /** 'no-response': nothing answered the SYNs before the deadline (or the kernel gave up retrying). */
  reason: 'no-response';
  code: string;
  errno: number;
  /** How many times the SYN was sent again, when the platform tells (Linux). */
  synRetransmits: number | null;
  /**
   * The next hop's neighbour entry at the deadline, when it could be read
   * (Linux). A resolved one ('reachable', 'stale', ...) means the SYN left and
   * nothing answered it; an 'incomplete' one younger than one retransmit
   * interval means the deadline came too soon to tell a down host from a drop.
   */
  neighbour?: NeighbourDetail;
}

export type LocalErrorReason =
  | 'no-ports'
  | 'no-descriptors'
  | 'no-memory'
  | 'bad-local-address'
  | 'bad-address'
  | 'bad-path'
  | 'wrong-socket-type'
  | 'local-error';

/**
 * The step that failed on this machine: 'socket' (creating the socket),
 * 'socket-option' (setting its options), 'address' (the address or path
 * cannot be used), 'bind' (binding `localAddress`), 'connect' (connect()
 * itself said no), 'watch' (handing the socket to the event loop),
 * 'handshake' (the kernel's answer while the connection was being set up),
 * 'error-queue' (an error read from the socket's error queue).
 */
export type LocalErrorStage =
  | 'socket'
  | 'socket-option'
  | 'address'
  | 'bind'
  | 'connect'
  | 'watch'
  | 'handshake'
  | 'error-queue';

export interface LocalErrorResult extends Common {
  status: 'local-error';
  reason: LocalErrorReason;
  code: string;
  errno: number;
  /** Which step failed on this machine (see LocalErrorStage). */
  stage: LocalErrorStage;
}

/** The result for one address. */
export type AddressResult =
  | OpenResult
  | NotReadyResult
  | RefusedResult
  | BlockedResult
  | UnreachableResult
  | TimeoutResult
  | LocalErrorResult;

export type DnsErrorReason = 'not-found' | 'no-data' | 'temporary-failure' | 'dns-timeout' | 'resolver-error';

export interface DnsErrorResult {
  status: 'dns-error';
  reason: DnsErrorReason;
  /** The resolver's code: 'ENOTFOUND', 'EAI_AGAIN', ... */
  code: string;
  errno: null;
  address: null;
  family: null;
  port: number;
  elapsedMs: number;
}

/** What was asked for, and every address tried. */
export interface TargetInfo {
  /** The host (or socket path) as given. */
  host: string;
  /** One result per address the name resolved to, in resolver order. */
  attempts: AddressResult[];
  /** Time spent resolving the name, ms (0 for a numeric address or a path). */
  dnsMs: number;
}

/**
 * The result of probe(). Top-level fields are those of the open attempt when
 * any address is open, otherwise of the most telling failure.
 */
export type ProbeResult = TargetInfo & (AddressResult | DnsErrorResult);

export type ProbeResultOf<S extends Status> = Extract<ProbeResult, { status: S }>;

export function isOpen<T extends { status: Status }>(r: T): r is Extract<T, { status: 'open' }> {
  return r.status === 'open';
}
export function isNotReady<T extends { status: Status }>(r: T): r is Extract<T, { status: 'not-ready' }> {
  return r.status === 'not-ready';
}
export function isRefused<T extends { status: Status }>(r: T): r is Extract<T, { status: 'refused' }> {
  return r.status === 'refused';
}
export function isBlocked<T extends { status: Status }>(r: T): r is Extract<T, { status: 'blocked' }> {
  return r.status === 'blocked';
}
export function isUnreachable<T extends { status: Status }>(r: T): r is Extract<T, { status: 'unreachable' }> {
  return r.status === 'unreachable';
}
export function isTimeout<T extends { status: Status }>(r: T): r is Extract<T, { status: 'timeout' }> {
  return r.status === 'timeout';
}
export function isLocalError<T extends { status: Status }>(r: T): r is Extract<T, { status: 'local-error' }> {
  return r.status === 'local-error';
}
export function isDnsError<T extends { status: Status }>(r: T): r is Extract<T, { status: 'dns-error' }> {
  return r.status === 'dns-error';
}

/** For the `default` branch of a switch over `status`: a compile error when a member is not handled. */
export function assertNever(value: never, message = 'unexpected value'): never {
  throw new TypeError(`${message}: ${JSON.stringify(value)}`);
}
