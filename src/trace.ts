// trace(): which hop stops a connection. An unprivileged TCP trace to the
// exact port, like `traceroute -T`: one connect attempt per hop limit (IP_TTL /
// IPV6_UNICAST_HOPS = 1, 2, 3, ...), all hops at once within one deadline. A
// router where the hop limit runs out answers with ICMP time-exceeded, which
// the socket's error queue (IP_RECVERR) reports with the router's address; the
// first hop limit that reaches the target (open or RST), is rejected (ICMP) or
// fails locally ends the trace. Every try is an Attempt and its result comes
// from classify(): the same vocabulary as probe().
import { Attempt, type Settings } from './attempt';
import type { AttemptTarget } from './classify';
import { describeValue } from './describe-value';
import { abortError } from './errors';
import { dnsReason, lookup } from './probe';
import type { AddressResult, Family } from './types';
import { checkFamily, checkHost, checkLocalAddress, checkOptions, checkPort, checkSignal, checkTimeout, literalFamily } from './validate';

export interface TraceOptions {
  /** Deadline for the whole trace (name resolution included), ms. Default 5000. */
  timeout?: number;
  /** Highest hop limit tried. Default 30, at most 255. */
  maxHops?: number;
  /** First hop limit tried. Default 1. */
  firstHop?: number;
  /**
   * Connect attempts per hop while no answer comes back (an answer may be
   * lost, or rate limited); each gets an equal share of the deadline. Default 2.
   */
  tries?: number;
  /**
   * Which address of a name is traced: the first of the IPv4 (4) or IPv6 (6)
   * addresses only; 0 (default): the first address it resolves to, the one
   * most clients try first. One address is traced, as traceroute does; the
   * others are listed in `target.addresses` (explain() traces every address
   * that failed).
   */
  family?: 0 | 4 | 6;
  /** Numeric source address to bind before connecting. */
  localAddress?: string;
  /** Aborting rejects the trace with an AbortError and closes its sockets at once. */
  signal?: AbortSignal;
}

export interface TraceHop {
  /** The hop limit (IP TTL / IPv6 hop limit) of this hop's SYNs. */
  ttl: number;
  /** Who answered at this hop limit: the ICMP sender (a router), or the target; null when nothing came back. */
  from: string | null;
  /** Time to the answer, ms; null when nothing came back. */
  rttMs: number | null;
  /** Every try's result in order, as probe() reports one address (a router's time-exceeded is unreachable / time-exceeded). */
  tries: AddressResult[];
}

/**
 * 'reached': the target answered (open, or refused with an RST);
 * 'rejected': a hop (or the target) answered with ICMP (blocked / unreachable) instead;
 * 'dropped': nothing answered past the last hop that did, until the deadline;
 * 'failed': a local error (no route, no source address, ...) or the name did not resolve.
 */
export type TraceVerdictKind = 'reached' | 'rejected' | 'dropped' | 'failed';

export interface TraceVerdict {
  kind: TraceVerdictKind;
  /** Hop limit of the answer that ended the trace; for 'dropped' the last hop that answered (0: none did). */
  hop: number;
  /** The address that answered (the target, or the rejecting / last answering router); null when none. */
  from: string | null;
  /**
   * The hop at which `from` itself answered time-exceeded, when it did: a
   * router that rejects is one hop nearer than the hop limit that met its rule.
   */
  fromHop: number | null;
  /** The result's reason (syn-ack, reset, admin-prohibited, ...), 'silence' for dropped. */
  reason: string;
  /** The result that ended the trace; absent for dropped and a name that did not resolve. */
  result?: AddressResult;
  /** One sentence for a person. */
  words: string;
}

export interface TraceResult {
  target: {
    host: string;
    /** The address traced: the host itself when numeric, else the first it resolved to; null when it did not. */
    address: string | null;
    family: Family | null;
    port: number;
    /** Every address the name resolved to (of `family` when given), in resolver order; the first is traced. */
    addresses: string[];
  };
  /** Hops from firstHop up to the one that ended the trace (or maxHops). */
  hops: TraceHop[];
  verdict: TraceVerdict;
  dnsMs: number;
  elapsedMs: number;
}

export const DEFAULT_TRACE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_HOPS = 30;
export const DEFAULT_TRIES = 2;
const MAX_HOP_LIMIT = 255;
const MAX_TRIES = 10;

const now = (): number => performance.now();
const round = (value: number): number => Math.round(value * 1000) / 1000;

function checkInt(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describeValue(value)}`);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

interface TraceSettings {
  timeout: number;
  firstHop: number;
  maxHops: number;
  tries: number;
  family: 0 | 4 | 6;
  local: { address: string; family: 4 | 6 } | undefined;
  signal: AbortSignal | undefined;
}

function traceSettings(options: unknown): TraceSettings {
  const o = checkOptions(options);
  const family = checkFamily(o.family);
  const local = checkLocalAddress(o.localAddress);
  if (local !== undefined && family !== 0 && local.family !== family)
    throw new RangeError(`localAddress ${local.address} is IPv${local.family} but family ${family} was asked for`);
  const maxHops = checkInt(o.maxHops, 'maxHops', DEFAULT_MAX_HOPS, 1, MAX_HOP_LIMIT);
  const firstHop = checkInt(o.firstHop, 'firstHop', 1, 1, MAX_HOP_LIMIT);
  if (firstHop > maxHops) throw new RangeError(`firstHop (${firstHop}) must not be above maxHops (${maxHops})`);
  return {
    timeout: checkTimeout(o.timeout, 'timeout', DEFAULT_TRACE_TIMEOUT_MS),
    firstHop,
    maxHops,
    tries: checkInt(o.tries, 'tries', DEFAULT_TRIES, 1, MAX_TRIES),
    family,
    local,
    signal: checkSignal(o.signal),
  };
}

/** Whether a try's result ends its hop without ending the trace: a router's time-exceeded. */
const passedOn = (r: AddressResult): boolean => r.status === 'unreachable' && r.reason === 'time-exceeded';
const sender = (r: AddressResult): string | undefined => ('from' in r ? r.from : undefined);

/** One try at one hop limit. */
class HopAttempt extends Attempt {
  constructor(
    t: AttemptTarget,
    private readonly tracer: Tracer,
    readonly hop: Hop,
  ) {
    super(t.address, t.family, t.port);
  }

  protected finished(result: AddressResult): void {
    this.tracer.tried(this.hop, result);
  }

  protected failed(error: unknown): void {
    this.tracer.fail(error);
  }
}

interface Hop {
  ttl: number;
  tries: AddressResult[];
  /** The try in flight (at most one per hop), undefined when none. */
  pending: HopAttempt | undefined;
  done: boolean;
}

/** The hops of one trace, all at once; resolves with the hops up to the one that ended it. */
class Tracer {
  private readonly hops: Hop[] = [];
  private over = false;
  private readonly deadline: number;
  private readonly settings: Settings;

  constructor(
    private readonly target: AttemptTarget,
    private readonly s: TraceSettings,
    remaining: number,
    private readonly resolve: (hops: Hop[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.deadline = now() + remaining;
    this.settings = { timeout: remaining, signal: s.signal, family: s.family, local: s.local, flags: 0, settle: 0, check: undefined };
    for (let ttl = s.firstHop; ttl <= s.maxHops; ttl++) this.hops.push({ ttl, tries: [], pending: undefined, done: false });
  }

  run(): void {
    this.s.signal?.addEventListener('abort', this, { once: true });
    // Each try gets an equal share of what is left, so a hop's last try ends by the deadline.
    const perTry = Math.max(1, Math.floor((this.deadline - now()) / this.s.tries));
    for (const hop of this.hops) {
      if (this.over) return;
      this.startTry(hop, perTry);
    }
  }

  private startTry(hop: Hop, timeout: number): void {
    const a = new HopAttempt(this.target, this, hop);
    let r: AddressResult | undefined;
    try {
      r = a.start(this.settings, timeout, hop.ttl);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (r === undefined) hop.pending = a;
    else this.tried(hop, r);
  }

  tried(hop: Hop, result: AddressResult): void {
    if (this.over) return;
    hop.pending = undefined;
    hop.tries.push(result);
    const left = this.deadline - now();
    if (result.status === 'timeout' && hop.tries.length < this.s.tries && left >= 1) {
      // No answer: perhaps lost. The next try gets its share of what is left.
      this.startTry(hop, Math.max(1, Math.floor(left / (this.s.tries - hop.tries.length))));
      return;
    }
    hop.done = true;
    this.check();
  }

  /** Ends the trace once the nearest hop with a final answer is known and every nearer hop is done. */
  private check(): void {
    let end = this.hops.length;
    for (let i = 0; i < this.hops.length; i++) {
      const hop = this.hops[i] as Hop;
      if (!hop.done) return;
      const last = hop.tries[hop.tries.length - 1] as AddressResult;
      if (last.status !== 'timeout' && !passedOn(last)) {
        end = i + 1;
        break;
      }
    }
    const kept = this.hops.slice(0, end);
    this.finish();
    this.resolve(kept);
  }

  fail(error: unknown): void {
    if (this.over) return;
    this.finish();
    this.reject(error);
  }

  /** The signal's abort event: every socket still open is closed. */
  handleEvent(): void {
    this.fail(abortError(this.s.signal as AbortSignal));
  }

  private finish(): void {
    this.over = true;
    this.s.signal?.removeEventListener('abort', this);
    for (const hop of this.hops) {
      hop.pending?.cancel();
      hop.pending = undefined;
    }
  }
}

function hopOf(h: Hop): TraceHop {
  const answered = h.tries.find((r) => r.status !== 'timeout');
  const from = answered === undefined ? null : sender(answered) ?? (answered.status === 'open' || answered.status === 'refused' ? answered.address : null);
  return { ttl: h.ttl, from, rttMs: answered === undefined || from === null ? null : answered.elapsedMs, tries: h.tries };
}

function icmpWords(r: AddressResult): string {
  return 'icmp' in r && r.icmp !== undefined ? `, ICMP type ${r.icmp.type} code ${r.icmp.code}` : '';
}

function verdictOf(hops: TraceHop[], target: { address: string; port: number }): TraceVerdict {
  const last = hops[hops.length - 1];
  const final = last?.tries[last.tries.length - 1];
  const firstFrom = (from: string | null): number | null => {
    if (from === null) return null;
    const h = hops.find((x) => x.from === from && x.tries.some(passedOn));
    return h === undefined ? null : h.ttl;
  };
  if (last !== undefined && final !== undefined && final.status !== 'timeout' && !passedOn(final)) {
    const hop = last.ttl;
    const from = sender(final) ?? (final.status === 'open' || final.status === 'refused' ? final.address : null);
    if (final.status === 'open' || final.status === 'refused') {
      return {
        kind: 'reached',
        hop,
        from,
        fromHop: null,
        reason: final.reason,
        result: final,
        words: `reached ${target.address} port ${target.port} at hop ${hop}: ${final.status} (${final.reason})`,
      };
    }
    if ((final.status === 'blocked' || final.status === 'unreachable') && from !== null) {
      const fromHop = firstFrom(from);
      const where = fromHop === null ? from : `${from} (hop ${fromHop})`;
      return {
        kind: 'rejected',
        hop,
        from,
        fromHop,
        reason: final.reason,
        result: final,
        words: `${where} rejected the connection at hop limit ${hop}: ${final.status} (${final.reason}${icmpWords(final)})`,
      };
    }
    return {
      kind: 'failed',
      hop,
      from,
      fromHop: null,
      reason: final.reason,
      result: final,
      words: `the attempt at hop ${hop} failed: ${final.status} (${final.reason}${final.code === null ? '' : `, ${final.code}`})`,
    };
  }
  let answered: TraceHop | undefined;
  for (const h of hops) if (h.from !== null) answered = h;
  const hop = answered?.ttl ?? 0;
  const from = answered?.from ?? null;
  return {
    kind: 'dropped',
    hop,
    from,
    fromHop: answered === undefined ? null : hop,
    reason: 'silence',
    words:
      answered === undefined
        ? `no hop answered up to hop ${last?.ttl ?? 0}: packets are dropped before the first router, or no ICMP comes back`
        : `nothing answered beyond hop ${hop} (${from ?? '?'}): dropped after it`,
  };
}

async function traceValid(host: string, port: number, s: TraceSettings): Promise<TraceResult> {
  const started = now();
  let address: string;
  let family: 4 | 6;
  let addresses: string[];
  let dnsMs = 0;
  const wanted = s.family !== 0 ? s.family : s.local?.family ?? 0;
  const literal = literalFamily(host);
  if (literal !== 0) {
    if (wanted !== 0 && literal !== wanted) throw new RangeError(`${host} is an IPv${literal} address but only IPv${wanted} was asked for`);
    address = host;
    family = literal;
    addresses = [host];
  } else {
    const found = await lookup(host, wanted, s.timeout, s.signal);
    dnsMs = now() - started;
    if (!found.ok) {
      const reason = dnsReason(found.code);
      return {
        target: { host, address: null, family: null, port, addresses: [] },
        hops: [],
        verdict: { kind: 'failed', hop: 0, from: null, fromHop: null, reason, words: `${host} did not resolve (${found.code})` },
        dnsMs: round(dnsMs),
        elapsedMs: round(dnsMs),
      };
    }
    const first = found.addresses[0] as { address: string; family: number };
    address = first.address;
    family = first.family === 6 ? 6 : 4;
    addresses = found.addresses.map((a) => a.address);
  }
  const remaining = Math.max(1, s.timeout - (now() - started));
  const target: AttemptTarget = { address, family, port };
  const raw = await new Promise<Hop[]>((resolve, reject) => new Tracer(target, s, remaining, resolve, reject).run());
  const hops = raw.map(hopOf);
  return {
    target: { host, address, family, port, addresses },
    hops,
    verdict: verdictOf(hops, { address, port }),
    dnsMs: round(dnsMs),
    elapsedMs: round(now() - started),
  };
}

/**
 * Finds which hop stops a TCP connection to host:port: connect attempts with
 * hop limits 1, 2, 3, ... (all at once, at most one socket per hop in flight,
 * within one deadline), each router named by its ICMP time-exceeded, until
 * the target answers, a hop rejects, or silence. Linux only (the ICMP error
 * queue). Rejects only for bad arguments (TypeError, RangeError), an aborted
 * signal (AbortError) or another platform.
 */
export function trace(host: string, port: number, options?: TraceOptions): Promise<TraceResult> {
  try {
    const h = checkHost(host);
    const p = checkPort(port);
    const s = traceSettings(options);
    if (process.platform !== 'linux')
      throw new Error(`sockprobe: trace() needs Linux (it reads routers' ICMP time-exceeded from the socket's error queue, IP_RECVERR); this is ${process.platform}`);
    if (s.signal?.aborted) throw abortError(s.signal);
    return traceValid(h, p, s);
  } catch (error) {
    return Promise.reject(error);
  }
}
