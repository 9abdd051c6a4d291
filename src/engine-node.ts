// The node engine: connects through net.Socket where no native binary loads
// (or SOCKPROBE_ENGINE=node chooses it). It reports what Node reports, in
// the addon's RawOutcome shape, so classify() gives the same vocabulary:
// the errno's name (error.code) and where it came from (error.syscall), a
// deadline of its own, and on success the local address. What only the
// kernel's socket options tell (TCP_INFO, the ICMP error queue and its
// sender, the neighbour entry, SO_SNDBUF / SO_RCVBUF) it cannot know, and
// leaves out of the outcome: absent in results, never 0.
import * as net from 'node:net';
import * as os from 'node:os';
import { FLAG_GRACEFUL, FLAG_KEEP, nativeLoad, type RawFamily, type RawOutcome, type RawStage } from './binding';
import type { Connector, Pending } from './engine';

const ERRNO = os.constants.errno as Readonly<Record<string, number | undefined>>;

let noticed = false;
/** NodeConnects started and not yet detached. */
let pendingCount = 0;

/**
 * The loader's message, once per process on first use, when the node engine
 * runs because the native one failed to load (not when SOCKPROBE_ENGINE=node
 * chose it): why, what this engine cannot tell, and how to get the native one.
 */
function noticeOnce(): void {
  if (noticed || nativeLoad.ok || nativeLoad.chosen) return;
  noticed = true;
  const lines = nativeLoad.error.message.split('\n');
  const ways = lines.indexOf('Ways out:');
  const going = [
    'sockprobe goes on with its pure-JavaScript engine (net.Socket): open, refused, unreachable, timeout and local',
    'errors are told as Node reports them, but results carry no TCP_INFO, ICMP sender or neighbour entry, a',
    "firewall's ICMP rejection reads as unreachable or refused, and trace() and inspect() need the native engine.",
  ];
  lines.splice(ways < 0 ? lines.length : ways, 0, ...going);
  lines.push('Set SOCKPROBE_ENGINE=node to choose the pure-JavaScript engine without this message.');
  process.emitWarning(lines.join('\n'), { type: 'SockprobeWarning', code: 'SOCKPROBE_NO_NATIVE' });
}

const noop = (): void => undefined;
const ns = (from: number): number => Math.round((performance.now() - from) * 1e6);

/** One connect in flight: its socket, its deadline, and the attempt it reports to. */
class NodeConnect {
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;
  private deadline: NodeJS.Immediate | undefined;
  private readonly socket: net.Socket;

  constructor(
    private readonly pending: Pending,
    private readonly unix: boolean,
    private readonly flags: number,
    options: net.NetConnectOpts,
    timeoutMs: number,
  ) {
    // May throw for sockprobe's own faults (an option Node refuses): start() passes that on.
    this.socket = net.connect(options);
    this.socket.on('connect', this.onConnect);
    this.socket.on('error', this.onError);
    this.timer = setTimeout(this.onTimeout, timeoutMs);
    pendingCount++;
  }

  /** Stops listening, keeps a late 'error' from becoming uncaught, and stops the deadline. */
  private detach(): net.Socket {
    pendingCount--;
    clearTimeout(this.timer);
    if (this.deadline !== undefined) clearImmediate(this.deadline);
    const s = this.socket;
    s.removeListener('connect', this.onConnect);
    s.removeListener('error', this.onError);
    s.on('error', noop);
    this.pending.handle = undefined;
    return s;
  }

  private readonly onConnect = (): void => {
    const s = this.detach();
    const elapsed = ns(this.started);
    const raw: RawOutcome = {
      errno: 0,
      stage: 'connected',
      elapsedNs: elapsed,
      connectNs: elapsed,
      localAddress: s.localAddress ?? '',
      localPort: s.localPort ?? 0,
    };
    if ((this.flags & FLAG_KEEP) !== 0) {
      // A check runs on it: the attempt owns the socket from here (it listens for 'error' itself).
      s.removeListener('error', noop);
      raw.socket = s;
    } else if ((this.flags & FLAG_GRACEFUL) !== 0 || this.unix) {
      s.destroy(); // close(): a FIN (a Unix socket has no RST)
    } else {
      s.resetAndDestroy(); // SO_LINGER 0: an RST, no TIME_WAIT, as the native engine closes
    }
    this.pending.done(raw);
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    this.detach().destroy();
    const code = error.code;
    // An errno name (Node passes libuv's, 'ECONNREFUSED'): a network outcome. Anything else ('ERR_...') is sockprobe's fault.
    if (code === undefined || !/^E[A-Z0-9]+$/.test(code)) {
      this.pending.crashed(error);
      return;
    }
    // libuv makes the socket inside connect() or bind(): EMFILE and ENFILE
    // come from socket() (connect() and bind() never say them).
    const stage: RawStage = code === 'EMFILE' || code === 'ENFILE' ? 'socket' : error.syscall === 'bind' ? 'bind' : 'connect';
    this.pending.done({
      errno: ERRNO[code] ?? (typeof error.errno === 'number' ? Math.abs(error.errno) : 0),
      code,
      stage,
      elapsedNs: ns(this.started),
      connectNs: 0,
      localAddress: '',
      localPort: 0,
    });
  };

  /**
   * The deadline's timer runs before the loop polls for I/O: an answer that
   * came while the loop was busy past the deadline has not been read yet.
   * The verdict waits for the check phase, after this turn's poll, so such an
   * answer wins, as it does with the native engine.
   */
  private readonly onTimeout = (): void => {
    this.deadline = setImmediate(this.onDeadline);
  };

  private readonly onDeadline = (): void => {
    this.deadline = undefined;
    // Still connecting: close() drops the half-open socket (resetAndDestroy() would wait for a connect).
    this.detach().destroy();
    this.pending.done({ errno: 0, stage: 'timeout', elapsedNs: ns(this.started), connectNs: 0, localAddress: '', localPort: 0 });
  };

  cancel(): void {
    this.detach().destroy();
  }
}

export const nodeConnector: Connector = {
  start(p: Pending, family: RawFamily, address: string, port: number, localAddress: string | null, timeoutMs: number, flags: number, ttl = 0): RawOutcome | undefined {
    if (ttl !== 0)
      throw new Error('sockprobe: trace() needs the native engine: net.Socket cannot set the hop limit (IP_TTL) of its SYNs');
    noticeOnce();
    const options: net.NetConnectOpts =
      family === 0 ? { path: address } : localAddress === null ? { host: address, port, family } : { host: address, port, family, localAddress };
    p.handle = new NodeConnect(p, family === 0, flags, options, timeoutMs);
    return undefined;
  },

  cancel(p: Pending): void {
    (p.handle as NodeConnect).cancel();
  },

  inFlight(): number {
    return pendingCount;
  },
};
