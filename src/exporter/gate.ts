// What blackbox_exporter lacks: /probe makes the exporter connect wherever
// the caller says, so a request passes this gate before anything is sent.
// The allowlist (config `sockprobe.allow`) says which targets may be probed;
// per client address, a bound on probes in flight and a token bucket on the
// request rate. A request that fails any of them is answered 4xx with the
// reason, and no connection is made.
import { isIP } from 'node:net';
import type { AllowRule, Limits } from './config';

export interface Denied {
  code: 403 | 429;
  reason: string;
}

/** The allowlist's verdict on a target before resolution. */
export type Admission = { kind: 'allowed' } | { kind: 'check-address' } | { kind: 'denied'; denied: Denied };

const ALLOWED: Admission = { kind: 'allowed' };

function denied(reason: string): Admission {
  return { kind: 'denied', denied: { code: 403, reason } };
}

/**
 * Checks a TCP target (host as given, port) or a Unix path against the
 * allowlist. A name no pattern allows may still be allowed by the address it
 * resolves to ('check-address': the caller resolves, then calls addressAllowed).
 */
export function admit(rules: readonly AllowRule[] | null, target: { host: string; port: number } | { path: string }): Admission {
  if (rules === null) return ALLOWED;
  if ('path' in target) {
    for (const r of rules) if (r.paths.some((p) => p.test(target.path))) return ALLOWED;
    return denied(`target unix:${target.path} is not in the allowlist (sockprobe.allow paths)`);
  }
  const family = isIP(target.host);
  let addressRules = false;
  for (const r of rules) {
    if (r.ports[target.port] !== 1) continue;
    if (family !== 0) {
      if (r.addresses?.check(target.host, family === 4 ? 'ipv4' : 'ipv6') === true) return ALLOWED;
    } else {
      if (r.names.some((n) => n.test(target.host))) return ALLOWED;
      if (r.addresses !== null) addressRules = true;
    }
  }
  if (addressRules) return { kind: 'check-address' };
  return denied(`target ${family === 6 ? `[${target.host}]` : target.host}:${target.port} is not in the allowlist (sockprobe.allow)`);
}

/** After resolution: whether `address` (of a name no pattern allowed) is inside an allowed CIDR for `port`. */
export function addressAllowed(rules: readonly AllowRule[], host: string, address: string, port: number): Denied | null {
  const family = isIP(address);
  for (const r of rules) {
    if (r.ports[port] === 1 && r.addresses?.check(address, family === 6 ? 'ipv6' : 'ipv4') === true) return null;
  }
  return { code: 403, reason: `target ${host}:${port} resolves to ${address}, which is not in the allowlist (sockprobe.allow)` };
}

interface Client {
  inFlight: number;
  tokens: number;
  at: number;
}

/** Per-client concurrency and request-rate bounds. */
export class ClientLimits {
  private readonly clients = new Map<string, Client>();

  constructor(private limits: Limits) {}

  update(limits: Limits): void {
    this.limits = limits;
  }

  /** Takes a slot for `client` (null), or says why not; every null must be followed by release(client). */
  acquire(client: string, now = performance.now()): Denied | null {
    const { concurrentPerClient, requestsPerSecond, burst } = this.limits;
    let c = this.clients.get(client);
    if (c === undefined) {
      if (this.clients.size >= 10000) this.sweep(now);
      c = { inFlight: 0, tokens: burst, at: now };
      this.clients.set(client, c);
    }
    if (concurrentPerClient > 0 && c.inFlight >= concurrentPerClient)
      return { code: 429, reason: `too many probes in flight from ${client}: the limit is ${concurrentPerClient} (sockprobe.limits.concurrent_per_client)` };
    if (requestsPerSecond > 0) {
      c.tokens = Math.min(burst, c.tokens + ((now - c.at) / 1000) * requestsPerSecond);
      c.at = now;
      if (c.tokens < 1)
        return { code: 429, reason: `too many requests from ${client}: the limit is ${requestsPerSecond} per second, bursts of ${burst} (sockprobe.limits.requests_per_second, burst)` };
      c.tokens -= 1;
    }
    c.inFlight++;
    return null;
  }

  release(client: string): void {
    const c = this.clients.get(client);
    if (c !== undefined) c.inFlight--;
  }

  /** Forgets the clients with nothing in flight whose bucket has refilled. */
  private sweep(now: number): void {
    const { requestsPerSecond, burst } = this.limits;
    for (const [k, c] of this.clients) {
      const full = requestsPerSecond === 0 || c.tokens + ((now - c.at) / 1000) * requestsPerSecond >= burst;
      if (c.inFlight === 0 && full) this.clients.delete(k);
    }
  }
}
