// Which engine runs the connects, and what it can tell. The native engine
// (the addon, with its epoll or libuv backend) is the default wherever its
// binary loads; the node engine (src/engine-node.ts: net.Socket) runs where
// none does, or when SOCKPROBE_ENGINE=node chooses it. Attempts (src/attempt.ts)
// reach either through the one Connector chosen here, and both report the same
// RawOutcome to the same classify(): one vocabulary, fewer facts without the addon.
import type { Completion, ConnectArgs, RawOutcome } from './binding';
import { native, nativeLoad, requested } from './binding';
import { nativeConnector } from './engine-native';
import { nodeConnector } from './engine-node';

/** 'epoll' / 'uv': the native engine and its readiness backend; 'node': the pure-JavaScript engine (net.Socket). */
export type EngineName = 'epoll' | 'uv' | 'node';

/**
 * Facts a result can carry, by engine and platform (engine().facts):
 * - 'tcpInfo': `tcp` (RTT, MSS, SYN retransmits) and TimeoutResult.synRetransmits (Linux TCP_INFO);
 * - 'tcpConnectionInfo': the same from macOS TCP_CONNECTION_INFO;
 * - 'icmpQueue': `from` and `icmp` of blocked / unreachable results, from the socket's ICMP error queue (Linux);
 * - 'icmpError': the same from Windows' TCP_ICMP_ERROR_INFO;
 * - 'neighbour': `neighbour` of timeout / unreachable results (the next hop's ARP / NDP entry, Linux);
 * - 'sndbuf', 'rcvbuf': OpenResult.sndbuf / rcvbuf;
 * - 'localAddress': OpenResult.local;
 * - 'ttl': the SYNs' hop limit can be set, which trace() needs;
 * - 'memInfo': the socket's memory counters (SO_MEMINFO).
 * A fact an engine cannot know is absent from results, never 0 or a guess.
 */
export type EngineFact =
  | 'tcpInfo'
  | 'tcpConnectionInfo'
  | 'icmpQueue'
  | 'icmpError'
  | 'neighbour'
  | 'memInfo'
  | 'sndbuf'
  | 'rcvbuf'
  | 'localAddress'
  | 'ttl';

/** What engine() says: the engine running probes here and what its results can tell. */
export interface EngineInfo {
  readonly name: EngineName;
  /** True for the addon's engines ('epoll', 'uv'), false for 'node'. */
  readonly native: boolean;
  readonly platform: NodeJS.Platform;
  readonly arch: string;
  /** The facts results can carry (see EngineFact); one not listed is absent from every result. */
  readonly facts: readonly EngineFact[];
  /** Why the native engine is not in use (only for 'node'): the loader's error, or SOCKPROBE_ENGINE=node. */
  readonly reason?: string;
}

/** An attempt as an engine sees it: where the outcome goes, and a slot for the engine's own state. */
export interface Pending extends Completion {
  /** The engine's per-attempt state (the addon's id, the node engine's connection); undefined when none. */
  handle: unknown;
  /** The engine could not go on (an exception, not a network outcome): the attempt rejects with it. */
  crashed(error: unknown): void;
}

/** Runs connects for attempts: the native engine or the node engine, one per process. */
export interface Connector {
  /**
   * Starts one connect. Returns its outcome when known at once; otherwise
   * undefined, and exactly one later `p.done(outcome)` or `p.crashed(error)`,
   * unless cancel(p) came first. Throws for sockprobe's own faults only.
   * FLAG_KEEP: a connected socket is handed over in the outcome (`fd` or `socket`).
   */
  start(p: Pending, ...args: ConnectArgs): RawOutcome | undefined;
  /** Stops an attempt in flight and closes its socket at once; nothing is reported. */
  cancel(p: Pending): void;
  /** Connects in flight in this environment (the tests' leak checks). */
  inFlight(): number;
}

/** The facts the addon reports on Linux, for binaries that do not list theirs (no `capabilities`). */
const LINUX_FACTS: readonly EngineFact[] = ['tcpInfo', 'icmpQueue', 'neighbour', 'memInfo', 'sndbuf', 'rcvbuf', 'localAddress', 'ttl'];
/** net.Socket tells the local address and port of a connection, and nothing else of the kernel's. */
const NODE_FACTS: readonly EngineFact[] = ['localAddress'];

function describeEngine(): EngineInfo {
  const base = { platform: process.platform, arch: process.arch };
  if (!nativeLoad.ok) {
    return Object.freeze({
      name: 'node',
      native: false,
      ...base,
      facts: Object.freeze([...NODE_FACTS]),
      reason: nativeLoad.error.message,
    });
  }
  const facts = (native.capabilities ?? LINUX_FACTS) as readonly EngineFact[];
  return Object.freeze({
    // The backend SOCKPROBE_ENGINE switched to (binding.ts checked it exists), else the binary's default.
    name: requested === 'epoll' || requested === 'uv' ? requested : native.backend === 'uv' ? 'uv' : 'epoll',
    native: true,
    ...base,
    facts: Object.freeze([...facts]),
  });
}

const info = describeEngine();

/**
 * The engine that runs probes in this process and what its results can
 * tell: name ('epoll', 'uv' or 'node'), platform, arch, `native`, the facts
 * results can carry, and for the node engine the reason the native one is
 * not in use. Chosen once, when sockprobe is loaded (SOCKPROBE_ENGINE).
 */
export function engine(): EngineInfo {
  return info;
}

/** True when results from this engine can carry `fact`. */
export function engineCan(fact: EngineFact): boolean {
  return info.facts.includes(fact);
}

/** The connector every attempt uses. */
export const connector: Connector = nativeLoad.ok ? nativeConnector : nodeConnector;

/**
 * The connector for attempts with a check. On Windows the addon's connected
 * SOCKET cannot become a net.Socket (Node wraps only handles it made itself),
 * so a check's connect runs through net.Socket there: the check gets its
 * socket, and the attempt's TCP facts are the node engine's.
 */
export const checkConnector: Connector = process.platform === 'win32' ? nodeConnector : connector;

/** Connects in flight, whichever engine runs them (for tests and leak checks; not exported by the package). */
export function inFlight(): number {
  return connector.inFlight();
}
