// The check runner: turns a CheckPlan into a Check (src/attempt.ts), the
// function an attempt runs on its connected socket. It owns what a protocol
// module must not care about: the deadline (what is left of the probe's
// timeout once the TCP handshake is done), the probe's signal, the order of
// the steps (STARTTLS prelude, TLS, then HTTP or the protocol), and the
// evidence kept when a step never answers. Its outcome rides on the raw
// outcome (raw.check) to classify(), which makes it an open result with
// `check`, or a not-ready one (src/checks/result.ts).
import type * as net from 'node:net';
import type { Check, CheckRun } from '../attempt';
import { assertNever, type CheckDetail, type HttpDetail, type TlsDetail } from '../types';
import { httpExchange, hostHeader } from './http';
import type { CheckPlan } from './index';
import { abortedEvidence } from './exchange';
import type { NotReadyReason, ProtocolVerdict } from './protocol';
import { tlsHandshake, tlsSentence } from './tls';

/** What a check concluded: carried to classify() on the raw outcome. */
export interface CheckOutcome {
  ready: boolean;
  reason: NotReadyReason | undefined;
  code: string | null;
  check: CheckDetail;
}

/** The evidence the steps gather as they go, so a deadline still reports what was seen. */
interface Trail {
  sent: string[];
  received: string[];
  facts: Record<string, string | number | boolean>;
  tls: TlsDetail | undefined;
  http: HttpDetail | undefined;
  /** The TLS socket once a handshake completed: destroyed by the runner when the check ends. */
  secure: net.Socket | undefined;
  /** The step under way, for the words of a deadline. */
  step: 'prelude' | 'tls' | 'request';
}

/** The deadline's reason on the runner's own signal. */
class Deadline extends Error {
  override readonly name = 'TimeoutError';
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

function outcome(plan: CheckPlan, trail: Trail, started: number, ready: boolean, reason: NotReadyReason | undefined, code: string | null, detail: string): CheckOutcome {
  const check: CheckDetail = {
    name: plan.name,
    detail,
    sent: trail.sent.filter((s) => s !== '').join(' | '),
    received: trail.received.filter((s) => s !== '').join(' | ').slice(0, 256),
    facts: trail.facts,
    elapsedMs: round(performance.now() - started),
  };
  if (trail.tls !== undefined) check.tls = trail.tls;
  if (trail.http !== undefined) check.http = trail.http;
  return { ready, reason: ready ? undefined : reason, code, check };
}

function fromVerdict(plan: CheckPlan, trail: Trail, started: number, v: ProtocolVerdict): CheckOutcome {
  trail.sent.push(v.sent);
  trail.received.push(v.received);
  Object.assign(trail.facts, v.facts);
  const code = typeof v.facts.sqlstate === 'string' ? v.facts.sqlstate : typeof v.facts.code === 'string' ? v.facts.code : null;
  return outcome(plan, trail, started, v.ready, v.ready ? undefined : v.reason ?? 'unexpected-reply', code, v.detail);
}

/** The steps of a plan on a connected socket; rejects only with the signal's reason (or a fault of sockprobe's). */
async function execute(plan: CheckPlan, socket: net.Socket, host: string, port: number | null, connectMs: number, signal: AbortSignal, trail: Trail, started: number): Promise<CheckOutcome> {
  let sock = socket;
  if (plan.prelude !== undefined) {
    const p = await plan.prelude(sock, signal);
    if (!p.ok) return fromVerdict(plan, trail, started, p.verdict);
    trail.sent.push(p.sent);
    trail.received.push(p.received);
    Object.assign(trail.facts, p.facts);
  }
  trail.step = 'request';
  let tlsMs = 0;
  if (plan.tls !== undefined) {
    trail.step = 'tls';
    trail.sent.push('<TLS ClientHello>');
    const o = await tlsHandshake(sock, plan.tls, host, signal);
    trail.tls = o.tls;
    tlsMs = o.tls.handshakeMs;
    if (!o.ok) return outcome(plan, trail, started, false, o.reason, o.code, tlsSentence(o));
    trail.secure = o.socket;
    trail.received.push(`<TLS ${o.tls.version ?? ''} ServerHello, certificate ${o.tls.leaf?.subject ?? 'none'}>`);
    if (o.reason !== undefined) return outcome(plan, trail, started, false, o.reason, o.code, tlsSentence(o));
    sock = o.socket;
    trail.step = 'request';
    if (plan.http === undefined && plan.protocol === undefined) return outcome(plan, trail, started, true, undefined, o.code, tlsSentence(o));
  }
  if (plan.http !== undefined) {
    const h = await httpExchange(sock, plan.http, hostHeader(host, port, plan.defaultPort), { connect: round(connectMs), tls: tlsMs }, signal);
    trail.http = h.http;
    trail.sent.push(h.sent);
    trail.received.push(h.received);
    return outcome(plan, trail, started, h.ready, h.reason, h.code, h.detail);
  }
  if (plan.protocol !== undefined) return fromVerdict(plan, trail, started, await plan.protocol.run(sock, { signal, host, options: plan.options }));
  return outcome(plan, trail, started, true, undefined, null, 'connected');
}

/**
 * The Check for a plan. `host`: the target as given (the default SNI and Host
 * header); `timeout`: the probe's whole deadline, of which the check gets what
 * the connect left; `signal`: the probe's (an abort also cancels the attempt,
 * which closes the socket; this only stops the timer and the steps).
 */
export function planCheck(plan: CheckPlan, host: string, timeout: number, signal: AbortSignal | undefined): Check {
  return (run: CheckRun): void => {
    const started = performance.now();
    const raw = run.raw;
    const socket = run.socket;
    const left = Math.max(1, timeout - raw.elapsedNs / 1e6);
    const controller = new AbortController();
    const trail: Trail = { sent: [], received: [], facts: {}, tls: undefined, http: undefined, secure: undefined, step: plan.prelude !== undefined ? 'prelude' : 'request' };
    let over = false;
    const timer = setTimeout(() => controller.abort(new Deadline(`no reply within ${Math.round(left)} ms`)), left);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const end = (): void => {
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // The TLS layer goes with its socket; the attempt then resets the TCP connection.
      const secure = trail.secure;
      if (secure !== undefined) {
        secure.on('error', noop);
        secure.destroy();
      }
    };
    const report = (o: CheckOutcome): void => {
      if (over) return;
      end();
      raw.check = o;
      raw.elapsedNs += Math.round((performance.now() - started) * 1e6);
      run.finish(raw);
    };
    const port = socket.remotePort ?? null;
    execute(plan, socket, host, port, raw.connectNs / 1e6, controller.signal, trail, started).then(report, (error: unknown) => {
      if (over) return;
      if (controller.signal.aborted && controller.signal.reason instanceof Deadline) {
        const seen = abortedEvidence.get(controller.signal);
        if (seen !== undefined) {
          trail.sent.push(seen.sent);
          trail.received.push(seen.received);
        }
        report(outcome(plan, trail, started, false, 'no-reply', null, deadlineWords(trail.step, left)));
        return;
      }
      end();
      // An abort of the probe: the attempt is cancelled already and ignores this.
      run.fail(error);
    });
  };
}

const noop = (): void => undefined;

function deadlineWords(step: Trail['step'], left: number): string {
  const within = `within ${Math.round(left)} ms`;
  switch (step) {
    case 'prelude':
      return `the service did not answer the STARTTLS exchange ${within}`;
    case 'tls':
      return `the server did not complete the TLS handshake ${within}`;
    case 'request':
      return `the service did not answer ${within}`;
    default:
      return assertNever(step, 'unknown step');
  }
}
