// One attempt: one address (or Unix path), one socket, from connect() to a
// classified result. probe(), probeMany() (and through probe() the health API
// and explain) all start attempts here, and build their results with
// buildResult(): one path, one result shape.
//
// An engine (src/engine.ts: the native one, or the node one without the
// addon) runs the connect. A plain attempt ends there: the engine closes the
// socket and reports facts, and with the native engine no net.Socket is ever
// made. An attempt with a check (settle today; TLS and protocol checks build on
// the same seam) asks the engine to keep the connected socket: the addon's
// descriptor comes back in the outcome and is wrapped in a net.Socket (the node
// engine hands over its net.Socket as it is), and the check runs in Node's own
// streams. The socket has exactly one owner at every moment: the engine until
// the outcome is claimed, then this attempt, which closes it exactly once
// (after the check, on cancel, or when anything throws).
import * as fs from 'node:fs';
import * as net from 'node:net';
import { FLAG_GRACEFUL, FLAG_KEEP, type RawOutcome } from './binding';
import { checkConnector, connector, type Pending } from './engine';
import { classify, mostTelling, type AttemptTarget } from './classify';
import type { AddressResult, Family, ProbeResult } from './types';

/** Validated options shared by probe() and probeMany(). */
export interface Settings {
  timeout: number;
  signal: AbortSignal | undefined;
  family: 0 | 4 | 6;
  local: { address: string; family: 4 | 6 } | undefined;
  flags: number;
  settle: number;
  /** What runs on the connected socket before the attempt ends; undefined: nothing (the fast path). */
  check: Check | undefined;
}

/** What a check is handed: the connected socket, the outcome so far, and where to report. */
export interface CheckRun {
  readonly socket: net.Socket;
  /** The connect outcome (status open); the check adds its facts to it. */
  readonly raw: RawOutcome;
  /** Reports the check's outcome; the attempt then closes the socket. Later calls are ignored. */
  finish(raw: RawOutcome): void;
  /** Ends the attempt with an error (the probe rejects); the socket is closed. */
  fail(error: unknown): void;
}

/** Runs on a connected socket; must call run.finish() or run.fail() exactly once. */
export type Check = (run: CheckRun) => void;

// Where an attempt is: its socket is the addon's (Connecting), the check's
// (Checking), or gone (Idle before start, Done after).
const Phase = { Idle: 0, Connecting: 1, Checking: 2, Done: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

const round = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * An attempt, subclassed by whoever waits for it (probe(), probeMany()): the
 * subclass is the one object a pending attempt costs. start() returns the
 * result when it is known at once (nothing else is called then); otherwise
 * exactly one of finish() or fail() is called later, unless cancel() came first.
 */
export abstract class Attempt implements AttemptTarget, Pending, CheckRun {
  /** The engine's state while connecting (see Pending). */
  handle: unknown = undefined;
  private phase: Phase = Phase.Idle;
  /** Only for an attempt with a check (the fast path keeps none of this). */
  private kept: Kept | undefined;

  constructor(
    readonly address: string,
    readonly family: Family,
    readonly port: number | null,
  ) {}

  /** The attempt's result (not called when start() returned it). */
  protected abstract finished(result: AddressResult): void;
  /** The attempt failed with an exception (a check threw); its socket is closed. */
  protected abstract failed(error: unknown): void;

  /**
   * Starts the connect. Throws only for sockprobe's own faults (the probe should reject).
   * `ttl`: the SYNs' hop limit (trace()), 0 for the system default.
   */
  start(s: Settings, timeout: number, ttl = 0): AddressResult | undefined {
    const check = s.check;
    const raw = (check === undefined ? connector : checkConnector).start(this, this.family === 'unix' ? 0 : this.family, this.address, this.port ?? 0, s.local?.address ?? null, timeout, check === undefined ? s.flags : s.flags | FLAG_KEEP, ttl);
    if (raw !== undefined) {
      if (raw.fd === undefined && raw.socket === undefined) return classify(raw, this);
      // Connected inside start() with a check to run: the check starts on a
      // microtask, so whatever it reports (even at once, or a throw) reaches a
      // caller that has finished setting up after start() returned.
      this.phase = Phase.Checking;
      this.kept = { check: check as Check, raw, sock: undefined, graceful: (s.flags & FLAG_GRACEFUL) !== 0 };
      queueMicrotask(() => {
        if (this.phase === Phase.Checking) this.runCheck(raw);
      });
      return undefined;
    }
    if (check !== undefined) this.kept = { check, raw: undefined, sock: undefined, graceful: (s.flags & FLAG_GRACEFUL) !== 0 };
    this.phase = Phase.Connecting;
    return undefined;
  }

  /** The engine's outcome (Completion). */
  done(raw: RawOutcome): void {
    this.handle = undefined;
    if (raw.fd !== undefined || raw.socket !== undefined) {
      this.runCheck(raw);
      return;
    }
    this.phase = Phase.Done;
    this.finished(classify(raw, this));
  }

  /** The engine could not go on (Pending): the attempt fails with its error. */
  crashed(error: unknown): void {
    this.handle = undefined;
    if (this.phase !== Phase.Connecting) return;
    this.phase = Phase.Done;
    this.failed(error);
  }

  /** Stops the attempt and closes its socket at once; nothing is reported. Idempotent. */
  cancel(): void {
    if (this.phase === Phase.Connecting) {
      (this.kept === undefined ? connector : checkConnector).cancel(this);
    } else if (this.phase === Phase.Checking) {
      // Cancelled before the check began (the microtask above): the socket
      // is not wrapped yet, and this attempt closes it as it is.
      const raw = this.kept?.sock === undefined ? this.kept?.raw : undefined;
      if (raw?.fd !== undefined) fs.closeSync(raw.fd);
      else raw?.socket?.destroy();
      this.closeSocket();
    }
    this.phase = Phase.Done;
  }

  // ---- CheckRun, for the check ----

  get socket(): net.Socket {
    return (this.kept as Kept).sock as net.Socket;
  }

  get raw(): RawOutcome {
    return (this.kept as Kept).raw as RawOutcome;
  }

  finish(raw: RawOutcome): void {
    if (this.phase !== Phase.Checking) return;
    this.phase = Phase.Done;
    this.closeSocket();
    this.finished(classify(raw, this));
  }

  fail(error: unknown): void {
    if (this.phase !== Phase.Checking) return;
    this.phase = Phase.Done;
    this.closeSocket();
    this.failed(error);
  }

  /** The engine handed over a connected socket: this attempt owns it from here. */
  private runCheck(raw: RawOutcome): void {
    const kept = this.kept as Kept;
    this.phase = Phase.Checking;
    kept.raw = raw;
    let sock: net.Socket;
    if (raw.socket !== undefined) {
      // The node engine's own net.Socket: nothing to wrap.
      sock = raw.socket;
      delete raw.socket;
    } else {
      const fd = raw.fd as number;
      delete raw.fd; // owned by the socket from here: cancel() must not close the number again
      try {
        // Unix: guessHandleType makes a Pipe for AF_UNIX, a TCP handle otherwise.
        sock = new net.Socket({ fd, readable: true, writable: true });
      } catch (error) {
        fs.closeSync(fd);
        this.phase = Phase.Done;
        this.failed(error);
        return;
      }
    }
    kept.sock = sock;
    // Errors go to the check's listeners; this one only keeps an unhandled
    // 'error' from becoming an uncaught exception after the check is done.
    sock.on('error', noop);
    try {
      kept.check(this);
    } catch (error) {
      this.fail(error);
    }
  }

  private closeSocket(): void {
    const kept = this.kept;
    const sock = kept?.sock;
    if (kept === undefined || sock === undefined) return;
    kept.sock = undefined;
    if (sock.destroyed) return;
    // RST (no TIME_WAIT) unless a graceful close was asked for; a Unix socket has no RST.
    // Not after end() (an HTTP check's client ends its request): libuv's
    // uv_tcp_close_reset() refuses a socket with a shutdown in flight (EINVAL),
    // and Node 20 then marks the handle closing without closing it: the
    // descriptor leaks and the process spins at exit waiting for it.
    if (!kept.graceful && this.family !== 'unix' && !sock.writableEnded) sock.resetAndDestroy();
    else sock.destroy();
  }
}

/** What an attempt with a check holds: the check, the outcome so far, the socket once wrapped. */
interface Kept {
  check: Check;
  raw: RawOutcome | undefined;
  sock: net.Socket | undefined;
  graceful: boolean;
}

const noop = (): void => undefined;

/**
 * A probe's result from its attempts: the most telling attempt's fields, then
 * host, attempts, dnsMs and elapsedMs. Same keys in the same order as
 * `{ ...best, host, attempts, dnsMs, elapsedMs }`: V8 handles that literal (a
 * spread, new keys, then an existing key redefined) through its slow path,
 * about 10 µs a result; copying then storing is ~0.3 µs.
 */
export function buildResult(host: string, attempts: AddressResult[], dnsMs: number, elapsedMs: number): ProbeResult {
  const best = mostTelling(attempts) as AddressResult;
  const result = Object.assign({}, best) as ProbeResult;
  result.host = host;
  result.attempts = attempts;
  result.dnsMs = round(dnsMs);
  result.elapsedMs = round(elapsedMs);
  return result;
}
