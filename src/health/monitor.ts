// monitor(): periodic probing with Kubernetes probe semantics (period,
// timeout, failure/success thresholds) and Docker's start period. Timers are
// unref'd: a monitor never keeps a process alive on its own.
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import type { ProbeResult } from '../types';
import { checkNonNegativeMs, checkOptions, checkSignal, MAX_TIMEOUT_MS } from '../validate';
import { checkSettings, runCheck, type CheckSettings } from './check';
import { ConnectionRegistry, type ConnectionCheck, type ConnectionOptions, type HealthConnection } from './connections';
import { checkInteger, checkTargetsAgainst, checkNumber, normalizeTargets, now, type HealthTarget, type NormalTarget, type PassThroughProbeOptions } from './targets';

export type HealthState = 'starting' | 'healthy' | 'unhealthy';

export interface MonitorOptions extends PassThroughProbeOptions {
  /** Time between the starts of two rounds, ms (Kubernetes periodSeconds). Default 10000. */
  periodMs?: number;
  /** Timeout of each probe, ms (timeoutSeconds). Default 1000. */
  timeout?: number;
  /**
   * @deprecated The old name of `timeout`, the name check(), waitFor() and
   * healthHandler() take. Still accepted; given with `timeout` it must have
   * the same value (a RangeError otherwise).
   */
  timeoutMs?: number;
  /** Consecutive failures that make a target unhealthy (failureThreshold). Default 3. */
  failureThreshold?: number;
  /** Consecutive successes that make a target healthy (successThreshold). Default 1. */
  successThreshold?: number;
  /** Failures in this many ms after the start do not count until a first success (Docker --start-period). Default 0. */
  startPeriodMs?: number;
  /** How many recent results to keep per target. Default 10. */
  historySize?: number;
  /** Aborting stops the monitor, as stop() does. */
  signal?: AbortSignal;
  /** Connections the application holds, inspected every round (more with monitor.register()). */
  connections?: readonly HealthConnection[];
}

export interface TargetStatus {
  target: string;
  state: HealthState;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** Most recent last; at most `historySize`. */
  history: ProbeResult[];
  lastResult: ProbeResult | null;
  /** When the target entered its current state (ms since the epoch). */
  since: number;
}

export interface MonitorStatus {
  /**
   * healthy when every target is and every registered connection was in the
   * last round; unhealthy when any target is or any connection was; otherwise starting.
   */
  state: HealthState;
  targets: TargetStatus[];
  /** The registered connections as the last round inspected them (empty before the first round). */
  connections: ConnectionCheck[];
  rounds: number;
}

/** A target changed state. */
export interface Transition {
  target: string;
  from: HealthState;
  to: HealthState;
  result: ProbeResult;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** ms since the epoch */
  at: number;
}

export interface MonitorEvents {
  /** A target changed state. */
  transition: [Transition];
  /** The overall state changed (see MonitorStatus.state). */
  state: [HealthState, HealthState];
  /** A round finished. */
  round: [MonitorStatus];
  /** The monitor stopped. */
  stop: [];
}

interface Settings {
  periodMs: number;
  failureThreshold: number;
  successThreshold: number;
  startPeriodMs: number;
  historySize: number;
  check: CheckSettings;
}

const MAX_THRESHOLD = 1_000_000;
/** Bound on the transitions an async iterator buffers for a reader that has fallen behind (oldest dropped). */
const ITERATOR_BUFFER = 1024;

function settings(options: unknown): Settings & { signal: AbortSignal | undefined } {
  const o = checkOptions(options);
  return {
    periodMs: checkNumber(o.periodMs, 'periodMs', 10_000, 0, MAX_TIMEOUT_MS, true),
    failureThreshold: checkInteger(o.failureThreshold, 'failureThreshold', 3, 1, MAX_THRESHOLD),
    successThreshold: checkInteger(o.successThreshold, 'successThreshold', 1, 1, MAX_THRESHOLD),
    startPeriodMs: checkNonNegativeMs(o.startPeriodMs, 'startPeriodMs'),
    historySize: checkInteger(o.historySize, 'historySize', 10, 1, 10_000),
    // The monitor's own controller aborts probes on stop(); the caller's
    // signal stops the monitor.
    check: checkSettings({ ...o, signal: undefined }, 1000, 'timeoutMs'),
    signal: checkSignal(o.signal),
  };
}

interface Entry {
  name: string;
  state: HealthState;
  successes: number;
  failures: number;
  started: boolean;
  history: ProbeResult[];
  since: number;
}

function aggregate(entries: readonly Entry[], connections: readonly ConnectionCheck[]): HealthState {
  if (entries.some((e) => e.state === 'unhealthy') || connections.some((c) => !c.ok)) return 'unhealthy';
  if (entries.every((e) => e.state === 'healthy')) return 'healthy';
  return 'starting';
}

export class Monitor extends EventEmitter<MonitorEvents> {
  readonly #targets: NormalTarget[];
  readonly #s: Settings;
  readonly #entries: Entry[];
  readonly #controller = new AbortController();
  readonly #startedAt = now();
  readonly #signal: AbortSignal | undefined;
  readonly #iterators = new Set<(t: Transition | null) => void>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #rounds = 0;
  #state: HealthState = 'starting';
  readonly #registry: ConnectionRegistry;
  #connections: ConnectionCheck[] = [];

  /** Use monitor(); the constructor validates and schedules the first round at once. */
  constructor(targets: HealthTarget | readonly HealthTarget[], options?: MonitorOptions) {
    super();
    this.#targets = normalizeTargets(targets, true);
    const { signal, ...s } = settings(options);
    this.#registry = new ConnectionRegistry((options as { connections?: unknown } | undefined)?.connections);
    checkTargetsAgainst(this.#targets, s.check.pass);
    this.#s = { ...s, check: { ...s.check, signal: this.#controller.signal } };
    const t = Date.now();
    this.#entries = this.#targets.map((x) => ({ name: x.name, state: 'starting', successes: 0, failures: 0, started: false, history: [], since: t }));
    this.#signal = signal;
    if (signal?.aborted) {
      this.#stopped = true;
      return;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    // First round on the next turn of the loop, so listeners can be attached.
    this.#schedule(0);
  }

  readonly #onAbort = (): void => this.stop();

  /**
   * Watches `socket` under `name` (replacing one of the same name) from the
   * next round on, until unregister(name), the socket closes, or stop().
   * Throws a TypeError for a socket that is destroyed or cannot be inspected.
   * On a stopped monitor it does nothing (nothing would ever unregister it).
   */
  register(name: string, socket: net.Socket | tls.TLSSocket, options?: ConnectionOptions): void {
    if (this.#stopped) return;
    this.#registry.register(name, socket, options);
  }

  /** Stops watching `name`; false when nothing was registered under it. */
  unregister(name: string): boolean {
    return this.#registry.unregister(name);
  }

  /** The settings in force, defaults filled in (`timeoutMs`, deprecated, is `timeout` again). */
  get options(): Readonly<Required<Omit<MonitorOptions, 'signal' | 'connections' | keyof PassThroughProbeOptions>>> {
    const s = this.#s;
    return {
      periodMs: s.periodMs,
      timeout: s.check.timeout,
      timeoutMs: s.check.timeout,
      failureThreshold: s.failureThreshold,
      successThreshold: s.successThreshold,
      startPeriodMs: s.startPeriodMs,
      historySize: s.historySize,
    };
  }

  get state(): HealthState {
    return this.#state;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  status(): MonitorStatus {
    return {
      state: this.#state,
      rounds: this.#rounds,
      connections: [...this.#connections],
      targets: this.#entries.map((e) => ({
        target: e.name,
        state: e.state,
        consecutiveSuccesses: e.successes,
        consecutiveFailures: e.failures,
        history: [...e.history],
        lastResult: e.history[e.history.length - 1] ?? null,
        since: e.since,
      })),
    };
  }

  /** Stops the timers, aborts probes in flight (closing their sockets) and ends every async iterator. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#controller.abort();
    this.#registry.clear();
    for (const push of this.#iterators) push(null);
    this.#iterators.clear();
    this.emit('stop');
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#round(), ms);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    // A round is only ever scheduled after the previous one finished, so
    // rounds never overlap; this guard makes sure of it.
    if (this.#running || this.#stopped) return;
    this.#running = true;
    const started = now();
    try {
      // Read at the round's start, synchronously (a socket cannot close between being listed and being read).
      const connections = this.#registry.inspectAll();
      const report = await runCheck(this.#targets, this.#s.check);
      if (this.#stopped) return;
      this.#rounds++;
      this.#connections = connections;
      report.results.forEach((r, i) => this.#record(this.#entries[i] as Entry, r.result));
      // A listener may have called stop() from a 'transition' event.
      if (this.#stopped) return;
      const before = this.#state;
      this.#state = aggregate(this.#entries, this.#connections);
      if (before !== this.#state) this.emit('state', this.#state, before);
      this.emit('round', this.status());
    } catch (error) {
      // The only rejection runCheck has after validation is our own abort on stop().
      if (!this.#stopped) process.emitWarning(`sockprobe monitor: a round failed: ${String(error)}`);
    } finally {
      this.#running = false;
      this.#schedule(Math.max(0, this.#s.periodMs - (now() - started)));
    }
  }

  #record(e: Entry, result: ProbeResult): void {
    if (this.#stopped) return;
    e.history.push(result);
    if (e.history.length > this.#s.historySize) e.history.shift();
    const from = e.state;
    if (result.status === 'open') {
      e.started = true;
      e.successes++;
      e.failures = 0;
      if (e.state !== 'healthy' && e.successes >= this.#s.successThreshold) e.state = 'healthy';
    } else {
      e.successes = 0;
      // Docker's start period: failures before the first success within it do not count.
      const grace = !e.started && now() - this.#startedAt < this.#s.startPeriodMs;
      if (!grace) e.failures++;
      if (e.state !== 'unhealthy' && e.failures >= this.#s.failureThreshold) e.state = 'unhealthy';
    }
    if (e.state === from) return;
    e.since = Date.now();
    const t: Transition = {
      target: e.name,
      from,
      to: e.state,
      result,
      consecutiveSuccesses: e.successes,
      consecutiveFailures: e.failures,
      at: e.since,
    };
    for (const push of this.#iterators) push(t);
    this.emit('transition', t);
  }

  /**
   * The transitions from now on, until stop(). A pending next() does not keep
   * the process alive (the monitor's timers are unref'd).
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Transition> {
    const queue: Transition[] = [];
    let waiting: ((r: IteratorResult<Transition>) => void) | null = null;
    let done = this.#stopped;
    const push = (t: Transition | null): void => {
      if (t === null) {
        done = true;
        waiting?.({ value: undefined, done: true });
        waiting = null;
        return;
      }
      if (waiting !== null) {
        const w = waiting;
        waiting = null;
        w({ value: t, done: false });
        return;
      }
      queue.push(t);
      if (queue.length > ITERATOR_BUFFER) queue.shift();
    };
    if (!done) this.#iterators.add(push);
    const iterators = this.#iterators;
    const it: AsyncIterableIterator<Transition> = {
      next: () => {
        const t = queue.shift();
        if (t !== undefined) return Promise.resolve({ value: t, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        done = true;
        queue.length = 0;
        iterators.delete(push);
        waiting?.({ value: undefined, done: true });
        waiting = null;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}

/**
 * Starts probing `targets` every `periodMs` (first round at once). Each
 * target goes starting -> healthy after `successThreshold` consecutive opens,
 * -> unhealthy after `failureThreshold` consecutive failures.
 */
export function monitor(targets: HealthTarget | readonly HealthTarget[], options?: MonitorOptions): Monitor {
  return new Monitor(targets, options);
}
