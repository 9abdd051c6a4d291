// Target strings as people type them: `host:port`, `[v6addr]:port`,
// `unix:/path`. Parsed into the ProbeTarget that probe() takes, so every
// feature that accepts a target on a command line or in a config reads it
// the same way.
import * as net from 'node:net';
import { describeValue } from './describe-value';
import type { ProbeTarget } from './probe';
import { checkHost, checkPort, checkUnixPath, isObject } from './validate';

const UNIX_PREFIX = 'unix:';

function parsePort(text: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new RangeError(`target '${whole}': port must be a number from 1 to 65535, got '${text}'`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new RangeError(`target '${whole}': port must be from 1 to 65535, got ${port}`);
  return port;
}

/**
 * Parses `host:port`, `[v6addr]:port` (zone ids allowed: `[fe80::1%eth0]:22`)
 * or `unix:/path/to.sock`. Throws a TypeError for a non-string and a
 * RangeError, naming the target, for anything malformed.
 */
export function parseTarget(text: string): ProbeTarget {
  if (typeof text !== 'string') throw new TypeError(`target must be a string, got ${describeValue(text)}`);
  if (text.startsWith(UNIX_PREFIX)) {
    const path = text.slice(UNIX_PREFIX.length);
    if (path.length === 0) throw new RangeError(`target '${text}': unix: needs a socket path, e.g. unix:/run/app.sock`);
    return { path: checkUnixPath(path) };
  }
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new RangeError(`target '${text}': missing ']' after the IPv6 address`);
    const host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':')) throw new RangeError(`target '${text}': expected ':port' after ']'`);
    const [address = ''] = host.split('%', 1);
    if (!net.isIPv6(address)) throw new RangeError(`target '${text}': '${host}' is not an IPv6 address`);
    return { host: checkHost(host), port: parsePort(rest.slice(1), text) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new RangeError(`target '${text}': expected host:port, [v6addr]:port or unix:/path`);
  const host = text.slice(0, colon);
  if (host.includes(':'))
    throw new RangeError(`target '${text}': put an IPv6 address in brackets, e.g. [${host}]:${text.slice(colon + 1)}`);
  if (host.length === 0) throw new RangeError(`target '${text}': the host is empty`);
  return { host: checkHost(host), port: parsePort(text.slice(colon + 1), text) };
}

/**
 * The inverse of parseTarget: `host:port`, `[v6]:port` or `unix:/path`.
 * Checks the target as probe() does (TypeError, RangeError) rather than
 * formatting 'undefined:undefined' or doubling brackets.
 */
export function formatTarget(target: ProbeTarget): string {
  if (!isObject(target)) throw new TypeError('target must be an object { host, port } or { path }');
  if ('path' in target) {
    if ('host' in target || 'port' in target) throw new TypeError('target must have either path or host and port, not both');
    return `${UNIX_PREFIX}${checkUnixPath(target.path)}`;
  }
  return `${formatHost(checkHost(target.host))}:${checkPort(target.port)}`;
}

/** An IPv6 literal in brackets, anything else as is. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
