// The contract between the check runner and a protocol module. A protocol
// module (src/checks/<name>.ts) gets a connected socket and says, in one
// verdict, whether the service behind it is ready, with the evidence: what was
// sent, the first bytes received (printable), and the facts it read. The
// runner (src/checks/runner.ts) owns the deadline and the signal, and turns a
// verdict into a result; a module only speaks its protocol.
import type * as net from 'node:net';

/** Why a service that accepted the TCP connection is not ready. */
export type NotReadyReason =
  | 'tls-handshake'
  | 'cert-expired'
  | 'cert-not-yet-valid'
  | 'cert-untrusted'
  | 'cert-name-mismatch'
  | 'http-status'
  | 'body-mismatch'
  | 'starting-up'
  | 'loading'
  | 'too-many-connections'
  | 'unexpected-reply'
  | 'closed-before-reply'
  | 'reset-before-reply'
  | 'no-reply'
  | 'auth-failed'
  | 'server-error';

export interface ProtocolVerdict {
  ready: boolean;
  /** Set when !ready. */
  reason?: NotReadyReason;
  /** One human sentence: what the service answered. */
  detail: string;
  /** Printable rendering of the bytes sent ('' when none). */
  sent: string;
  /** Printable rendering of the first bytes received (at most 256 characters). */
  received: string;
  /** What the exchange read, e.g. { server: 'Redis 7.0.15', sqlstate: '57P03' }. */
  facts: Record<string, string | number | boolean>;
}

export interface ProtocolContext {
  signal: AbortSignal;
  host: string;
  options: Readonly<Record<string, unknown>>;
}

export interface ProtocolCheck {
  /** 'redis', 'postgres', ... */
  name: string;
  defaultPort: number;
  /** Runs on a connected socket; resolves with a verdict; must settle promptly when ctx.signal aborts and remove its listeners. */
  run(socket: net.Socket, ctx: ProtocolContext): Promise<ProtocolVerdict>;
}
