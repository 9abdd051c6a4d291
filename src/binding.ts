// The one place the native addon is loaded, and the TypeScript shape of its raw
// surface. Everything the addon returns is a fact from the kernel; meaning is
// given in classify.ts.
import * as path from 'node:path';
import nodeGypBuild = require('node-gyp-build');

/** One entry of the socket's ICMP error queue (Linux IP_RECVERR / IPV6_RECVERR). */
export interface RawIcmp {
  errno: number;
  /** SO_EE_ORIGIN_*: 1 local, 2 ICMP, 3 ICMPv6. */
  origin: number;
  type: number;
  code: number;
  info: number;
  /** Numeric address of the host that sent the ICMP message, '' when none. */
  offender: string;
}

/** The fields of struct tcp_info that sockprobe reads (Linux). */
export interface RawTcpInfo {
  bytes: number;
  state: number;
  caState: number;
  retransmits: number;
  probes: number;
  backoff: number;
  options: number;
  rto: number;
  sndMss: number;
  rcvMss: number;
  unacked: number;
  lost: number;
  retrans: number;
  rtt: number;
  rttvar: number;
  sndCwnd: number;
  totalRetrans: number;
}

export type RawStage =
  | 'socket'
  | 'setsockopt'
  | 'address'
  | 'bind'
  | 'connect'
  | 'poll'
  | 'so_error'
  | 'errqueue'
  | 'timeout'
  | 'connected';

/** What the peer did in the settle window after connecting. */
export type RawSettle = 'quiet' | 'data' | 'fin' | 'reset';

export interface RawOutcome {
  errno: number;
  stage: RawStage;
  elapsedNs: number;
  connectNs: number;
  sndbuf: number;
  rcvbuf: number;
  localAddress: string;
  localPort: number;
  icmp?: RawIcmp;
  tcp?: RawTcpInfo;
  settle?: RawSettle;
  settleErrno?: number;
}

/** Field names of the kernel's struct tcp_info (<linux/tcp.h>, without `tcpi_`) that inspect() reads. */
export type RawTcpiName =
  | 'state' | 'ca_state' | 'retransmits' | 'probes' | 'backoff' | 'options' | 'rto' | 'ato'
  | 'snd_mss' | 'rcv_mss' | 'unacked' | 'sacked' | 'lost' | 'retrans' | 'last_data_sent'
  | 'last_data_recv' | 'last_ack_recv' | 'pmtu' | 'rcv_ssthresh' | 'rtt' | 'rttvar' | 'snd_ssthresh'
  | 'snd_cwnd' | 'advmss' | 'reordering' | 'rcv_rtt' | 'rcv_space' | 'total_retrans' | 'bytes_acked'
  | 'bytes_received' | 'segs_out' | 'segs_in' | 'notsent_bytes' | 'min_rtt' | 'data_segs_in'
  | 'data_segs_out' | 'delivery_rate' | 'busy_time' | 'rwnd_limited' | 'sndbuf_limited' | 'delivered'
  | 'delivered_ce' | 'bytes_sent' | 'bytes_retrans' | 'dsack_dups' | 'reord_seen' | 'rcv_ooopack' | 'snd_wnd';

/**
 * What inspect(fd) read from a descriptor. errno != 0: the descriptor is not a
 * socket (ENOTSOCK) or not open (EBADF), and nothing else is present. Fields
 * the kernel did not provide are absent.
 */
export interface RawInspect {
  errno: number;
  /** SO_TYPE (1 = SOCK_STREAM). */
  type?: number;
  /** 4, 6, 0 for AF_UNIX, -1 for any other family. */
  domain?: number;
  /** SO_PROTOCOL (6 = TCP), -1 where the platform cannot say. */
  protocol?: number;
  sndbuf?: number;
  rcvbuf?: number;
  /** poll() with a zero timeout: an error is pending (POLLERR), hang-up, peer shut down its side. */
  pollErr?: boolean;
  pollHup?: boolean;
  pollRdHup?: boolean;
  /** SO_ERROR, read (and so cleared) only when asked to and an error was pending. */
  soError?: number;
  /** SIOCOUTQ / SIOCOUTQNSD / SIOCINQ (Linux, TCP). */
  sendQueue?: number;
  notSentQueue?: number;
  recvQueue?: number;
  /** Bytes of struct tcp_info the kernel filled. */
  tcpInfoBytes?: number;
  tcpi?: Partial<Record<RawTcpiName, number>>;
  /** errno of a failed TCP_INFO call. */
  tcpErrno?: number;
}

/** Bits of start()'s `flags`. */
export const FLAG_GRACEFUL = 1;
export const FLAG_NO_RECVERR = 2;

/** Family argument of start(): 0 is a Unix domain socket path. */
export type RawFamily = 0 | 4 | 6;

export interface NativeBinding {
  init(dispatch: (id: number, outcome: RawOutcome) => void): void;
  /** Returns the outcome when the probe ended at once, undefined while it is in flight. */
  start(
    id: number,
    family: RawFamily,
    address: string,
    port: number,
    localAddress: string | null,
    timeoutMs: number,
    flags: number,
    settleMs: number,
  ): RawOutcome | undefined;
  /** Closes an in-flight probe at once; its dispatch never comes. */
  cancel(id: number): boolean;
  inFlight(): number;
  /** Socket options of a descriptor someone else owns; reads only (SO_ERROR only when takeError). */
  inspect(fd: number, takeError: boolean): RawInspect;
}

const root = path.join(__dirname, '..');

/** Where the native binary is looked for; fixed by node-gyp-build's search order. */
function candidates(): string[] {
  const tuple = `${process.platform}-${process.arch}`;
  return [
    `${path.join(root, 'build', 'Release')}${path.sep} (built from source)`,
    `${path.join(root, 'prebuilds', tuple)}${path.sep} (prebuilt, N-API)`,
  ];
}

function failure(cause: unknown, file: string | undefined): Error {
  const where = `${process.platform}-${process.arch} (Node ${process.version}, N-API ${process.versions.napi ?? '?'})`;
  const detail = (cause instanceof Error ? cause.message : String(cause)).trim().replace(/\s*\n\s*/g, '; ');
  const message = [
    file === undefined
      ? `sockprobe: no native binary for ${where}.`
      : `sockprobe: the native binary ${file} does not load on ${where}.`,
    `Looked in: ${candidates().join('; ')}.`,
    `Underlying error: ${detail}`,
    'Ways out:',
    '  - build it from source: `npm rebuild sockprobe` (needs python3, make and a C++17 compiler);',
    '  - if your npm blocks install scripts (npm 11 does by default), approve this one and rebuild:',
    '    `npm install-scripts approve sockprobe && npm rebuild sockprobe`',
    '    (or `npm install --allow-scripts=sockprobe`);',
    '  - see "Supported platforms" in sockprobe\'s README for which platforms ship a prebuilt binary.',
  ].join('\n');
  return new Error(message, { cause });
}

function load(): { binding: NativeBinding; file: string } {
  let file: string | undefined;
  try {
    file = nodeGypBuild.path(root);
    const loaded = require(file) as Partial<NativeBinding> & { unsupported?: string };
    if (typeof loaded.unsupported === 'string') throw new Error(loaded.unsupported);
    return { binding: loaded as NativeBinding, file };
  } catch (cause) {
    throw failure(cause, file);
  }
}

const loaded = load();

/** Absolute path of the native binary in use (a prebuild or build/Release). */
export const binaryPath: string = loaded.file;

export type Dispatch = (outcome: RawOutcome) => void;

/**
 * Completion routing shared by every copy of this module in one environment.
 * The addon keeps one dispatcher per environment; a test runner (or two
 * bundled copies of sockprobe) may load this file more than once, so the
 * routing table lives on the addon's exports object rather than in this module.
 */
interface Router {
  readonly handlers: Map<number, Dispatch>;
  nextId: number;
}

const kRouter = Symbol.for('sockprobe.router');

export const native: NativeBinding = loaded.binding;

function router(): Router {
  const holder = native as NativeBinding & { [kRouter]?: Router };
  let r = holder[kRouter];
  if (r === undefined) {
    const created: Router = { handlers: new Map(), nextId: 1 };
    native.init((id, outcome) => {
      const handler = created.handlers.get(id);
      if (handler === undefined) return;
      created.handlers.delete(id);
      handler(outcome);
    });
    Object.defineProperty(holder, kRouter, { value: created });
    r = created;
  }
  return r;
}

const shared = router();

/** Reserves an id and registers the completion handler for it. */
export function register(handler: Dispatch): number {
  let id = shared.nextId;
  while (shared.handlers.has(id)) id = id >= 0xfffffffe ? 1 : id + 1;
  shared.nextId = id >= 0xfffffffe ? 1 : id + 1;
  shared.handlers.set(id, handler);
  return id;
}

export function unregister(id: number): void {
  shared.handlers.delete(id);
}
