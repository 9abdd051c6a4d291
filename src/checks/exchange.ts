// The reader every protocol module speaks through: it writes bytes to a
// connected socket, reads until a parser is satisfied (N bytes, a line, a
// frame), and keeps the evidence a verdict carries (what was sent, the first
// bytes received, both printable). It ends in one of four ways, each turned
// into a verdict or a rejection by converse():
//   - the parser is satisfied                  -> the module decides;
//   - the peer closes (FIN) or resets (RST)    -> closed-before-reply / reset-before-reply;
//   - the reply is not the protocol's          -> unexpected-reply (a module throws Unexpected);
//   - the signal aborts                        -> rejects with the signal's reason (the runner maps
//                                                 its deadline to no-reply).
// Whatever the ending, every listener it added (socket and signal) is removed,
// and the socket is left to its owner, open: closing it is the caller's job.
import type * as net from 'node:net';
import type { NotReadyReason, ProtocolVerdict } from './protocol';

/** At most this many bytes are kept as evidence, and rendered in at most this many characters. */
export const EVIDENCE_LIMIT = 256;
/** A reply still incomplete after this many bytes is not the protocol's. */
const BUFFER_LIMIT = 64 * 1024;

/** The peer ended the connection before the reply was complete. */
export class PeerEnded extends Error {
  override readonly name = 'PeerEnded';
  constructor(readonly reason: 'closed-before-reply' | 'reset-before-reply', readonly code: string) {
    super(reason === 'closed-before-reply' ? 'the peer closed the connection (FIN) before its reply was complete' : `the connection was reset (${code}) before the reply was complete`);
  }
}

/** Thrown by a module (or a parser) when the peer's bytes are not the protocol's reply. */
export class Unexpected extends Error {
  override readonly name = 'Unexpected';
}

/** Bytes as a person can read them: printable ASCII as is, \r \n \t and \\ escaped, everything else \xNN. */
export function printable(bytes: Buffer | string, limit = EVIDENCE_LIMIT): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '';
  for (const b of buf) {
    let piece: string;
    if (b === 0x5c) piece = '\\\\';
    else if (b === 0x0d) piece = '\\r';
    else if (b === 0x0a) piece = '\\n';
    else if (b === 0x09) piece = '\\t';
    else if (b >= 0x20 && b < 0x7f) piece = String.fromCharCode(b);
    else piece = `\\x${b.toString(16).padStart(2, '0')}`;
    if (out.length + piece.length > limit) break;
    out += piece;
  }
  return out;
}

/** What a parser reports once the buffered bytes hold a whole reply: its value and how many bytes it used. */
export interface Parsed<T> {
  value: T;
  used: number;
}

/** Reads a whole reply from the start of `buf`, or returns undefined to wait for more bytes. May throw Unexpected. */
export type Parser<T> = (buf: Buffer) => Parsed<T> | undefined;

interface Waiter {
  parse: Parser<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class Exchange {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly sentBytes: Buffer[] = [];
  private sentLength = 0;
  private readonly receivedBytes: Buffer[] = [];
  private receivedLength = 0;
  private waiter: Waiter | undefined;
  /** Why no more bytes will come, once known. */
  private ended: unknown;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly signal: AbortSignal,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    signal.addEventListener('abort', this.onAbort);
    if (signal.aborted) this.ended = signal.reason;
    else if (socket.destroyed) this.ended = new PeerEnded('closed-before-reply', 'EOF');
  }

  /** Writes `data` (a string is sent as latin1: one byte per character) and records it as evidence. */
  send(data: Buffer | string): void {
    if (this.closed) throw new Error('this exchange is closed');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (this.sentLength < EVIDENCE_LIMIT) {
      this.sentBytes.push(bytes.subarray(0, EVIDENCE_LIMIT - this.sentLength));
      this.sentLength += Math.min(bytes.length, EVIDENCE_LIMIT - this.sentLength);
    }
    // A write to a reset or closed peer surfaces as 'error' (EPIPE, ECONNRESET) and ends the read.
    if (this.ended === undefined && !this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves with what `parse` reads from the bytes received so far and from those still to come. */
  read<T>(parse: Parser<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('this exchange is closed'));
    if (this.waiter !== undefined) return Promise.reject(new Error('one read at a time'));
    return new Promise<T>((resolve, reject) => {
      this.waiter = { parse, resolve: resolve as (value: unknown) => void, reject };
      this.pump();
    });
  }

  /** Exactly `n` bytes. */
  readBytes(n: number): Promise<Buffer> {
    return this.read((buf) => (buf.length >= n ? { value: Buffer.from(buf.subarray(0, n)), used: n } : undefined));
  }

  /** One line, without its \r\n or \n (latin1). A line longer than `max` bytes is Unexpected. */
  readLine(max = 4096): Promise<string> {
    return this.read((buf) => {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > max) throw new Unexpected(`no end of line in the first ${max} bytes`);
        return undefined;
      }
      const end = nl > 0 && buf[nl - 1] === 0x0d ? nl - 1 : nl;
      return { value: buf.toString('latin1', 0, end), used: nl + 1 };
    });
  }

  /** Everything received (at most 64 KiB) that no read has used yet. */
  get pending(): Buffer {
    return this.buffered;
  }

  /** Takes (and so consumes) what no read has used yet: the last line of a peer that closed without a newline. */
  takePending(): Buffer {
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }

  /** The evidence so far: printable renderings of the first bytes sent and received. */
  evidence(): { sent: string; received: string } {
    return { sent: printable(Buffer.concat(this.sentBytes)), received: printable(Buffer.concat(this.receivedBytes)) };
  }

  /** Removes every listener this exchange added; a pending read rejects. The socket stays open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('error', this.onError);
    this.socket.removeListener('close', this.onClose);
    this.signal.removeEventListener('abort', this.onAbort);
    this.settle(new Error('this exchange is closed'));
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.receivedLength < EVIDENCE_LIMIT) {
      this.receivedBytes.push(chunk.subarray(0, EVIDENCE_LIMIT - this.receivedLength));
      this.receivedLength += Math.min(chunk.length, EVIDENCE_LIMIT - this.receivedLength);
    }
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.pump();
  };

  private readonly onEnd = (): void => this.end(new PeerEnded('closed-before-reply', 'EOF'));

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    const code = error.code ?? '';
    this.end(code === 'ECONNRESET' || code === 'EPIPE' ? new PeerEnded('reset-before-reply', code) : error);
  };

  private readonly onClose = (): void => this.end(new PeerEnded('closed-before-reply', 'EOF'));

  private readonly onAbort = (): void => {
    // The signal's reason overrides a peer's ending not yet read: an abort is the caller's word.
    this.ended = this.signal.reason;
    this.settle(this.signal.reason);
  };

  private end(why: unknown): void {
    if (this.ended === undefined) this.ended = why;
    this.pump();
  }

  /** Tries the pending read on what is buffered; rejects it once no more bytes can come. */
  private pump(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    if (this.signal.aborted) {
      this.settle(this.signal.reason);
      return;
    }
    let parsed: Parsed<unknown> | undefined;
    try {
      parsed = waiter.parse(this.buffered);
      if (parsed === undefined && this.buffered.length > BUFFER_LIMIT) throw new Unexpected(`no complete reply in the first ${BUFFER_LIMIT} bytes`);
    } catch (error) {
      this.settle(error);
      return;
    }
    if (parsed !== undefined) {
      this.buffered = this.buffered.subarray(parsed.used);
      this.waiter = undefined;
      waiter.resolve(parsed.value);
    } else if (this.ended !== undefined) {
      this.settle(this.ended);
    }
  }

  private settle(error: unknown): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    waiter.reject(error);
  }
}

/** A module's conclusion, before the evidence is attached. */
export interface Conclusion {
  ready: boolean;
  reason?: NotReadyReason;
  detail: string;
  facts?: Record<string, string | number | boolean>;
}

export const ready = (detail: string, facts: Record<string, string | number | boolean> = {}): Conclusion => ({ ready: true, detail, facts });

export const notReady = (reason: NotReadyReason, detail: string, facts: Record<string, string | number | boolean> = {}): Conclusion => ({
  ready: false,
  reason,
  detail,
  facts,
});

/**
 * What an exchange had sent and received when its signal aborted it, by
 * signal: the runner reads it at a deadline, so a no-reply still says what
 * was sent and the first bytes that came back. Weak: gone with the signal.
 */
export const abortedEvidence = new WeakMap<AbortSignal, { sent: string; received: string }>();

/**
 * Runs `talk` over an Exchange on `socket` and turns its ending into a
 * verdict with the evidence: a FIN or RST before the reply becomes
 * closed-before-reply / reset-before-reply, an Unexpected becomes
 * unexpected-reply. An abort (and any other error) rejects, listeners removed.
 */
export async function converse(socket: net.Socket, signal: AbortSignal, talk: (ex: Exchange) => Promise<Conclusion>): Promise<ProtocolVerdict> {
  const ex = new Exchange(socket, signal);
  let c: Conclusion;
  try {
    c = await talk(ex);
  } catch (error) {
    if (signal.aborted) {
      // The deadline (or the caller) ended the exchange: its evidence is kept for whoever aborted.
      abortedEvidence.set(signal, ex.evidence());
      throw signal.reason;
    }
    if (error instanceof PeerEnded) {
      const partial = ex.evidence().received === '' ? '' : ' (after a partial reply)';
      c = notReady(error.reason, `${error.message}${partial}`);
    } else if (error instanceof Unexpected) {
      c = notReady('unexpected-reply', error.message);
    } else {
      throw error;
    }
  } finally {
    ex.close();
  }
  const verdict: ProtocolVerdict = { ready: c.ready, detail: c.detail, ...ex.evidence(), facts: c.facts ?? {} };
  if (!c.ready) verdict.reason = c.reason;
  return verdict;
}

/** A reply of SMTP (RFC 5321 4.2) or FTP (RFC 959 4.2): a three-digit code and its lines, continued with "ddd-". */
export interface CodedReply {
  code: number;
  lines: string[];
}

/** Reads one whole SMTP/FTP reply ("220-a", "220 b"); a line without a code is Unexpected. */
export async function readCodedReply(ex: Exchange, maxLines = 100): Promise<CodedReply> {
  const lines: string[] = [];
  for (;;) {
    const line = await ex.readLine();
    const m = /^(\d{3})([ -]|$)(.*)$/.exec(line);
    if (m === null) {
      // FTP lets a multi-line reply carry lines without a code between its first and last.
      if (lines.length > 0) {
        lines.push(line);
        continue;
      }
      throw new Unexpected(`the reply "${printable(line, 80)}" does not start with a three-digit code`);
    }
    lines.push(m[3]!);
    const code = Number(m[1]);
    if (m[2] !== '-') return { code, lines };
    if (lines.length >= maxLines) throw new Unexpected(`a reply of more than ${maxLines} lines`);
  }
}

/** How a STARTTLS prelude ended: the socket is ready for a TLS handshake, or a verdict says why not. */
export type TlsPrelude = { ok: true; sent: string; received: string; facts: Record<string, string | number | boolean> } | { ok: false; verdict: ProtocolVerdict };

/**
 * Runs a STARTTLS prelude: `talk` concludes ready when the server agreed to
 * TLS. Bytes the server sent after its go-ahead would be read as if they came
 * over TLS (the attack of CVE-2021-23222 and CVE-2011-0411), so they make the
 * prelude fail as unexpected-reply.
 */
export async function tlsPrelude(socket: net.Socket, signal: AbortSignal, talk: (ex: Exchange) => Promise<Conclusion>): Promise<TlsPrelude> {
  const verdict = await converse(socket, signal, async (ex) => {
    const c = await talk(ex);
    if (c.ready && ex.pending.length > 0) throw new Unexpected(`the server sent ${ex.pending.length} bytes after agreeing to TLS, before the handshake`);
    return c;
  });
  return verdict.ready ? { ok: true, sent: verdict.sent, received: verdict.received, facts: verdict.facts } : { ok: false, verdict };
}

/** The string option `name`, or undefined when absent; any other type is a TypeError. */
export function stringOption(options: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`option ${name} must be a string, got ${typeof value}`);
  return value;
}
