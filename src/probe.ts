// probe(): validate, resolve, probe every address concurrently within one
// deadline, and fold the attempts into one ProbeResult.
import * as dns from 'node:dns';
import { FLAG_GRACEFUL, attach, native, register, release, reserve, start, unregister, type Completion, type RawFamily, type RawOutcome } from './binding';
import { classify, mostTelling, type AttemptTarget } from './classify';
import { abortError } from './errors';
import type { AddressResult, DnsErrorReason, DnsErrorResult, ProbeResult } from './types';
import {
  checkClose,
  checkFamily,
  checkHost,
  checkLocalAddress,
  checkNonNegativeMs,
  checkOptions,
  checkPort,
  checkSignal,
  checkTimeout,
  checkUnixPath,
  isObject,
  literalFamily,
} from './validate';

export interface ProbeOptions {
  /** Deadline for the whole probe (name resolution included), ms. Default 2000. */
  timeout?: number;
  /** Aborting rejects the probe with an AbortError and closes its sockets at once. */
  signal?: AbortSignal;
  /** Resolve and probe only IPv4 (4) or IPv6 (6) addresses; 0 (default) probes both. */
  family?: 0 | 4 | 6;
  /** Numeric source address to bind before connecting. Only addresses of its family are probed. */
  localAddress?: string;
  /** 'reset' (default) closes with RST, leaving no TIME_WAIT; 'graceful' sends FIN. */
  close?: 'reset' | 'graceful';
  /**
   * After connecting, wait this many ms (added to the deadline) and report a
   * peer that resets or closes in that window as refused. Default 0: report
   * open as soon as the handshake completes.
   */
  settle?: number;
}

export type ProbeTarget = { host: string; port: number } | { path: string };

/** Validated options shared by probe() and probeMany(). */
export interface Settings {
  timeout: number;
  signal: AbortSignal | undefined;
  family: 0 | 4 | 6;
  local: { address: string; family: 4 | 6 } | undefined;
  flags: number;
  settle: number;
}

export function settings(options: unknown): Settings {
  const o = checkOptions(options);
  const family = checkFamily(o.family);
  const local = checkLocalAddress(o.localAddress);
  if (local !== undefined && family !== 0 && local.family !== family)
    throw new RangeError(`localAddress ${local.address} is IPv${local.family} but family ${family} was asked for`);
  return {
    timeout: checkTimeout(o.timeout),
    signal: checkSignal(o.signal),
    family,
    local,
    flags: checkClose(o.close) === 'graceful' ? FLAG_GRACEFUL : 0,
    settle: checkNonNegativeMs(o.settle, 'settle'),
  };
}

const now = (): number => performance.now();
const round = (value: number): number => Math.round(value * 1000) / 1000;

interface Pending {
  id: number;
}

/**
 * Probes every target concurrently. Resolves with one result per target in
 * the order given; rejects with an AbortError when the signal fires, after
 * closing every socket still open.
 */
export function runAttempts(targets: readonly AttemptTarget[], s: Settings, timeout: number): Promise<AddressResult[]> {
  return new Promise((resolve, reject) => {
    const results: (AddressResult | undefined)[] = new Array(targets.length);
    const pending = new Set<Pending>();
    let left = targets.length;
    const cancelAll = (): void => {
      s.signal?.removeEventListener('abort', onAbort);
      for (const p of pending) {
        native.cancel(p.id);
        unregister(p.id);
      }
      pending.clear();
    };
    const onAbort = (): void => {
      cancelAll();
      reject(abortError(s.signal as AbortSignal));
    };
    const settle = (index: number, result: AddressResult): void => {
      results[index] = result;
      if (--left === 0) {
        s.signal?.removeEventListener('abort', onAbort);
        resolve(results as AddressResult[]);
      }
    };
    s.signal?.addEventListener('abort', onAbort, { once: true });
    targets.forEach((t, index) => {
      const entry: Pending = { id: 0 };
      entry.id = register((raw) => {
        pending.delete(entry);
        settle(index, classify(raw, t));
      });
      const rawFamily: RawFamily = t.family === 'unix' ? 0 : t.family;
      let raw;
      try {
        raw = start(entry.id, rawFamily, t.address, t.port ?? 0, s.local?.address ?? null, timeout, s.flags, s.settle);
      } catch (error) {
        unregister(entry.id);
        cancelAll();
        reject(error);
        return;
      }
      if (raw === undefined) {
        pending.add(entry);
      } else {
        unregister(entry.id);
        settle(index, classify(raw, t));
      }
    });
  });
}

export function dnsReason(code: string | undefined): DnsErrorReason {
  switch (code) {
    case 'ENOTFOUND':
      return 'not-found';
    case 'ENODATA':
      return 'no-data';
    case 'EAI_AGAIN':
      return 'temporary-failure';
    case 'ETIMEOUT':
      return 'dns-timeout';
    default:
      return 'resolver-error';
  }
}

export type Lookup = { ok: true; addresses: dns.LookupAddress[] } | { ok: false; code: string };

/** dns.lookup (the system resolver: /etc/hosts counts) bounded by the deadline and the signal. */
export function lookup(host: string, family: 0 | 4 | 6, timeout: number, signal: AbortSignal | undefined): Promise<Lookup> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      if (finish()) resolve({ ok: false, code: 'ETIMEOUT' });
    }, timeout);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    dns.lookup(host, { all: true, family, verbatim: true }, (error, addresses) => {
      if (!finish()) return;
      if (error) resolve({ ok: false, code: error.code ?? 'EAI_FAIL' });
      else if (addresses.length === 0) resolve({ ok: false, code: 'ENODATA' });
      else resolve({ ok: true, addresses });
    });
  });
}

export function fold(host: string, attempts: AddressResult[], dnsMs: number, started: number): ProbeResult {
  const best = mostTelling(attempts) as AddressResult;
  // Same keys in the same order as { ...best, host, attempts, dnsMs, elapsedMs }:
  // V8 handles that literal (a spread, new keys, then an existing key redefined)
  // through its slow path, about 10 µs a result; copying then storing is ~0.3 µs.
  const result = Object.assign({}, best) as ProbeResult;
  result.host = host;
  result.attempts = attempts;
  result.dnsMs = round(dnsMs);
  result.elapsedMs = round(now() - started);
  return result;
}

/**
 * One attempt (a numeric address or a Unix path), without the general
 * machinery of runAttempts. An outcome known at once (start() returned it: on
 * loopback, a refusal usually is) costs one settled promise and no closure; a
 * probe in flight one promise and two closures, which is what it costs in memory.
 */
function runOne(t: AttemptTarget, s: Settings, host: string, started: number): Promise<ProbeResult> {
  const id = reserve();
  let raw: RawOutcome | undefined;
  try {
    raw = start(id, t.family === 'unix' ? 0 : t.family, t.address, t.port ?? 0, s.local?.address ?? null, s.timeout, s.flags, s.settle);
  } catch (error) {
    release(id);
    return Promise.reject(error);
  }
  if (raw !== undefined) {
    release(id);
    return Promise.resolve(fold(host, [classify(raw, t)], 0, started));
  }
  const pending = new InFlight(t.address, t.family, t.port, host, started, id, s.signal);
  return new Promise((resolve, reject) => {
    pending.resolve = resolve;
    pending.reject = reject;
    attach(id, pending);
    // The object itself listens (handleEvent): no closure per probe.
    pending.signal?.addEventListener('abort', pending, { once: true });
  });
}

/**
 * A probe() in flight, as one object: the attempt's target (classify reads its
 * address, family and port), what fold() needs, and the promise's settlers.
 * Cheaper to keep than the closures it replaces (a handler, an executor
 * context and a target object): memory per pending probe is a goal.
 */
class InFlight implements AttemptTarget, Completion {
  resolve: (r: ProbeResult) => void = noop;
  reject: (e: unknown) => void = noop;

  constructor(
    readonly address: string,
    readonly family: AttemptTarget['family'],
    readonly port: number | null,
    readonly host: string,
    readonly started: number,
    readonly id: number,
    readonly signal: AbortSignal | undefined,
  ) {}

  done(outcome: RawOutcome): void {
    this.signal?.removeEventListener('abort', this);
    this.resolve(fold(this.host, [classify(outcome, this)], 0, this.started));
  }

  /** The signal's abort event. */
  handleEvent(): void {
    native.cancel(this.id);
    unregister(this.id);
    this.reject(abortError(this.signal as AbortSignal));
  }
}

const noop = (): void => undefined;

/** Validates synchronously (throws), then probes; probe() turns a throw into a rejection. */
function probeHost(hostArg: unknown, portArg: unknown, options: unknown): Promise<ProbeResult> {
  const host = checkHost(hostArg);
  const port = checkPort(portArg);
  const s = settings(options);
  if (s.signal?.aborted) throw abortError(s.signal);
  const literal = literalFamily(host);
  if (literal !== 0) {
    const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
    if (wanted !== 0 && literal !== wanted)
      throw new RangeError(`${host} is an IPv${literal} address but only IPv${wanted} was asked for`);
    return runOne({ address: host, family: literal, port }, s, host, now());
  }
  return probeValidHost(host, port, s, lookup);
}

/** Resolver used by probeValidHost: probe() resolves each time, probeMany() once per name. */
export type Resolver = (host: string, family: 0 | 4 | 6, timeout: number, signal: AbortSignal | undefined) => Promise<Lookup>;

/** probe() for a host and port that have passed validation. */
export async function probeValidHost(host: string, port: number, s: Settings, resolve: Resolver): Promise<ProbeResult> {
  const started = now();
  const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
  const literal = literalFamily(host);
  if (literal !== 0) {
    if (wanted !== 0 && literal !== wanted)
      throw new RangeError(`${host} is an IPv${literal} address but only IPv${wanted} was asked for`);
    const attempts = await runAttempts([{ address: host, family: literal, port }], s, s.timeout);
    return fold(host, attempts, 0, started);
  }
  const found = await resolve(host, wanted, s.timeout, s.signal);
  const dnsMs = now() - started;
  if (!found.ok) {
    const result: DnsErrorResult = {
      status: 'dns-error',
      reason: dnsReason(found.code),
      code: found.code,
      errno: null,
      address: null,
      family: null,
      port,
      elapsedMs: round(dnsMs),
    };
    return { ...result, host, attempts: [], dnsMs: round(dnsMs) };
  }
  const targets: AttemptTarget[] = found.addresses.map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
    port,
  }));
  const remaining = Math.max(1, s.timeout - dnsMs);
  const attempts = await runAttempts(targets, s, remaining);
  return fold(host, attempts, dnsMs, started);
}

function probeUnix(pathArg: unknown, options: unknown): Promise<ProbeResult> {
  const path = checkUnixPath(pathArg);
  const s = settings(options);
  if (s.local !== undefined) throw new RangeError('localAddress does not apply to a Unix domain socket');
  if (s.family !== 0) throw new RangeError('family does not apply to a Unix domain socket');
  if (s.signal?.aborted) throw abortError(s.signal);
  return runOne({ address: path, family: 'unix', port: null }, s, path, now());
}

function probeSync(a: unknown, b?: unknown, c?: unknown): Promise<ProbeResult> {
  if (isObject(a)) {
    if ('path' in a) {
      if ('host' in a || 'port' in a) throw new TypeError('target must have either path or host and port, not both');
      return probeUnix(a.path, b);
    }
    return probeHost(a.host, a.port, b);
  }
  return probeHost(a, b, c);
}

/**
 * Connects to host:port (every address of a name, concurrently) or to a Unix
 * socket path, and tells what happened. Never rejects for a network outcome:
 * only for bad arguments (TypeError, RangeError) and an aborted signal (AbortError).
 */
export function probe(host: string, port: number, options?: ProbeOptions): Promise<ProbeResult>;
export function probe(target: ProbeTarget, options?: ProbeOptions): Promise<ProbeResult>;
export function probe(a: unknown, b?: unknown, c?: unknown): Promise<ProbeResult> {
  // Not an async function: that would add a promise and a suspended frame per
  // probe. Argument errors still arrive as rejections, never as throws.
  try {
    return probeSync(a, b, c);
  } catch (error) {
    return Promise.reject(error);
  }
}
