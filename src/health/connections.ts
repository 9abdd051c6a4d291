// Connections the application registers with a monitor or a healthHandler:
// each round reads them with inspect() (never takeError: a pending error is
// left for the application) and says whether each is healthy. Only sockets
// registered here are ever inspected; a socket is unregistered when asked or
// when it closes, so the registry never keeps a dead socket alive.
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { describeValue } from '../describe-value';
import { inspect, type SocketSnapshot } from '../inspect';
import { isObject } from '../validate';
import { checkInteger } from './targets';

/** Thresholds for one registered connection. */
export interface ConnectionOptions {
  /** Highest acceptable `retransmits` (consecutive retransmission timeouts of the segment in flight). Default 3. */
  maxRetransmits?: number;
  /** Highest acceptable send queue (bytes written and not yet acknowledged). Default: not checked. */
  maxSendQueue?: number;
}

/** A connection to watch: a connected TCP socket the application holds, and the name that labels it. */
export interface HealthConnection extends ConnectionOptions {
  name: string;
  socket: net.Socket | tls.TLSSocket;
}

/** Why a registered connection is (un)healthy. */
export type ConnectionReason =
  | 'ok'
  /** socket.destroy() was called (or the socket failed) and it has not closed yet. */
  | 'destroyed'
  /** Still connecting. */
  | 'connecting'
  /** inspect() could not read it (no descriptor, not TCP); `message` says why. */
  | 'not-inspectable'
  /** The kernel holds an error for it (a reset, a timeout), not yet seen by the application. */
  | 'pending-error'
  /** TCP is no longer in the established state (e.g. close-wait after the peer's FIN). */
  | 'not-established'
  /** The peer shut down its sending side (a FIN arrived). */
  | 'peer-closed'
  /** More consecutive retransmission timeouts than `maxRetransmits`. */
  | 'retransmitting'
  /** More unacknowledged bytes than `maxSendQueue`. */
  | 'send-queue';

export interface ConnectionCheck {
  /** The name it was registered under. */
  connection: string;
  ok: boolean;
  reason: ConnectionReason;
  /** A sentence for people. */
  message: string;
  /** What inspect() read this round; null when it could not read the socket. */
  snapshot: SocketSnapshot | null;
}

interface Entry {
  socket: net.Socket | tls.TLSSocket;
  maxRetransmits: number;
  maxSendQueue: number | undefined;
  onClose: () => void;
}

const MAX_NAME_LENGTH = 256;
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

function checkName(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`connection name must be a string, got ${describeValue(value)}`);
  if (value.length === 0 || value.length > MAX_NAME_LENGTH)
    throw new RangeError(`connection name must be 1 to ${MAX_NAME_LENGTH} characters, got ${value.length}`);
  return value;
}

function checkSocket(value: unknown, name: string): net.Socket {
  if (!(value instanceof net.Socket)) throw new TypeError(`connection '${name}': socket must be a net.Socket or tls.TLSSocket`);
  if (value.destroyed) throw new TypeError(`connection '${name}': socket is destroyed`);
  // A connected socket that inspect() cannot read (a Unix socket, never
  // connected) fails now, not in every later round; a connecting one is
  // accepted and reported as 'connecting' until it is connected.
  if (!value.connecting) inspect(value);
  return value;
}

function message(reason: ConnectionReason, snap: SocketSnapshot | null, e: Entry): string {
  switch (reason) {
    case 'ok':
      return 'connected; no pending error';
    case 'destroyed':
      return 'the socket was destroyed';
    case 'connecting':
      return 'the socket is still connecting';
    case 'not-inspectable':
      return 'inspect() could not read the socket';
    case 'pending-error':
      return 'the kernel holds an error for this socket (e.g. a reset by the peer); the application sees it on its next read or write';
    case 'not-established':
      return `TCP state is ${snap?.state ?? 'unknown'}, not established`;
    case 'peer-closed':
      return 'the peer closed its side of the connection (FIN received)';
    case 'retransmitting':
      return `${String(snap?.retransmits)} consecutive retransmission timeouts (more than ${e.maxRetransmits})`;
    case 'send-queue':
      return `${String(snap?.sendQueue)} bytes unacknowledged (more than ${String(e.maxSendQueue)})`;
  }
}

function evaluate(name: string, e: Entry): ConnectionCheck {
  const out = (reason: ConnectionReason, snapshot: SocketSnapshot | null, text?: string): ConnectionCheck => ({
    connection: name,
    ok: reason === 'ok',
    reason,
    message: text ?? message(reason, snapshot, e),
    snapshot,
  });
  if (e.socket.destroyed) return out('destroyed', null);
  if (e.socket.connecting) return out('connecting', null);
  let snap: SocketSnapshot;
  try {
    snap = inspect(e.socket);
  } catch (error) {
    // A round never throws because of one socket.
    return out('not-inspectable', null, `inspect() could not read the socket: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (snap.error !== null) return out('pending-error', snap);
  if (snap.state !== undefined && snap.state !== 'established') return out('not-established', snap);
  if (snap.peerClosed) return out('peer-closed', snap);
  if ((snap.retransmits ?? 0) > e.maxRetransmits) return out('retransmitting', snap);
  if (e.maxSendQueue !== undefined && (snap.sendQueue ?? 0) > e.maxSendQueue) return out('send-queue', snap);
  return out('ok', snap);
}

/** The registered connections of one monitor or handler. */
export class ConnectionRegistry {
  readonly #entries = new Map<string, Entry>();
  /** Called after every register/unregister (the handler drops its cached round). */
  readonly #changed: () => void;

  constructor(initial: unknown, changed: () => void = () => undefined) {
    this.#changed = changed;
    if (initial === undefined) return;
    if (!Array.isArray(initial)) throw new TypeError('connections must be an array of { name, socket }');
    const names = new Set<string>();
    initial.forEach((c: unknown, i) => {
      if (!isObject(c)) throw new TypeError(`connections[${i}] must be an object { name, socket }`);
      const name = checkName(c.name);
      if (names.has(name)) throw new RangeError(`connection names must be unique; '${name}' appears twice`);
      names.add(name);
    });
    // Validate every entry before registering any, so a bad one registers nothing.
    const checked = initial.map((c: Record<string, unknown>) => this.#check(c.name as string, c.socket, c));
    for (const [name, entry] of checked) this.#add(name, entry);
  }

  #check(nameValue: unknown, socketValue: unknown, options: unknown): [string, Entry] {
    const name = checkName(nameValue);
    const socket = checkSocket(socketValue, name);
    if (options !== undefined && !isObject(options)) throw new TypeError(`connection '${name}': options must be an object`);
    const o = options ?? {};
    const maxSendQueue = o.maxSendQueue === undefined ? undefined : checkInteger(o.maxSendQueue, 'maxSendQueue', 0, 0, MAX_BYTES);
    const entry: Entry = {
      socket,
      maxRetransmits: checkInteger(o.maxRetransmits, 'maxRetransmits', 3, 0, 1_000_000),
      maxSendQueue,
      onClose: () => {
        if (this.#entries.get(name) === entry) this.unregister(name);
      },
    };
    return [name, entry];
  }

  #add(name: string, entry: Entry): void {
    this.#remove(name);
    this.#entries.set(name, entry);
    entry.socket.once('close', entry.onClose);
  }

  #remove(name: string): boolean {
    const old = this.#entries.get(name);
    if (old === undefined) return false;
    old.socket.removeListener('close', old.onClose);
    this.#entries.delete(name);
    return true;
  }

  /**
   * Watches `socket` under `name` (replacing a socket registered under the
   * same name) until unregister(name) or until the socket closes.
   */
  register(name: string, socket: net.Socket | tls.TLSSocket, options?: ConnectionOptions): void {
    const [n, entry] = this.#check(name, socket, options);
    this.#add(n, entry);
    this.#changed();
  }

  /** Stops watching `name`; false when nothing was registered under it. */
  unregister(name: string): boolean {
    const removed = this.#remove(name);
    if (removed) this.#changed();
    return removed;
  }

  /** The names registered now. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** Inspects every registered connection (synchronously; never throws). */
  inspectAll(): ConnectionCheck[] {
    return [...this.#entries].map(([name, e]) => evaluate(name, e));
  }

  /** Unregisters everything (on stop). */
  clear(): void {
    for (const name of [...this.#entries.keys()]) this.#remove(name);
  }
}
