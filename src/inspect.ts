// inspect(socket): the kernel's view of a connection the application already
// holds. The descriptor is borrowed for the length of a few getsockopt/ioctl
// calls and a zero-timeout poll(); nothing is closed, duplicated, changed or read.
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { native, type RawInspect, type RawTcpiName } from './binding';
import { errnoName } from './classify';
import { describeValue } from './describe-value';
import { tcpStateName, type TcpState } from './tcp-states';
import { isObject } from './validate';

export type { TcpState };

/**
 * An error the kernel holds for the socket (a reset, a timeout). Linux has no
 * way to look at SO_ERROR without clearing it, and clearing it would change
 * what the application later sees (an 'end' instead of an ECONNRESET 'error'),
 * so by default inspect() only reports that one is pending (poll() says
 * POLLERR) and leaves it for the application. With `{ takeError: true }` it
 * reads SO_ERROR, which hands over the code and clears it from the socket.
 */
export type PendingError =
  | { readonly taken: false }
  | { readonly taken: true; readonly code: string; readonly errno: number };

export interface InspectOptions {
  /** Read SO_ERROR when an error is pending, which clears it from the socket. Default false. */
  takeError?: boolean;
}

/**
 * A snapshot of one TCP connection's socket. TCP_INFO fields (Linux) the
 * running kernel does not provide are absent, never zero.
 */
export interface SocketSnapshot {
  /** The descriptor read (the socket's own; it is not duplicated). */
  fd: number;
  family: 4 | 6;
  /** A pending socket error (see PendingError), or null when none. */
  error: PendingError | null;
  /** The peer has shut down its sending side (a FIN arrived: POLLRDHUP). */
  peerClosed: boolean;
  /** SO_SNDBUF / SO_RCVBUF in bytes (Linux reports twice the value set). */
  sndbuf: number;
  rcvbuf: number;
  /** Bytes written but not yet acknowledged by the peer (SIOCOUTQ; `ss` Send-Q). */
  sendQueue?: number;
  /** Of those, bytes not even sent yet (SIOCOUTQNSD). */
  unsentQueue?: number;
  /** Bytes received and not yet read by the application (SIOCINQ; `ss` Recv-Q). */
  recvQueue?: number;
  /** How many bytes of struct tcp_info the kernel filled. */
  tcpInfoBytes?: number;
  state?: TcpState;
  /** Smoothed round-trip time and its variance, µs (`ss`: rtt:rttUs/rttVarUs, in ms). */
  rttUs?: number;
  rttVarUs?: number;
  minRttUs?: number;
  /** Current retransmission timeout, µs. */
  rtoUs?: number;
  /** Consecutive timeouts of the segment now being retransmitted (0 on a healthy path). */
  retransmits?: number;
  /** Segments retransmitted over the connection's life. */
  totalRetrans?: number;
  /** Segments currently retransmitted and not yet acknowledged. */
  retransOut?: number;
  /** Segments the sender currently counts as lost. */
  lost?: number;
  /** Segments sent and not yet acknowledged. */
  unacked?: number;
  /** Congestion window, segments. */
  sndCwnd?: number;
  /** Slow-start threshold, segments; absent while it is still "infinite" (as `ss` omits it). */
  sndSsthresh?: number;
  sndMss?: number;
  rcvMss?: number;
  pmtu?: number;
  /** The peer's advertised receive window, bytes. */
  sndWnd?: number;
  bytesSent?: number;
  bytesRetrans?: number;
  bytesAcked?: number;
  bytesReceived?: number;
  segsOut?: number;
  segsIn?: number;
  /** Bytes per second, the kernel's delivery-rate estimate. */
  deliveryRate?: number;
  /** Milliseconds since data was last sent / received, and since the last ACK arrived. */
  lastDataSentMs?: number;
  lastDataRecvMs?: number;
  lastAckRecvMs?: number;
}

type Numeric = {
  [K in keyof SocketSnapshot]-?: number extends NonNullable<SocketSnapshot[K]> ? K : never;
}[keyof SocketSnapshot];

/** Public name <- kernel name; one table, so the names cannot drift apart. */
const TCPI_FIELDS: ReadonlyArray<readonly [Numeric, RawTcpiName]> = [
  ['rttUs', 'rtt'],
  ['rttVarUs', 'rttvar'],
  ['minRttUs', 'min_rtt'],
  ['rtoUs', 'rto'],
  ['retransmits', 'retransmits'],
  ['totalRetrans', 'total_retrans'],
  ['retransOut', 'retrans'],
  ['lost', 'lost'],
  ['unacked', 'unacked'],
  ['sndCwnd', 'snd_cwnd'],
  ['sndMss', 'snd_mss'],
  ['rcvMss', 'rcv_mss'],
  ['pmtu', 'pmtu'],
  ['sndWnd', 'snd_wnd'],
  ['bytesSent', 'bytes_sent'],
  ['bytesRetrans', 'bytes_retrans'],
  ['bytesAcked', 'bytes_acked'],
  ['bytesReceived', 'bytes_received'],
  ['segsOut', 'segs_out'],
  ['segsIn', 'segs_in'],
  ['deliveryRate', 'delivery_rate'],
  ['lastDataSentMs', 'last_data_sent'],
  ['lastDataRecvMs', 'last_data_recv'],
  ['lastAckRecvMs', 'last_ack_recv'],
];

/** TCP_INFINITE_SSTHRESH */
const INFINITE_SSTHRESH = 0x7fffffff;
const SOCK_STREAM = 1;
const IPPROTO_TCP = 6;

/**
 * The Node internals this relies on (Node 20, also 18 and 22): a connected
 * net.Socket's `_handle` is a TCPWrap whose `fd` getter is the descriptor
 * (uv_fileno; -1 before connect and on Windows). A TLSSocket's `_handle` is a
 * TLSWrap whose `fd` is that of the stream under it, and whose `_parent` is
 * the underlying TCPWrap (used when `fd` is not there).
 */
interface NodeHandle {
  readonly fd?: unknown;
  readonly _parent?: unknown;
}

function fdOf(handle: unknown): number | undefined {
  if (!isObject(handle)) return undefined;
  const fd = (handle as NodeHandle).fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** The socket's descriptor, or a TypeError saying why there is none to read. */
function descriptor(socket: unknown): number {
  if (!(socket instanceof net.Socket))
    throw new TypeError(`socket must be a net.Socket or tls.TLSSocket, got ${describeValue(socket)}`);
  if (process.platform === 'win32')
    throw Object.assign(new Error("inspect() is not available on Windows: Node does not expose a socket's SOCKET handle there, so its options cannot be read"), {
      code: 'ERR_SOCKPROBE_UNSUPPORTED',
    });
  if (socket.destroyed) throw new TypeError('socket is destroyed: there is no descriptor to inspect');
  if (socket.connecting) throw new TypeError('socket is not connected yet (still connecting)');
  const handle: unknown = (socket as unknown as { _handle?: unknown })._handle;
  if (handle === null || handle === undefined)
    throw new TypeError('socket has no descriptor: it was never connected, or another stream took it over');
  const fd = fdOf(handle) ?? fdOf((handle as NodeHandle)._parent);
  if (fd === undefined)
    throw new TypeError(
      `socket has no OS descriptor (its handle is ${describeValue(handle)}: a TLS socket over a non-socket stream, or not connected)`,
    );
  return fd;
}

function checkOptions(options: unknown): boolean {
  if (options === undefined) return false;
  if (!isObject(options)) throw new TypeError(`options must be an object, got ${describeValue(options)}`);
  const take = options['takeError'];
  if (take !== undefined && typeof take !== 'boolean')
    throw new TypeError(`options.takeError must be a boolean, got ${describeValue(take)}`);
  return take === true;
}

function notTcp(raw: RawInspect, fd: number): string | null {
  if (raw.domain === 0) return `descriptor ${fd} is a Unix domain socket, not TCP`;
  if (raw.domain !== 4 && raw.domain !== 6) return `descriptor ${fd} is not an IPv4 or IPv6 socket`;
  if (raw.type !== SOCK_STREAM) return `descriptor ${fd} is not a stream socket (SO_TYPE ${String(raw.type)}), not TCP`;
  if (raw.protocol !== undefined && raw.protocol !== -1 && raw.protocol !== IPPROTO_TCP)
    return `descriptor ${fd} is not TCP (SO_PROTOCOL ${raw.protocol})`;
  return null;
}

/** Turns the addon's raw facts into a snapshot, or a TypeError for a descriptor that is not a TCP connection. */
function snapshotOf(raw: RawInspect, fd: number): SocketSnapshot {
  if (raw.errno !== 0) {
    const code = errnoName(raw.errno);
    if (code === 'ENOTSOCK') throw new TypeError(`descriptor ${fd} is not a socket (a pipe or a file): ENOTSOCK`);
    throw new TypeError(`descriptor ${fd} cannot be inspected: ${code}`);
  }
  const why = notTcp(raw, fd);
  if (why !== null) throw new TypeError(why);
  const tcpi = raw.tcpi ?? {};
  const state = tcpi.state === undefined ? undefined : tcpStateName(tcpi.state);
  if (state === 'listen') throw new TypeError(`descriptor ${fd} is a listening socket, not a connection`);

  let error: PendingError | null = null;
  if (raw.soError !== undefined && raw.soError !== 0)
    error = { taken: true, code: errnoName(raw.soError), errno: raw.soError };
  else if (raw.pollErr === true) error = { taken: false };

  const snap: SocketSnapshot = {
    fd,
    family: raw.domain === 6 ? 6 : 4,
    error,
    peerClosed: raw.pollRdHup === true,
    sndbuf: raw.sndbuf ?? -1,
    rcvbuf: raw.rcvbuf ?? -1,
  };
  if (raw.sendQueue !== undefined) snap.sendQueue = raw.sendQueue;
  if (raw.notSentQueue !== undefined) snap.unsentQueue = raw.notSentQueue;
  if (raw.recvQueue !== undefined) snap.recvQueue = raw.recvQueue;
  if (raw.tcpInfoBytes !== undefined) snap.tcpInfoBytes = raw.tcpInfoBytes;
  if (state !== undefined) snap.state = state;
  for (const [name, kernel] of TCPI_FIELDS) {
    const value = tcpi[kernel];
    if (value !== undefined) snap[name] = value;
  }
  if (tcpi.snd_ssthresh !== undefined && tcpi.snd_ssthresh < INFINITE_SSTHRESH) snap.sndSsthresh = tcpi.snd_ssthresh;
  return snap;
}

/**
 * Reads a connected TCP socket's options and TCP_INFO without taking it over:
 * safe to call on every health-check round. Throws a TypeError for a socket
 * that is not connected, destroyed, has no descriptor, or is not TCP.
 */
export function inspect(socket: net.Socket | tls.TLSSocket, options?: InspectOptions): SocketSnapshot {
  const takeError = checkOptions(options);
  const fd = descriptor(socket);
  return snapshotOf(native.inspect(fd, takeError), fd);
}
