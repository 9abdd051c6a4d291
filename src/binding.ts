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

/** Bits of start()'s `flags`. */
export const FLAG_GRACEFUL = 1;
export const FLAG_NO_RECVERR = 2;

/** Family argument of start(): 0 is a Unix domain socket path. */
export type RawFamily = 0 | 4 | 6;

export interface NativeBinding {
  /**
   * Registers the completion callback and returns the record buffer it reads:
   * dispatch(count, strings) means `count` records of RECORD_WIDTH numbers are
   * filled in (layout in decode()), their strings in `strings`.
   */
  init(dispatch: (count: number, strings: string[] | undefined) => void): Float64Array;
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
}

/** Numbers per completion record; must match kRecordWidth in native/addon.cc. */
export const RECORD_WIDTH = 36;
const STAGES: readonly RawStage[] = ['socket', 'setsockopt', 'address', 'bind', 'connect', 'poll', 'so_error', 'errqueue', 'timeout', 'connected'];
const SETTLES: readonly (RawSettle | undefined)[] = [undefined, 'quiet', 'data', 'fin', 'reset'];

/** One record of the buffer as a RawOutcome (the shape start() returns for an immediate end). */
function decode(r: Float64Array, o: number, strings: string[] | undefined): RawOutcome {
  const str = (i: number): string => (i < 0 || strings === undefined ? '' : strings[i] ?? '');
  const out: RawOutcome = {
    errno: r[o + 1] as number,
    stage: STAGES[r[o + 2] as number] ?? 'poll',
    elapsedNs: r[o + 3] as number,
    connectNs: r[o + 4] as number,
    sndbuf: r[o + 5] as number,
    rcvbuf: r[o + 6] as number,
    localAddress: str(r[o + 8] as number),
    localPort: r[o + 7] as number,
  };
  if (r[o + 11] === 1) {
    out.icmp = {
      errno: r[o + 12] as number,
      origin: r[o + 13] as number,
      type: r[o + 14] as number,
      code: r[o + 15] as number,
      info: r[o + 16] as number,
      offender: str(r[o + 17] as number),
    };
  }
  if (r[o + 18] === 1) {
    const t = o + 19;
    out.tcp = {
      bytes: r[t] as number,
      state: r[t + 1] as number,
      caState: r[t + 2] as number,
      retransmits: r[t + 3] as number,
      probes: r[t + 4] as number,
      backoff: r[t + 5] as number,
      options: r[t + 6] as number,
      rto: r[t + 7] as number,
      sndMss: r[t + 8] as number,
      rcvMss: r[t + 9] as number,
      unacked: r[t + 10] as number,
      lost: r[t + 11] as number,
      retrans: r[t + 12] as number,
      rtt: r[t + 13] as number,
      rttvar: r[t + 14] as number,
      sndCwnd: r[t + 15] as number,
      totalRetrans: r[t + 16] as number,
    };
  }
  const settle = SETTLES[r[o + 9] as number];
  if (settle !== undefined) {
    out.settle = settle;
    out.settleErrno = r[o + 10] as number;
  }
  return out;
}

const root = path.join(__dirname, '..');

function load(): NativeBinding {
  try {
    const loaded = nodeGypBuild(root) as Partial<NativeBinding> & { unsupported?: string };
    if (typeof loaded.unsupported === 'string') throw new Error(loaded.unsupported);
    return loaded as NativeBinding;
  } catch (cause) {
    const where = `${process.platform}-${process.arch} (Node ${process.version}, N-API ${process.versions.napi ?? '?'})`;
    const message = [
      `sockprobe: no native binary loads on ${where}.`,
      `Tried: ${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)} (prebuilt) and ${path.join(root, 'build', 'Release')} (built from source).`,
      `Underlying error: ${cause instanceof Error ? cause.message : String(cause)}`,
      'Ways out: build it from source with `npm rebuild sockprobe` (needs python3, make and a C++ compiler),',
      'or, if your npm blocks install scripts, approve this package\'s install script (npm 11: `npm approve-builds` / allow-scripts) and reinstall.',
    ].join('\n');
    throw new Error(message, { cause });
  }
}

export type Dispatch = (outcome: RawOutcome) => void;

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
}

const kRouter = Symbol.for('sockprobe.router.v2');

export const native: NativeBinding = load();

function router(): Router {
  const holder = native as NativeBinding & { [kRouter]?: Router };
  let r = holder[kRouter];
  if (r === undefined) {
    const created: Router = { handlers: [undefined], free: [], freeLater: [], dispatching: false };
    const records = native.init((count, strings) => {
      created.dispatching = true;
      try {
        for (let i = 0; i < count; i++) {
          const o = i * RECORD_WIDTH;
          const id = records[o] as number;
          const handler = created.handlers[id];
          if (handler === undefined) continue;
          created.handlers[id] = undefined;
          created.freeLater.push(id);
          handler(decode(records, o, strings));
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
    Object.defineProperty(holder, kRouter, { value: created });
    r = created;
  }
  return r;
}

const shared = router();

/** Reserves an id and registers the completion handler for it. */
export function register(handler: Dispatch): number {
  const id = shared.free.pop() ?? shared.handlers.length;
  shared.handlers[id] = handler;
  return id;
}

/** Releases an id (after its probe ended or was cancelled). */
export function unregister(id: number): void {
  if (shared.handlers[id] === undefined) return;
  shared.handlers[id] = undefined;
  (shared.dispatching ? shared.freeLater : shared.free).push(id);
}
