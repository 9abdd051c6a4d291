// check(): probe many targets at once and say whether all are open.
import { probe } from '../probe';
import type { ProbeResult } from '../types';
import { checkOptions, checkSignal, checkTimeout } from '../validate';
import { normalizeTargets, now, passThrough, renamedOption, round3, type HealthTarget, type NormalTarget, type PassThroughProbeOptions } from './targets';

export interface CheckOptions extends PassThroughProbeOptions {
  /** Timeout of each probe, ms (they all run at once, so also of the whole check). Default 2000. */
  timeout?: number;
  signal?: AbortSignal;
}

export interface TargetCheck {
  /** The target's label: its `name`, else `host:port`, else the socket path. */
  target: string;
  /** The probe said open. */
  ok: boolean;
  result: ProbeResult;
}

export interface CheckReport {
  /** Every target is open. */
  ok: boolean;
  /** One entry per target, in the order given. */
  results: TargetCheck[];
  durationMs: number;
}

export interface CheckSettings {
  timeout: number;
  signal: AbortSignal | undefined;
  pass: PassThroughProbeOptions;
}

/** `deprecatedTimeout`: an old name `timeout` is also taken under (monitor's `timeoutMs`). */
export function checkSettings(options: unknown, defaultTimeout = 2000, deprecatedTimeout?: string): CheckSettings {
  const o = checkOptions(options);
  const t = deprecatedTimeout === undefined ? { name: 'timeout', value: o.timeout } : renamedOption(o, 'timeout', deprecatedTimeout);
  return { timeout: checkTimeout(t.value, t.name, defaultTimeout), signal: checkSignal(o.signal), pass: passThrough(o) };
}

/** Probes already-validated targets concurrently (shared by check, monitor and healthHandler). */
export async function runCheck(targets: readonly NormalTarget[], s: CheckSettings): Promise<CheckReport> {
  const started = now();
  const results = await Promise.all(
    targets.map(async (t): Promise<TargetCheck> => {
      const result = await probe(t.target, { ...s.pass, timeout: s.timeout, signal: s.signal });
      return { target: t.name, ok: result.status === 'open', result };
    }),
  );
  return { ok: results.every((r) => r.ok), results, durationMs: round3(now() - started) };
}

/**
 * Probes every target concurrently. Resolves with `ok` (all open), one entry
 * per target and the duration; rejects only for bad arguments or an abort.
 */
export function check(targets: HealthTarget | readonly HealthTarget[], options?: CheckOptions): Promise<CheckReport> {
  try {
    return runCheck(normalizeTargets(targets), checkSettings(options));
  } catch (error) {
    return Promise.reject(error);
  }
}
