// waitFor(): probe until the target is open (and, with stableMs, has stayed
// open that long), with exponential backoff, jitter, a cap and one overall
// deadline that every attempt's own timeout fits inside.
import { abortError } from '../errors';
import { probe } from '../probe';
import type { ProbeResult } from '../types';
import { checkNonNegativeMs, checkOptions, checkSignal, checkTimeout, isObject, MAX_TIMEOUT_MS } from '../validate';
import { checkNumber, normalizeTarget, now, passThrough, round3, type HealthTarget, type PassThroughProbeOptions } from './targets';

export interface WaitForOptions extends PassThroughProbeOptions {
  /** Overall deadline, ms. Default 60000. */
  timeout?: number;
  /** Timeout of each attempt, ms; never more than the time left. Default 2000. */
  probeTimeout?: number;
  /** Delay after the first failed attempt, ms. Default 250. */
  interval?: number;
  /** Each delay is the previous one times this (>= 1). Default 1.5. */
  backoff?: number;
  /** Cap on the delay, ms. Default 2000. */
  maxInterval?: number;
  /** Fraction (0..1) of each delay taken off at random, so many waiters do not probe in step. Default 0.2. */
  jitter?: number;
  /** The target must stay open this long (re-probed every `interval` ms) before waitFor resolves. Default 0. */
  stableMs?: number;
  /** Aborting rejects with an AbortError at once. */
  signal?: AbortSignal;
}

/** waitFor() reached its deadline; `lastResult` is the last attempt's result. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError' as const;
  readonly code = 'SOCKPROBE_WAIT_TIMEOUT' as const;
  constructor(
    message: string,
    /** The last attempt's result (never open, or open but not yet for `stableMs`). */
    readonly lastResult: ProbeResult,
    /** How many attempts were made. */
    readonly attempts: number,
    readonly elapsedMs: number,
  ) {
    super(message);
  }
}

interface Plan {
  timeout: number;
  probeTimeout: number;
  interval: number;
  backoff: number;
  maxInterval: number;
  jitter: number;
  stableMs: number;
  signal: AbortSignal | undefined;
  pass: PassThroughProbeOptions;
}

function plan(options: unknown): Plan {
  const o = checkOptions(options);
  const interval = checkNumber(o.interval, 'interval', 250, 0, MAX_TIMEOUT_MS, true);
  const maxInterval = checkNumber(o.maxInterval, 'maxInterval', Math.max(2000, interval), 0, MAX_TIMEOUT_MS, true);
  if (maxInterval < interval) throw new RangeError(`maxInterval (${maxInterval}) must not be below interval (${interval})`);
  return {
    timeout: checkTimeout(o.timeout, 'timeout', 60_000),
    probeTimeout: checkTimeout(o.probeTimeout, 'probeTimeout', 2000),
    interval,
    backoff: checkNumber(o.backoff, 'backoff', 1.5, 1, 1000),
    maxInterval,
    jitter: checkNumber(o.jitter, 'jitter', 0.2, 0, 1),
    stableMs: checkNonNegativeMs(o.stableMs, 'stableMs'),
    signal: checkSignal(o.signal),
    pass: passThrough(o),
  };
}

/** Sleeps `ms` (a ref'd timer: the caller awaits this), or rejects when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves with the open result once host:port (or 'host:port', '[v6]:port',
 * 'unix:/path', { host, port }, { path }) accepts
 * connections, and with `stableMs`, has kept accepting them for that long.
 * Rejects with a WaitTimeoutError at the deadline, an AbortError when the
 * signal aborts, TypeError / RangeError for bad arguments.
 */
export function waitFor(host: string, port: number, options?: WaitForOptions): Promise<ProbeResult>;
export function waitFor(target: HealthTarget, options?: WaitForOptions): Promise<ProbeResult>;
export async function waitFor(a: unknown, b?: unknown, c?: unknown): Promise<ProbeResult> {
  // One target (an object, or a string such as 'db:5432' followed by nothing
  // or by options), else host and port.
  const single = isObject(a) || (typeof a === 'string' && (b === undefined || isObject(b)));
  const { target, name } = single ? normalizeTarget(a) : normalizeTarget({ host: a, port: b });
  const p = plan(single ? b : c);
  if (p.signal?.aborted) throw abortError(p.signal);
  const started = now();
  const deadline = started + p.timeout;
  let delay = p.interval;
  let attempts = 0;
  let openSince: number | null = null;
  let last: ProbeResult | undefined;
  for (;;) {
    const left = deadline - now();
    // The first attempt always runs; later ones only with a millisecond left.
    if (last !== undefined && left < 1) break;
    const attemptStart = now();
    last = await probe(target, { ...p.pass, timeout: Math.max(Math.min(p.probeTimeout, left), Number.EPSILON), signal: p.signal });
    attempts++;
    let wait: number;
    if (last.status === 'open') {
      openSince ??= attemptStart;
      if (now() - openSince >= p.stableMs) return last;
      // Inside the stability window: re-probe at the base interval, and
      // once more right at the window's end.
      wait = Math.min(p.interval, openSince + p.stableMs - now());
      delay = p.interval;
    } else {
      openSince = null;
      wait = delay * (1 - p.jitter * Math.random());
      delay = Math.min(p.maxInterval, delay * p.backoff);
    }
    const remaining = deadline - now();
    if (remaining < 1) break;
    await sleep(Math.max(0, Math.min(wait, remaining)), p.signal);
  }
  const elapsed = round3(now() - started);
  const what = last.status === 'open' ? `open but not yet for ${p.stableMs} ms` : `${last.status} (${last.reason})`;
  throw new WaitTimeoutError(
    `${name} did not become ready within ${p.timeout} ms: last attempt ${what} after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    last,
    attempts,
    elapsed,
  );
}
