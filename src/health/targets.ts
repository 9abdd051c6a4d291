// Targets and shared option checks for the health-check helpers (waitFor,
// check, monitor, healthHandler). A target is a string as parseTarget reads
// it ('host:port', '[v6]:port', 'unix:/path') or an object: { host, port } or
// { path }, with an optional `name` used as its label in reports and metrics.
import { checkPlan, type CheckSpec } from '../checks/index';
import { describeValue } from '../describe-value';
import type { ProbeOptions, ProbeTarget } from '../probe';
import { formatTarget, parseTarget } from '../target';
import {
  checkClose,
  checkFamily,
  checkHost,
  checkLocalAddress,
  checkNonNegativeMs,
  checkUnixPath,
  isObject,
  literalFamily,
} from '../validate';

/**
 * A target to watch: a string ('host:port', '[v6]:port', 'unix:/path', as
 * parseTarget reads it, URL targets such as 'tls://h:443' included), or host
 * and port, or a Unix socket path, with an optional `check` (as probe()'s
 * options.check); `name` labels it (default: formatTarget's `host:port`, `[v6]:port` or `unix:/path`).
 */
export type HealthTarget = string | (({ host: string; port: number } | { path: string }) & { name?: string; check?: CheckSpec });

/** The probe options the health helpers pass through to every probe (timeouts and signals are theirs). */
export type PassThroughProbeOptions = Pick<ProbeOptions, 'family' | 'localAddress' | 'close' | 'settle' | 'check'>;

export interface NormalTarget {
  /** Label: the target's `name`, else formatTarget's `host:port`, `[v6]:port` or `unix:/path`. */
  name: string;
  target: ProbeTarget;
}

const MAX_NAME_LENGTH = 256;

export function normalizeTarget(value: unknown, where = 'target'): NormalTarget {
  if (typeof value === 'string') {
    const target = parseTarget(value);
    // A check is validated now (an unknown protocol, a bad option), not in a later round.
    if (target.check !== undefined) checkPlan(target.check, `${where}.check`);
    return { name: formatTarget(target), target };
  }
  if (!isObject(value))
    throw new TypeError(`${where} must be a string ('host:port', '[v6]:port', 'unix:/path') or an object { host, port } or { path }, got ${describeValue(value)}`);
  let name: string | undefined;
  if (value.name !== undefined) {
    if (typeof value.name !== 'string') throw new TypeError(`${where}.name must be a string, got ${describeValue(value.name)}`);
    if (value.name.length === 0 || value.name.length > MAX_NAME_LENGTH)
      throw new RangeError(`${where}.name must be 1 to ${MAX_NAME_LENGTH} characters, got ${value.name.length}`);
    name = value.name;
  }
  if ('path' in value) {
    if ('host' in value || 'port' in value) throw new TypeError(`${where} must have either path or host and port, not both`);
    const path = checkUnixPath(value.path);
    const target: ProbeTarget = value.check === undefined ? { path } : { path, check: checkedSpec(value.check, where) };
    return { name: name ?? formatTarget(target), target };
  }
  const host = checkHost(value.host, `${where}.host`);
  const port = value.port;
  if (typeof port !== 'number') throw new TypeError(`${where}.port must be a number, got ${describeValue(port)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`${where}.port must be an integer from 1 to 65535, got ${String(port)}`);
  const target: ProbeTarget = value.check === undefined ? { host, port } : { host, port, check: checkedSpec(value.check, where) };
  return { name: name ?? formatTarget(target), target };
}

function checkedSpec(value: unknown, where: string): CheckSpec {
  checkPlan(value, `${where}.check`);
  return value as CheckSpec;
}

/**
 * One target or an array of them (non-empty unless `allowEmpty`: monitor and
 * healthHandler may watch only registered connections); names must be unique
 * (they label metrics).
 */
export function normalizeTargets(value: unknown, allowEmpty = false): NormalTarget[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 && !allowEmpty) throw new RangeError('targets must not be empty');
  const out = list.map((t, i) => normalizeTarget(t, Array.isArray(value) ? `targets[${i}]` : 'target'));
  const seen = new Set<string>();
  for (const t of out) {
    if (seen.has(t.name)) throw new RangeError(`target names must be unique; '${t.name}' appears twice (give one a name)`);
    seen.add(t.name);
  }
  return out;
}

/** Checks the pass-through probe options now, so a bad one fails at construction, not in a later round. */
export function passThrough(o: Record<string, unknown>): PassThroughProbeOptions {
  const out: PassThroughProbeOptions = {};
  if (o.family !== undefined) out.family = checkFamily(o.family);
  if (o.localAddress !== undefined) out.localAddress = checkLocalAddress(o.localAddress)?.address;
  if (o.close !== undefined) out.close = checkClose(o.close);
  if (o.settle !== undefined) out.settle = checkNonNegativeMs(o.settle, 'settle');
  if (o.check !== undefined) out.check = checkedSpec(o.check, 'options');
  if (out.check !== undefined && out.settle !== undefined && out.settle > 0) throw new RangeError('settle and check exclude each other: a check already waits for the service to answer');
  return out;
}

/**
 * The checks probe() makes of each target against the pass-through options,
 * made once at construction: a combination probe() refuses (family 4 with
 * localAddress ::1, an IPv6 literal with family 4, a Unix socket with a
 * family or localAddress) is then a RangeError from monitor() or
 * healthHandler(), not a failure of every later round.
 */
export function checkTargetsAgainst(targets: readonly NormalTarget[], pass: PassThroughProbeOptions): void {
  const family = pass.family ?? 0;
  const local = pass.localAddress === undefined ? 0 : literalFamily(pass.localAddress);
  if (local !== 0 && family !== 0 && local !== family)
    throw new RangeError(`localAddress ${String(pass.localAddress)} is IPv${local} but family ${family} was asked for`);
  const wanted = family !== 0 ? family : local;
  for (const { name, target } of targets) {
    if (pass.check !== undefined && target.check !== undefined) throw new RangeError(`${name}: check is given twice, by the target and by options.check`);
    if ('path' in target) {
      if (pass.localAddress !== undefined) throw new RangeError(`${name}: localAddress does not apply to a Unix domain socket`);
      if (family !== 0) throw new RangeError(`${name}: family does not apply to a Unix domain socket`);
      continue;
    }
    const literal = literalFamily(target.host);
    if (literal !== 0 && wanted !== 0 && literal !== wanted)
      throw new RangeError(`${name}: ${target.host} is an IPv${literal} address but only IPv${wanted} was asked for`);
  }
}

/**
 * An option that was renamed: the value under the documented `name` or under
 * the `deprecated` one, with the name it came under for error messages. Both
 * given with different values is a RangeError that names both.
 */
export function renamedOption(o: Record<string, unknown>, name: string, deprecated: string): { name: string; value: unknown } {
  const value = o[name];
  const old = o[deprecated];
  if (old === undefined) return { name, value };
  if (value === undefined) return { name: deprecated, value: old };
  if (!Object.is(value, old))
    throw new RangeError(
      `${name} (${describeValue(value)}) and ${deprecated} (${describeValue(old)}), its deprecated name, differ: give ${name} only`,
    );
  return { name, value };
}

export function checkInteger(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describeValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

export function checkNumber(value: unknown, name: string, fallback: number, min: number, max: number, minExclusive = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describeValue(value)}`);
  if (!Number.isFinite(value) || value > max || (minExclusive ? value <= min : value < min))
    throw new RangeError(`${name} must be a finite number ${minExclusive ? 'above' : 'from'} ${min} ${minExclusive ? 'and at most' : 'to'} ${max}, got ${String(value)}`);
  return value;
}

export const now = (): number => performance.now();
export const round3 = (value: number): number => Math.round(value * 1000) / 1000;
