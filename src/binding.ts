// The one place the native addon is loaded, and the TypeScript shape of its raw
// surface. Everything the addon returns is a fact from the kernel; meaning is
// given in classify.ts.
import * as path from 'node:path';
import nodeGypBuild = require('node-gyp-build');
import {
  F_CONNECT_NS,
  F_ELAPSED_NS,
  F_ERR,
  F_FD,
  F_ICMP,
  F_ICMP_CODE,
  F_ICMP_ERRNO,
  F_ICMP_INFO,
  F_ICMP_OFFENDER,
  F_ICMP_ORIGIN,
  F_ICMP_TYPE,
  F_ID,
  F_LOCAL_ADDRESS,
  F_LOCAL_PORT,
  F_NEIGH,
  F_NEIGH_ADDRESS,
  F_NEIGH_GATEWAY,
  F_NEIGH_IFINDEX,
  F_NEIGH_INTERFACE,
  F_NEIGH_PROBES,
  F_NEIGH_RETRANS_MS,
  F_NEIGH_STATE,
  F_NEIGH_UPDATED_MS,
  F_RCVBUF,
  F_SNDBUF,
  F_STAGE,
  F_TCP,
  LAYOUT,
  RECORD_WIDTH,
  STAGES,
  decodeTcp,
  type RawStage,
  type RawTcpInfo,
} from './record';

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

export type { RawStage, RawTcpInfo };

/**
 * The neighbour (ARP / NDP) entry of the route's next hop, read at a deadline
 * with no peer (Linux: RTM_GETROUTE, then RTM_GETNEIGH). Facts only.
 */
export interface RawNeighbour {
  /** 'entry': the kernel's entry is below; 'none': the kernel says no entry exists; 'unread': the route was read, the entry could not be. */
  lookup: 'entry' | 'none' | 'unread';
  /** ndm_state (NUD_* bits: 0x01 INCOMPLETE, 0x02 REACHABLE, 0x04 STALE, 0x08 DELAY, 0x10 PROBE, 0x20 FAILED, 0x40 NOARP, 0x80 PERMANENT); 0 unless 'entry'. */
  state: number;
  /** The next hop: the route's gateway, or the destination itself when on-link. */
  address: string;
  /** True when the route names a gateway. */
  gateway: boolean;
  ifindex: number;
  /** The interface's name, '' when if_indextoname failed. */
  interface: string;
  /** NDA_PROBES: solicitations sent for the entry; -1 when not given. */
  probes: number;
  /** Milliseconds since the entry last changed state (NDA_CACHEINFO ndm_updated); -1 when not given. */
  updatedMs: number;
  /** The interface's neighbour retransmit interval (retrans_time_ms); -1 when unreadable. */
  retransMs: number;
}

/** What the peer did in the settle window after connecting (the settle check, src/settle.ts, not the addon). */
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
  /** Only at a deadline with no peer (stage 'timeout'), when the route could be read. */
  neighbour?: RawNeighbour;
  /**
   * Failed inside start(), microseconds after its one SYN or before sending
   * any: no TCP_INFO was read, as it could only say what this says (nothing
   * retransmitted, no RTT, no MSS).
   */
  endedInStart?: boolean;
  /**
   * A connected socket handed to JavaScript (start()'s FLAG_KEEP): whoever
   * holds this outcome owns the descriptor and must close it exactly once.
   */
  fd?: number;
  /** Set by the settle check after the handshake (src/settle.ts), never by the addon. */
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
/** Keep a connected socket: its descriptor comes back in the outcome (`fd`) instead of being closed. */
export const FLAG_KEEP = 4;

/** Family argument of start(): 0 is a Unix domain socket path. */
export type RawFamily = 0 | 4 | 6;

/** start()'s arguments: id, family, address, port, localAddress, timeoutMs, flags, and optionally ttl (the SYNs' hop limit, 0 = system default). */
export type StartArgs = [
  id: number,
  family: RawFamily,
  address: string,
  port: number,
  localAddress: string | null,
  timeoutMs: number,
  flags: number,
  ttl?: number,
];

export interface NativeBinding {
  /**
   * Registers the completion callback and returns the record buffer it reads:
   * dispatch(count, strings) means `count` records of RECORD_WIDTH numbers are
   * filled in (layout in decode()), their strings in `strings`.
   */
  init(dispatch: (count: number, strings: string[] | undefined) => void): Float64Array;
  /** Returns the outcome when the probe ended at once, undefined while it is in flight. */
  start(...args: StartArgs): RawOutcome | undefined;
  /**
   * start() with the same arguments; an outcome known at once is written to a
   * row of the record buffer (beyond dispatch's rows) and that row's number
   * returned, or its local address string when it has one (an open port), so
   * no object is built through N-API. One with an ICMP offender is an object.
   */
  startRecord?(...args: StartArgs): RawOutcome | number | string | undefined;
  /** Closes an in-flight probe at once; its dispatch never comes. */
  cancel(id: number): boolean;
  inFlight(): number;
  /** Socket options of a descriptor someone else owns; reads only (SO_ERROR only when takeError). */
  inspect(fd: number, takeError: boolean): RawInspect;
  /** The record's column names (native/record.h), checked against src/record.ts at load. */
  readonly layout: readonly string[];
  readonly stages: readonly string[];
  /** The readiness backend in use ('epoll'). */
  readonly backend: string;
}

export { RECORD_WIDTH };
const SETTLES: readonly (RawSettle | undefined)[] = [undefined, 'quiet', 'data', 'fin', 'reset'];

function str(strings: string[] | undefined, i: number): string {
  return i < 0 || strings === undefined ? '' : strings[i] ?? '';
}

/** One record of the buffer as a RawOutcome (the shape start() returns for an immediate end). */
function decode(r: Float64Array, o: number, strings: string[] | undefined): RawOutcome {
  const out: RawOutcome = {
    errno: r[o + F_ERR] as number,
    stage: STAGES[r[o + F_STAGE] as number] ?? 'poll',
    elapsedNs: r[o + F_ELAPSED_NS] as number,
    connectNs: r[o + F_CONNECT_NS] as number,
    sndbuf: r[o + F_SNDBUF] as number,
    rcvbuf: r[o + F_RCVBUF] as number,
    localAddress: str(strings, r[o + F_LOCAL_ADDRESS] as number),
    localPort: r[o + F_LOCAL_PORT] as number,
  };
  if (r[o + F_ICMP] === 1) {
    out.icmp = {
      errno: r[o + F_ICMP_ERRNO] as number,
      origin: r[o + F_ICMP_ORIGIN] as number,
      type: r[o + F_ICMP_TYPE] as number,
      code: r[o + F_ICMP_CODE] as number,
      info: r[o + F_ICMP_INFO] as number,
      offender: str(strings, r[o + F_ICMP_OFFENDER] as number),
    };
  }
  const tcpFlag = r[o + F_TCP];
  if (tcpFlag === 2) out.endedInStart = true;
  else if (tcpFlag === 1) out.tcp = decodeTcp(r, o);
  const fd = r[o + F_FD] as number;
  if (fd >= 0) out.fd = fd;
  const neigh = r[o + F_NEIGH] as number;
  if (neigh !== 0) {
    out.neighbour = {
      lookup: neigh === 1 ? 'entry' : neigh === 2 ? 'none' : 'unread',
      state: r[o + F_NEIGH_STATE] as number,
      address: str(strings, r[o + F_NEIGH_ADDRESS] as number),
      gateway: r[o + F_NEIGH_GATEWAY] === 1,
      ifindex: r[o + F_NEIGH_IFINDEX] as number,
      interface: str(strings, r[o + F_NEIGH_INTERFACE] as number),
      probes: r[o + F_NEIGH_PROBES] as number,
      updatedMs: r[o + F_NEIGH_UPDATED_MS] as number,
      retransMs: r[o + F_NEIGH_RETRANS_MS] as number,
    };
  }
  return out;
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

/**
 * The binary's record columns must be the ones src/record.ts was generated
 * with (both come from native/record.h): a stale build/ or prebuild next to
 * newer JavaScript would otherwise be decoded column by wrong column.
 */
function checkLayout(loaded: Partial<NativeBinding>, file: string): void {
  const layout = loaded.layout;
  if (!Array.isArray(layout) || layout.join(',') !== LAYOUT.join(',') || loaded.stages?.join(',') !== STAGES.join(','))
    throw new Error(
      `sockprobe: the native binary ${file} does not match this version of sockprobe (its record layout differs); rebuild it with \`npm rebuild sockprobe\``,
    );
}

function load(): { binding: NativeBinding; file: string } {
  let file: string | undefined;
  try {
    file = nodeGypBuild.path(root);
    const loaded = require(file) as Partial<NativeBinding> & { unsupported?: string };
    if (typeof loaded.unsupported === 'string') throw new Error(loaded.unsupported);
    checkLayout(loaded, file);
    return { binding: loaded as NativeBinding, file };
  } catch (cause) {
    throw failure(cause, file);
  }
}

const loaded = load();

/** Absolute path of the native binary in use (a prebuild or build/Release). */
export const binaryPath: string = loaded.file;

/**
 * What a completion is handed to: a function, or an object with done(). The
 * object form lets a probe in flight be one object (its target, its promise's
 * resolve, its timing) instead of a closure and the context it keeps.
 */
export interface Completion {
  done(outcome: RawOutcome): void;
}
export type Dispatch = ((outcome: RawOutcome) => void) | Completion;

/**
 * Completion routing shared by every copy of this module in one environment.
 * The addon keeps one dispatcher per environment; a test runner (or two
 * bundled copies of sockprobe) may load this file more than once, so the
 * routing table lives on the addon's exports object rather than in this module.
 *
 * Ids are small integers reused from a free list, so handlers live in an
 * array (and the addon's table is a vector). An id freed while a batch is
 * being dispatched goes back on the list only after the batch: a record later
 * in the same batch must never reach a new probe that took its id.
 */
interface Router {
  readonly handlers: (Dispatch | undefined)[];
  readonly free: number[];
  readonly freeLater: number[];
  dispatching: boolean;
  /** The record buffer init() returned. */
  records: Float64Array;
}

const kRouter = Symbol.for('sockprobe.router.v5');

export const native: NativeBinding = loaded.binding;

function router(): Router {
  const holder = native as NativeBinding & { [kRouter]?: Router };
  let r = holder[kRouter];
  if (r === undefined) {
    const created: Router = { handlers: [undefined], free: [], freeLater: [], dispatching: false, records: new Float64Array(0) };
    const records = native.init((count, strings) => {
      created.dispatching = true;
      try {
        for (let i = 0; i < count; i++) {
          const o = i * RECORD_WIDTH;
          const id = records[o + F_ID] as number;
          const handler = created.handlers[id];
          // A kept socket nobody takes stays in its row: the addon closes it after this batch.
          if (handler === undefined) continue;
          created.handlers[id] = undefined;
          created.freeLater.push(id);
          try {
            const outcome = decode(records, o, strings);
            // Claimed: from here the handler owns the descriptor, and the addon leaves it alone.
            if (outcome.fd !== undefined) records[o + F_FD] = -1;
            if (typeof handler === 'function') handler(outcome);
            else handler.done(outcome);
          } catch (error) {
            // One failing handler must not strand the rest of the batch: report
            // it as uncaught on its own tick and go on with the next record.
            process.nextTick(() => {
              throw error;
            });
          }
        }
      } finally {
        created.dispatching = false;
        for (const id of created.freeLater) created.free.push(id);
        created.freeLater.length = 0;
      }
    });
    // Not instanceof: under a test runner's vm context the addon's Float64Array comes from another realm.
    if (!ArrayBuffer.isView(records) || Object.prototype.toString.call(records) !== '[object Float64Array]' || records.length % RECORD_WIDTH !== 0) {
      // A binary built from an older addon.cc (a stale build/ or prebuild) with this JS.
      throw new Error('sockprobe: the native binary does not match this version of sockprobe (init() returned no record buffer); rebuild it with `npm rebuild sockprobe`');
    }
    created.records = records;
    Object.defineProperty(holder, kRouter, { value: created });
    r = created;
  }
  return r;
}

// SOCKPROBE_ENGINE=uv: libuv's poller (native/backend_uv.cc) instead of the platform default, chosen before any probe.
if (process.env['SOCKPROBE_ENGINE'] === 'uv') (native as NativeBinding & { useBackend(name: string): void }).useBackend('uv');

const shared = router();

const startRecord = native.startRecord;
const records = shared.records;

/** The record buffer's last row: startRecord()'s immediate outcomes. */
const immediateOffset = records.length - RECORD_WIDTH;
/** The strings of an immediate outcome: at most its local address (reused, one element). */
const immediateStrings: string[] = [''];

/**
 * native.start(), with an immediate outcome read from the record buffer when
 * the binary has startRecord(): a number (the row) when the outcome has no
 * strings, the local address string when that is its one string (an open
 * port), an object otherwise. One N-API object per outcome less.
 */
export const start: (...args: StartArgs) => RawOutcome | undefined = (id, family, address, port, localAddress, timeoutMs, flags, ttl = 0) => {
  if (startRecord === undefined) return native.start(id, family, address, port, localAddress, timeoutMs, flags, ttl);
  const r = startRecord.call(native, id, family, address, port, localAddress, timeoutMs, flags, ttl);
  if (typeof r === 'number') return decode(records, r * RECORD_WIDTH, undefined);
  if (typeof r === 'string') {
    immediateStrings[0] = r;
    return decode(records, immediateOffset, immediateStrings);
  }
  return r;
};

/** Reserves an id and registers the completion handler for it. */
export function register(handler: Dispatch): number {
  const id = shared.free.pop() ?? shared.handlers.length;
  shared.handlers[id] = handler;
  return id;
}

/**
 * Reserves an id without a handler, for a start() that may end at once: then
 * release() it; while its probe is in flight, attach() the handler before any
 * other code runs (a dispatch cannot come in between: it runs from the loop).
 */
export function reserve(): number {
  return shared.free.pop() ?? shared.handlers.push(undefined) - 1;
}

export function attach(id: number, handler: Dispatch): void {
  shared.handlers[id] = handler;
}

/** Gives back an id from reserve() whose probe never went in flight. */
export function release(id: number): void {
  (shared.dispatching ? shared.freeLater : shared.free).push(id);
}

/** Releases an id (after its probe ended or was cancelled). */
export function unregister(id: number): void {
  if (shared.handlers[id] === undefined) return;
  shared.handlers[id] = undefined;
  (shared.dispatching ? shared.freeLater : shared.free).push(id);
}
