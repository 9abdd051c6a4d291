// probe(): validate, resolve, probe every address concurrently within one
// deadline, and fold the attempts into one ProbeResult.
import * as dns from 'node:dns';
import { Attempt, buildResult, type Settings } from './attempt';
import { FLAG_GRACEFUL } from './binding';
import type { AttemptTarget } from './classify';
import { abortError } from './errors';
import { settleCheck } from './settle';
import { checkPlan, type CheckSpec } from './checks/index';
import { planCheck } from './checks/runner';
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
  /**
   * What must answer once connected for the target to count as ready: one of
   * { tls }, { http }, { https }, or a protocol ({ redis }, { postgres }...),
   * with its options. A check that fails makes the result 'not-ready'.
   * Runs within `timeout`. Excludes `settle`.
   */
  check?: CheckSpec;
}

/** A target; `check` (as a URL target carries it) is the same as options.check. */
export type ProbeTarget = { host: string; port: number; check?: CheckSpec } | { path: string; check?: CheckSpec };

export type { Settings };

/** `host`: the target as given (a check's default SNI and Host header); `targetCheck`: a check the target carries. */
export function settings(options: unknown, host = '', targetCheck?: unknown): Settings {
  const o = checkOptions(options);
  const family = checkFamily(o.family);
  const local = checkLocalAddress(o.localAddress);
  if (local !== undefined && family !== 0 && local.family !== family)
    throw new RangeError(`localAddress ${local.address} is IPv${local.family} but family ${family} was asked for`);
  const settle = checkNonNegativeMs(o.settle, 'settle');
  const timeout = checkTimeout(o.timeout);
  const signal = checkSignal(o.signal);
  if (o.check !== undefined && targetCheck !== undefined) throw new RangeError('check is given twice: by the target and by options.check');
  const spec = o.check ?? targetCheck;
  const plan = spec === undefined ? undefined : checkPlan(spec, o.check !== undefined ? 'check' : 'target.check');
  if (plan !== undefined && settle > 0) throw new RangeError('settle and check exclude each other: a check already waits for the service to answer');
  return {
    timeout,
    signal,
    family,
    local,
    flags: checkClose(o.close) === 'graceful' ? FLAG_GRACEFUL : 0,
    settle,
    check: plan !== undefined ? planCheck(plan, host, timeout, signal) : settle > 0 ? settleCheck(settle) : undefined,
  };
}

const now = (): number => performance.now();
const round = (value: number): number => Math.round(value * 1000) / 1000;

/** One of several attempts of runAttempts(): reports to the group by index. */
class GroupAttempt extends Attempt {
  constructor(
    t: AttemptTarget,
    private readonly group: AttemptGroup,
    private readonly index: number,
  ) {
    super(t.address, t.family, t.port);
  }

  protected finished(result: AddressResult): void {
    this.group.settle(this.index, result);
  }

  protected failed(error: unknown): void {
    this.group.fail(error);
  }
}

/** Attempts to every address of a name, concurrently, within one deadline. */
class AttemptGroup {
  private readonly results: (AddressResult | undefined)[];
  private readonly pending: GroupAttempt[] = [];
  private left: number;
  private over = false;

  constructor(
    private readonly signal: AbortSignal | undefined,
    count: number,
    private readonly resolve: (results: AddressResult[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.results = new Array(count);
    this.left = count;
    signal?.addEventListener('abort', this, { once: true });
  }

  add(a: GroupAttempt): void {
    this.pending.push(a);
  }

  settle(index: number, result: AddressResult): void {
    if (this.over) return;
    this.results[index] = result;
    if (--this.left === 0) {
      this.end();
      this.resolve(this.results as AddressResult[]);
    }
  }

  fail(error: unknown): void {
    if (this.over) return;
    this.end();
    for (const a of this.pending) a.cancel();
    this.reject(error);
  }

  /** The signal's abort event: every socket still open is closed. */
  handleEvent(): void {
    this.fail(abortError(this.signal as AbortSignal));
  }

  private end(): void {
    this.over = true;
    this.signal?.removeEventListener('abort', this);
  }
}

/**
 * Probes every target concurrently. Resolves with one result per target in
 * the order given; rejects with an AbortError when the signal fires, after
 * closing every socket still open.
 */
export function runAttempts(targets: readonly AttemptTarget[], s: Settings, timeout: number): Promise<AddressResult[]> {
  return new Promise((resolve, reject) => {
    const group = new AttemptGroup(s.signal, targets.length, resolve, reject);
    for (let index = 0; index < targets.length; index++) {
      const a = new GroupAttempt(targets[index] as AttemptTarget, group, index);
      let r: AddressResult | undefined;
      try {
        r = a.start(s, timeout);
      } catch (error) {
        group.fail(error);
        return;
      }
      if (r !== undefined) group.settle(index, r);
      else group.add(a);
    }
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

/**
 * probe() of one numeric address or Unix path: one attempt, which is also the
 * pending probe (its target, the promise's settlers, the signal). An outcome
 * known at once (on loopback a refusal, or an open port, usually is) costs one
 * settled promise and no listener. The result's elapsedMs is the attempt's,
 * timed by the addon (no clock read here).
 */
function runOne(t: AttemptTarget, s: Settings, host: string): Promise<ProbeResult> {
  const a = new SingleProbe(t, host, s.signal);
  let r: AddressResult | undefined;
  try {
    r = a.start(s, s.timeout);
  } catch (error) {
    return Promise.reject(error);
  }
  if (r !== undefined) return Promise.resolve(buildResult(host, [r], 0, r.elapsedMs));
  return new Promise((resolve, reject) => {
    a.resolve = resolve;
    a.reject = reject;
    // The object itself listens (handleEvent): no closure per probe.
    a.signal?.addEventListener('abort', a, { once: true });
  });
}

/**
 * A probe() in flight, as one object: the attempt (its target, its id) and
 * the promise's settlers. Memory per pending probe is a goal.
 */
class SingleProbe extends Attempt {
  resolve: (r: ProbeResult) => void = noop;
  reject: (e: unknown) => void = noop;

  constructor(
    t: AttemptTarget,
    readonly host: string,
    readonly signal: AbortSignal | undefined,
  ) {
    super(t.address, t.family, t.port);
  }

  protected finished(result: AddressResult): void {
    this.signal?.removeEventListener('abort', this);
    this.resolve(buildResult(this.host, [result], 0, result.elapsedMs));
  }

  protected failed(error: unknown): void {
    this.signal?.removeEventListener('abort', this);
    this.reject(error);
  }

  /** The signal's abort event. */
  handleEvent(): void {
    this.cancel();
    this.reject(abortError(this.signal as AbortSignal));
  }
}

const noop = (): void => undefined;

/** Validates synchronously (throws), then probes; probe() turns a throw into a rejection. */
function probeHost(hostArg: unknown, portArg: unknown, options: unknown, targetCheck?: unknown): Promise<ProbeResult> {
  const host = checkHost(hostArg);
  const port = checkPort(portArg);
  const s = settings(options, host, targetCheck);
  if (s.signal?.aborted) throw abortError(s.signal);
  const literal = literalFamily(host);
  if (literal !== 0) {
    const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
    if (wanted !== 0 && literal !== wanted)
      throw new RangeError(`${host} is an IPv${literal} address but only IPv${wanted} was asked for`);
    return runOne({ address: host, family: literal, port }, s, host);
  }
  return probeValidHost(host, port, s, lookup);
}

/** Resolver used by probeValidHost: probe() resolves each time, probeMany() once per name. */
export type Resolver = (host: string, family: 0 | 4 | 6, timeout: number, signal: AbortSignal | undefined) => Promise<Lookup>;

/**
 * probe() for a host name (not a numeric address: probeHost() and probeMany()
 * take those to runOne() and an attempt of their own) and a port that have
 * passed validation.
 */
export async function probeValidHost(host: string, port: number, s: Settings, resolve: Resolver): Promise<ProbeResult> {
  const started = now();
  const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
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
  return buildResult(host, attempts, dnsMs, now() - started);
}

function probeUnix(pathArg: unknown, options: unknown, targetCheck?: unknown): Promise<ProbeResult> {
  const path = checkUnixPath(pathArg);
  const s = settings(options, '', targetCheck);
  if (s.local !== undefined) throw new RangeError('localAddress does not apply to a Unix domain socket');
  if (s.family !== 0) throw new RangeError('family does not apply to a Unix domain socket');
  if (s.signal?.aborted) throw abortError(s.signal);
  return runOne({ address: path, family: 'unix', port: null }, s, path);
}

function probeSync(a: unknown, b?: unknown, c?: unknown): Promise<ProbeResult> {
  if (isObject(a)) {
    if ('path' in a) {
      if ('host' in a || 'port' in a) throw new TypeError('target must have either path or host and port, not both');
      return probeUnix(a.path, b, a.check);
    }
    return probeHost(a.host, a.port, b, a.check);
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
