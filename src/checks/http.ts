// The http check (and https: the tls check's socket underneath): one request
// on the connected socket through Node's own HTTP client (createConnection
// hands it this socket, so no agent and no second connection), then the
// status against the expected ones (default 200-399, as a Kubernetes
// httpGet probe counts success) and, when asked, the body against a regex.
// It reports the status, the HTTP version, and the phases: connect (the TCP
// handshake), tls, and the first byte after the request was written.
import * as http from 'node:http';
import type * as net from 'node:net';
import { describeValue } from '../describe-value';
import { formatHost } from '../target';
import type { HttpDetail } from '../types';
import { isObject } from '../validate';
import { printable } from './exchange';
import type { NotReadyReason } from './protocol';

export interface HttpCheckOptions {
  /** Default 'GET'. */
  method?: string;
  /** Request target, starting with '/'. Default '/'. */
  path?: string;
  /** The Host header; default the target's host (and its port unless it is the scheme's default). */
  host?: string;
  /** Statuses that count as ready: a number, or ranges and numbers as text ('200-399', '200,204'). Default '200-399'. */
  status?: number | string;
  /** The body (its first 64 KiB) must match this. */
  body?: string | RegExp;
  /** The body (its first 64 KiB) must not match this. */
  bodyNot?: string | RegExp;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
}

export interface HttpSettings {
  method: string;
  path: string;
  host: string | undefined;
  expected: string;
  ranges: [number, number][];
  body: RegExp | undefined;
  bodyNot: RegExp | undefined;
  headers: Record<string, string>;
}

const HTTP_KEYS = new Set(['method', 'path', 'host', 'status', 'body', 'bodyNot', 'headers']);
/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** At most this much of the body is read for the regex. */
const BODY_LIMIT = 64 * 1024;

function parseStatuses(text: string, where: string): [number, number][] {
  const ranges: [number, number][] = [];
  for (const part of text.split(',')) {
    const m = /^\s*([1-5][0-9][0-9])\s*(?:-\s*([1-5][0-9][0-9])\s*)?$/.exec(part);
    if (m === null) throw new RangeError(`${where} must be statuses 100-599 or ranges such as '200-399', got '${text}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new RangeError(`${where}: range ${lo}-${hi} is empty`);
    ranges.push([lo, hi]);
  }
  return ranges;
}

/** Checks http options (TypeError for a wrong type, RangeError for a bad value). */
export function httpSettings(value: unknown, where = 'check.http'): HttpSettings {
  if (value === undefined || value === true) value = {};
  if (!isObject(value)) throw new TypeError(`${where} must be an object, got ${describeValue(value)}`);
  for (const key of Object.keys(value)) if (!HTTP_KEYS.has(key)) throw new RangeError(`${where}: unknown option '${key}'`);
  const str = (v: unknown, name: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new TypeError(`${where}.${name} must be a string, got ${describeValue(v)}`);
    if (/[\0\r\n]/.test(v)) throw new RangeError(`${where}.${name} must not contain CR, LF or NUL`);
    return v;
  };
  const method = str(value.method, 'method') ?? 'GET';
  if (!TOKEN.test(method)) throw new RangeError(`${where}.method must be an HTTP method token, got '${method}'`);
  const path = str(value.path, 'path') ?? '/';
  if (!path.startsWith('/') || /\s/.test(path)) throw new RangeError(`${where}.path must start with '/' and contain no spaces, got '${path}'`);
  const host = str(value.host, 'host');
  if (host !== undefined && host.length === 0) throw new RangeError(`${where}.host must not be empty`);
  let expected = '200-399';
  if (value.status !== undefined) {
    if (typeof value.status === 'number') {
      if (!Number.isInteger(value.status) || value.status < 100 || value.status > 599)
        throw new RangeError(`${where}.status must be an integer from 100 to 599, got ${value.status}`);
      expected = String(value.status);
    } else if (typeof value.status === 'string') expected = value.status;
    else throw new TypeError(`${where}.status must be a number or a string such as '200-399', got ${describeValue(value.status)}`);
  }
  const regex = (v: unknown, name: string): RegExp | undefined => {
    if (v === undefined || v instanceof RegExp) return v;
    if (typeof v !== 'string') throw new TypeError(`${where}.${name} must be a RegExp or a string, got ${describeValue(v)}`);
    try {
      return new RegExp(v);
    } catch (error) {
      throw new RangeError(`${where}.${name} is not a valid regular expression: ${(error as Error).message}`);
    }
  };
  const body = regex(value.body, 'body');
  const bodyNot = regex(value.bodyNot, 'bodyNot');
  const headers: Record<string, string> = {};
  if (value.headers !== undefined) {
    if (!isObject(value.headers)) throw new TypeError(`${where}.headers must be an object, got ${describeValue(value.headers)}`);
    for (const [k, v] of Object.entries(value.headers)) {
      if (!TOKEN.test(k)) throw new RangeError(`${where}.headers: '${k}' is not a header name`);
      headers[k] = str(v, `headers.${k}`) as string;
    }
  }
  return { method, path, host, expected, ranges: parseStatuses(expected, `${where}.status`), body, bodyNot, headers };
}

export interface HttpOutcome {
  ready: boolean;
  reason: NotReadyReason | undefined;
  code: string | null;
  http: HttpDetail;
  detail: string;
  sent: string;
  received: string;
}

/** The Host header for a target: an IPv6 literal in brackets, the port unless it is the scheme's default. */
export function hostHeader(host: string, port: number | null, defaultPort: number): string {
  const h = formatHost(host);
  return port === null || port === defaultPort ? h : `${h}:${port}`;
}

/**
 * Sends one request on `socket` (plain or TLS, already connected) and reads
 * the response. Rejects only with the signal's reason; whatever happens the
 * listeners it added are removed (the socket is left to its owner).
 */
export function httpExchange(
  socket: net.Socket,
  s: HttpSettings,
  host: string,
  phases: { connect: number; tls: number },
  signal: AbortSignal,
): Promise<HttpOutcome> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const headers: Record<string, string> = { 'user-agent': 'sockprobe', accept: '*/*', ...s.headers, host: s.host ?? host };
    const started = performance.now();
    let firstByte = -1;
    let first = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      if (firstByte < 0) firstByte = performance.now() - started;
      if (first.length < 256) first = Buffer.concat([first, chunk.subarray(0, 256 - first.length)]);
    };
    socket.on('data', onData);
    const sentLine = `${s.method} ${s.path} HTTP/1.1\r\nHost: ${headers.host}\r\n`;
    const detail = (status: number | null, version: string | null, bodyMatched: boolean | null): HttpDetail => ({
      method: s.method,
      path: s.path,
      hostHeader: headers.host as string,
      status,
      httpVersion: version,
      expected: s.expected,
      bodyMatched,
      phases: {
        connect: phases.connect,
        tls: phases.tls,
        firstByte: firstByte < 0 ? -1 : round(firstByte),
        total: round(phases.connect + phases.tls + (performance.now() - started)),
      },
    });
    let done = false;
    const finish = (o: Omit<HttpOutcome, 'sent' | 'received'>): void => {
      if (done) return;
      done = true;
      socket.removeListener('data', onData);
      signal.removeEventListener('abort', onAbort);
      req.removeAllListeners('response');
      req.on('error', noop);
      resolve({ ...o, sent: printable(sentLine), received: printable(first) });
    };
    const onAbort = (): void => {
      if (done) return;
      done = true;
      socket.removeListener('data', onData);
      req.on('error', noop);
      req.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const req = http.request({
      method: s.method,
      path: s.path,
      headers,
      createConnection: () => socket,
    });
    req.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'ERR_HTTP';
      const reason: NotReadyReason =
        code === 'ECONNRESET' && first.length === 0 && !socket.readableEnded
          ? 'reset-before-reply'
          : code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE'
            ? first.length === 0
              ? 'closed-before-reply'
              : 'unexpected-reply'
            : 'unexpected-reply';
      const words =
        reason === 'unexpected-reply'
          ? `the reply is not an HTTP response (${error.message})`
          : reason === 'reset-before-reply'
            ? 'the connection was reset before any response'
            : 'the connection was closed before any response';
      finish({ ready: false, reason, code, http: detail(null, null, null), detail: words });
    });
    req.once('response', (res: http.IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const statusOk = s.ranges.some(([lo, hi]) => status >= lo && status <= hi);
      const line = `HTTP/${res.httpVersion} ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
      let bodyWords = '';
      const judge = (bodyMatched: boolean | null): void => {
        res.removeAllListeners('data');
        res.removeAllListeners('end');
        res.on('error', noop);
        const d = detail(status, res.httpVersion, bodyMatched);
        if (!statusOk) finish({ ready: false, reason: 'http-status', code: String(status), http: d, detail: `the server answered ${line}, expected ${s.expected}` });
        else if (bodyMatched === false)
          finish({ ready: false, reason: 'body-mismatch', code: null, http: d, detail: `the server answered ${line} but the body ${bodyWords}` });
        else finish({ ready: true, reason: undefined, code: null, http: d, detail: `the server answered ${line}` });
      };
      if ((s.body === undefined && s.bodyNot === undefined) || !statusOk) {
        judge(null);
        return;
      }
      const parts: Buffer[] = [];
      let size = 0;
      // bodyMatched: the body passed both regexes (matches body, does not match bodyNot).
      const test = (text: string): boolean => {
        if (s.body !== undefined && !s.body.test(text)) {
          bodyWords = `does not match ${String(s.body)}`;
          return false;
        }
        if (s.bodyNot !== undefined && s.bodyNot.test(text)) {
          bodyWords = `matches ${String(s.bodyNot)}, which it must not`;
          return false;
        }
        return true;
      };
      res.on('data', (chunk: Buffer) => {
        if (size >= BODY_LIMIT) return;
        parts.push(chunk);
        size += chunk.length;
        if (size >= BODY_LIMIT) judge(test(Buffer.concat(parts).subarray(0, BODY_LIMIT).toString('utf8')));
      });
      res.once('end', () => judge(test(Buffer.concat(parts).toString('utf8'))));
      res.once('error', () => judge(test(Buffer.concat(parts).toString('utf8'))));
    });
    req.end();
  });
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
const noop = (): void => undefined;
