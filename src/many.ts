// probeMany(): many probes with a bounded number in flight, results in
// completion order as an async iterable. Built for scans: one native start per
// target, no promise per probe on the numeric-address path, each name resolved
// once per call, and every socket closed when the caller stops early or aborts.
import { setMaxListeners } from 'node:events';
import { Attempt, buildResult } from './attempt';
import type { AttemptTarget } from './classify';
import { abortError } from './errors';
import { lookup, probeValidHost, settings, type Lookup, type ProbeOptions, type ProbeTarget, type Settings } from './probe';
import type { AddressResult, ProbeResult } from './types';
import { parsePorts } from './ports';
import { describeValue as describe } from './describe-value';
import { checkHost, checkOptions, checkPort, checkUnixPath, isObject, literalFamily } from './validate';

export { parsePorts };

export interface ProbeManyOptions extends ProbeOptions {
  /**
   * Most probes in flight at once. Default 256. A probe of a numeric address
   * or a path holds one descriptor; a probe of a name holds one per address
   * it resolved to (both of localhost's, say), so descriptors in use can
   * reach `concurrency` times the most addresses a name has.
   */
  concurrency?: number;
}

/** A probe()-shaped result, plus the position of its target in the input. */
export type ProbeManyResult = ProbeResult & { index: number };

export const DEFAULT_CONCURRENCY = 256;
/** Far above any sane descriptor limit; a guard against typos such as 1e9. */
export const MAX_CONCURRENCY = 1_048_576;

type Prepared =
  | { kind: 'direct'; index: number; target: AttemptTarget; host: string }
  | { kind: 'name'; index: number; host: string; port: number };

function checkConcurrency(value: unknown): number {
  if (value === undefined) return DEFAULT_CONCURRENCY;
  if (typeof value !== 'number') throw new TypeError(`concurrency must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > MAX_CONCURRENCY)
    throw new RangeError(`concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got ${String(value)}`);
  return value;
}

/**
 * The last host seen and its literal family: a scan names one host for many
 * ports, so this spares parsing the same address string for every target.
 */
interface HostMemo {
  host: string | undefined;
  literal: 0 | 4 | 6;
}

/** Validates one target the way probe() validates its arguments. */
function prepare(t: unknown, index: number, s: Settings, memo: HostMemo): Prepared {
  // Names for error messages, built only when one is thrown.
  const where = (): string => `targets[${index}]`;
  if (!isObject(t)) throw new TypeError(`${where()} must be { host, port } or { path }, got ${describe(t)}`);
  if ('path' in t) {
    if ('host' in t || 'port' in t) throw new TypeError(`${where()} must have either path or host and port, not both`);
    const path = checkUnixPath(t.path);
    if (s.local !== undefined) throw new RangeError('localAddress does not apply to a Unix domain socket');
    if (s.family !== 0) throw new RangeError('family does not apply to a Unix domain socket');
    return { kind: 'direct', index, host: path, target: { address: path, family: 'unix', port: null } };
  }
  const host = checkHost(t.host, () => `${where()}.host`);
  const port = checkPort(t.port, () => `${where()}.port`);
  let literal: 0 | 4 | 6;
  if (host === memo.host) literal = memo.literal;
  else {
    literal = literalFamily(host);
    memo.host = host;
    memo.literal = literal;
  }
  if (literal === 0) return { kind: 'name', index, host, port };
  const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
  if (wanted !== 0 && literal !== wanted)
    throw new RangeError(`${host} is an IPv${literal} address but only IPv${wanted} was asked for`);
  return { kind: 'direct', index, host, target: { address: host, family: literal, port } };
}

/**
 * Probes every target with at most `concurrency` in flight and yields each
 * result as it completes (completion order; `index` says which target).
 * Options and an array of targets are checked at once (TypeError, RangeError);
 * a bad target from another iterable rejects the iteration when reached.
 * Aborting `signal` rejects the pending next() with an AbortError and closes
 * every socket still open; so does leaving a for-await loop early (return()).
 */
export function probeMany(
  targets: Iterable<ProbeTarget>,
  options?: ProbeManyOptions,
): AsyncIterableIterator<ProbeManyResult> {
  if (targets === null || typeof targets !== 'object' || typeof (targets as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function')
    throw new TypeError(`targets must be an iterable of { host, port } or { path }, got ${describe(targets)}`);
  const o = checkOptions(options);
  const concurrency = checkConcurrency(o.concurrency);
  const s = settings(o);
  if (Array.isArray(targets)) {
    // Every target of an array is checked now (TypeError, RangeError at the
    // call), then prepared again as it is started: keeping a prepared copy of
    // a large scan would hold it all in the old generation for the scan's
    // length. An index loop, not forEach: a hole is a bad target, not skipped.
    const list = targets as unknown[];
    const memo: HostMemo = { host: undefined, literal: 0 };
    for (let i = 0; i < list.length; i++) prepare(list[i], i, s, memo);
  }
  return new Batch((targets as Iterable<unknown>)[Symbol.iterator](), concurrency, s);
}

interface Waiter {
  resolve(r: IteratorResult<ProbeManyResult>): void;
  reject(e: unknown): void;
}

class Batch implements AsyncIterableIterator<ProbeManyResult> {
  private readonly ready: ProbeManyResult[] = [];
  private head = 0;
  private waiter: Waiter | undefined;
  private failure: { error: unknown } | undefined;
  private finished = false;
  private exhausted = false;
  private nextIndex = 0;
  private inFlight = 0;
  private filling = false;
  private continuing = false;
  /** Probes that ended inside start() during the current fillLoop(). */
  private immediate = 0;
  /** Direct attempts in flight (each holds one descriptor, in the addon or in a check). */
  private readonly attempts = new Set<ScanAttempt>();
  /** Aborts name-resolving probes (which go through probe()'s own path). */
  private readonly inner = new AbortController();
  private readonly names = new Map<string, Promise<Lookup>>();
  private readonly memo: HostMemo = { host: undefined, literal: 0 };
  private readonly onAbort = (): void => this.fail(abortError(this.s.signal as AbortSignal));
  private readonly resolver = (host: string, family: 0 | 4 | 6, timeout: number, signal: AbortSignal | undefined): Promise<Lookup> => {
    const key = `${family}/${host}`;
    let found = this.names.get(key);
    if (found === undefined) {
      found = lookup(host, family, timeout, signal);
      this.names.set(key, found);
    }
    return found;
  };
  private readonly innerSettings: Settings;

  constructor(
    private readonly source: Iterator<unknown>,
    private readonly concurrency: number,
    private readonly s: Settings,
  ) {
    this.innerSettings = { ...s, signal: this.inner.signal };
    // Every name-resolving probe in flight listens on it: up to `concurrency`, not a leak.
    setMaxListeners(0, this.inner.signal);
    if (s.signal?.aborted) {
      this.failure = { error: abortError(s.signal) };
      this.finished = true;
      return;
    }
    s.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.fill();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ProbeManyResult> {
    return this;
  }

  next(): Promise<IteratorResult<ProbeManyResult>> {
    if (this.head < this.ready.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.finished || (this.exhausted && this.inFlight === 0)) {
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== undefined) return Promise.reject(new Error('probeMany: next() called again before the previous call settled'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<ProbeManyResult>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  private take(): ProbeManyResult {
    const r = this.ready[this.head] as ProbeManyResult;
    this.ready[this.head++] = undefined as unknown as ProbeManyResult;
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready.splice(0, this.head);
      this.head = 0;
    }
    return r;
  }

  /** Starts probes until `concurrency` are in flight or the targets run out. */
  private fill(): void {
    if (this.filling) return; // a probe that ended at once, delivered from inside this loop
    this.filling = true;
    try {
      this.fillLoop();
    } finally {
      this.filling = false;
    }
    if (this.exhausted && this.inFlight === 0) this.wake();
  }

  private fillLoop(): void {
    // Probes that end inside start() (refusals on loopback) are delivered from
    // within this loop, so it could run a whole scan without the event loop
    // turning (no timers, no signals, no I/O) and buffer every result. After
    // `concurrency` of them it goes on from setImmediate instead.
    this.immediate = 0;
    while (!this.finished && !this.exhausted && this.inFlight < this.concurrency) {
      if (this.immediate >= this.concurrency) {
        this.later();
        return;
      }
      let step: IteratorResult<unknown>;
      let p: Prepared;
      try {
        step = this.source.next();
        if (step.done === true) {
          this.exhausted = true;
          break;
        }
        p = prepare(step.value, this.nextIndex, this.s, this.memo);
      } catch (error) {
        this.fail(error);
        return;
      }
      this.nextIndex++;
      if (p.kind === 'direct') this.startDirect(p);
      else this.startName(p);
    }
  }

  /** Continues fill() on the next turn of the event loop (once, however often asked). */
  private later(): void {
    if (this.continuing) return;
    this.continuing = true;
    setImmediate(() => {
      this.continuing = false;
      this.fill();
    });
  }

  private startDirect(p: Extract<Prepared, { kind: 'direct' }>): void {
    const a = new ScanAttempt(p.target, p.host, p.index, this);
    let r: AddressResult | undefined;
    try {
      r = a.start(this.s, this.s.timeout);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (r !== undefined) {
      // Ended at once (a refusal or an open port on loopback, usually): nothing stays pending.
      this.immediate++;
      this.deliver(scanResult(r, p.host, p.index));
      return;
    }
    this.attempts.add(a);
    this.inFlight++;
  }

  /** A direct attempt ended (ScanAttempt). */
  attemptEnded(a: ScanAttempt, r: ProbeManyResult | undefined, error?: unknown): void {
    if (!this.attempts.delete(a)) return;
    this.inFlight--;
    if (r !== undefined) this.deliver(r);
    else this.fail(error);
  }

  private startName(p: Extract<Prepared, { kind: 'name' }>): void {
    this.inFlight++;
    probeValidHost(p.host, p.port, this.innerSettings, this.resolver).then(
      (r) => {
        if (this.finished) return;
        this.inFlight--;
        const withIndex = r as ProbeManyResult;
        withIndex.index = p.index;
        this.deliver(withIndex);
      },
      (error: unknown) => {
        if (this.finished) return;
        this.inFlight--;
        this.fail(error);
      },
    );
  }

  private deliver(r: ProbeManyResult): void {
    if (this.finished) return;
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve({ value: r, done: false });
    } else {
      this.ready.push(r);
    }
    this.fill();
  }

  /** No more results will come: wake a waiting next() with done. */
  private wake(): void {
    const w = this.waiter;
    if (w !== undefined && this.head >= this.ready.length) {
      this.waiter = undefined;
      this.close();
      w.resolve({ value: undefined, done: true });
    }
  }

  /** Stops everything and makes the pending (or next) next() reject with `error`. */
  private fail(error: unknown): void {
    if (this.finished) return;
    this.close();
    this.ready.length = 0;
    this.head = 0;
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.reject(error);
    } else {
      this.failure = { error };
    }
  }

  /** Closes every socket still open; idempotent. */
  private close(): void {
    if (this.finished) return;
    this.finished = true;
    this.s.signal?.removeEventListener('abort', this.onAbort);
    for (const a of this.attempts) a.cancel();
    this.attempts.clear();
    this.inner.abort();
    this.inFlight = 0;
  }
}

/** A probeMany() result from one attempt (no name resolved): the attempt's own elapsedMs. */
function scanResult(a: AddressResult, host: string, index: number): ProbeManyResult {
  const r = buildResult(host, [a], 0, a.elapsedMs) as ProbeManyResult;
  r.index = index;
  return r;
}

/** A direct probe of a scan in flight: the attempt and where its result goes. */
class ScanAttempt extends Attempt {
  constructor(
    t: AttemptTarget,
    private readonly host: string,
    private readonly index: number,
    private readonly batch: Batch,
  ) {
    super(t.address, t.family, t.port);
  }

  protected finished(result: AddressResult): void {
    this.batch.attemptEnded(this, scanResult(result, this.host, this.index));
  }

  protected failed(error: unknown): void {
    this.batch.attemptEnded(this, undefined, error);
  }
}

/**
 * Most targets expandTargets() builds (about 100 MB of objects): past it, a
 * RangeError rather than running out of memory. Larger scans pass probeMany()
 * a generator instead of an array.
 */
export const MAX_EXPANDED_TARGETS = 1_048_576;

/**
 * Every host with every port: hosts in the order given, ports in the order
 * given for each. `ports` is a list or a parsePorts() spec. RangeError when
 * that would be more than MAX_EXPANDED_TARGETS targets.
 */
export function expandTargets(hosts: string | readonly string[], ports: string | readonly number[]): { host: string; port: number }[] {
  const hostList: readonly unknown[] = typeof hosts === 'string' ? [hosts] : hosts;
  if (!Array.isArray(hostList)) throw new TypeError(`hosts must be a string or an array of strings, got ${describe(hosts)}`);
  // Index loops, not map: a hole in a sparse array is checked (and refused) like any other entry.
  let portList: number[];
  if (typeof ports === 'string') portList = parsePorts(ports);
  else if (Array.isArray(ports)) {
    portList = [];
    for (let i = 0; i < ports.length; i++) portList.push(checkPort(ports[i], `ports[${i}]`));
  } else throw new TypeError(`ports must be a string such as '1-1024,8080' or an array of numbers, got ${describe(ports)}`);
  const checkedHosts: string[] = [];
  for (let i = 0; i < hostList.length; i++) {
    checkedHosts.push(checkHost(hostList[i], `hosts[${i}]`));
    if (checkedHosts.length * portList.length > MAX_EXPANDED_TARGETS)
      throw new RangeError(
        `${hostList.length} hosts x ${portList.length} ports is more than ${MAX_EXPANDED_TARGETS} targets: pass probeMany() a generator instead`,
      );
  }
  const out: { host: string; port: number }[] = [];
  for (const host of checkedHosts) for (const port of portList) out.push({ host, port });
  return out;
}
