// Argument checks for the public API: TypeError for a wrong type, RangeError
// for a value out of range. The native layer trusts what passes here.
import * as net from 'node:net';
import { describeValue } from './describe-value';

export const DEFAULT_TIMEOUT_MS = 2000;
/** libuv timers and setTimeout both stop being exact past 2^31-1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS; one is the NUL. */
const MAX_UNIX_PATH_BYTES = process.platform === 'linux' ? 107 : 103;
/** RFC 1035: 253 characters for a name; an IPv6 literal with a zone fits too. */
const MAX_HOST_LENGTH = 253;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value's name for an error message; a function when building it costs (probeMany names each target). */
export type Label = string | (() => string);
const label = (name: Label): string => (typeof name === 'string' ? name : name());

export function checkHost(host: unknown, name: Label = 'host'): string {
  if (typeof host !== 'string') throw new TypeError(`${label(name)} must be a string, got ${describeValue(host)}`);
  if (host.includes('\0')) throw new TypeError(`${label(name)} must not contain NUL characters`);
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.length === 0) throw new RangeError(`${label(name)} must not be empty`);
  if (h.length > MAX_HOST_LENGTH) throw new RangeError(`${label(name)} must be at most ${MAX_HOST_LENGTH} characters, got ${h.length}`);
  return h;
}

export function checkPort(port: unknown, name: Label = 'port'): number {
  if (typeof port !== 'number') throw new TypeError(`${label(name)} must be a number, got ${describeValue(port)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`${label(name)} must be an integer from 1 to 65535, got ${String(port)}`);
  return port;
}

export function checkTimeout(value: unknown, name = 'timeout', fallback = DEFAULT_TIMEOUT_MS): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${describeValue(value)}`);
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS)
    throw new RangeError(`${name} must be a finite number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS}, got ${String(value)}`);
  return value;
}

export function checkNonNegativeMs(value: unknown, name: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${describeValue(value)}`);
  if (!Number.isFinite(value) || value < 0 || value > MAX_TIMEOUT_MS)
    throw new RangeError(`${name} must be a finite number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${String(value)}`);
  return value;
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`signal must be an AbortSignal, got ${describeValue(value)}`);
  return value;
}

export function checkFamily(value: unknown): 0 | 4 | 6 {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw new TypeError(`family must be 0, 4 or 6, got ${describeValue(value)}`);
  if (value !== 0 && value !== 4 && value !== 6) throw new RangeError(`family must be 0, 4 or 6, got ${String(value)}`);
  return value;
}

export function checkLocalAddress(value: unknown): { address: string; family: 4 | 6 } | undefined {
  if (value === undefined) return undefined;
  const address = checkHost(value, 'localAddress');
  const family = literalFamily(address);
  if (family === 0) throw new RangeError(`localAddress must be a numeric IPv4 or IPv6 address, got '${address}'`);
  return { address, family };
}

export function checkClose(value: unknown): 'reset' | 'graceful' {
  if (value === undefined) return 'reset';
  if (typeof value !== 'string') throw new TypeError(`close must be 'reset' or 'graceful', got ${describeValue(value)}`);
  if (value !== 'reset' && value !== 'graceful') throw new RangeError(`close must be 'reset' or 'graceful', got '${value}'`);
  return value;
}

export function checkUnixPath(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`path must be a string, got ${describeValue(value)}`);
  if (value.includes('\0')) throw new TypeError('path must not contain NUL characters');
  if (value.length === 0) throw new RangeError('path must not be empty');
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_UNIX_PATH_BYTES)
    throw new RangeError(`path must be at most ${MAX_UNIX_PATH_BYTES} bytes (the size of sockaddr_un), got ${bytes}`);
  return value;
}

export function checkOptions(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TypeError(`options must be an object, got ${describeValue(value)}`);
  return value;
}

/**
 * True for exactly the strings net.isIP() calls IPv4: four decimal parts of
 * 0-255 without leading zeros, separated by dots. A loop over the characters
 * instead of split() and a regular expression: probe() asks this every call.
 */
function isDottedQuad(host: string): boolean {
  const n = host.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let i = 0;
  for (;;) {
    const start = i;
    let value = 0;
    while (i < n) {
      const c = host.charCodeAt(i);
      if (c < 48 || c > 57) break;
      value = value * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && host.charCodeAt(start) === 48)) return false;
    parts++;
    if (i === n) return parts === 4;
    if (parts === 4 || host.charCodeAt(i) !== 46) return false;
    i++;
  }
}

/** IP literal family of a host string (zone ids allowed), or 0 for a name. */
export function literalFamily(host: string): 0 | 4 | 6 {
  if (isDottedQuad(host)) return 4;
  const [address = '', zone] = host.split('%', 2);
  const family = net.isIP(address);
  if (zone !== undefined && (family !== 6 || zone.length === 0)) return 0;
  return family === 4 || family === 6 ? family : 0;
}
