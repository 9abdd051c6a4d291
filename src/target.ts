// Target strings as people type them: `host:port`, `[v6addr]:port`,
// `unix:/path`, and URLs whose scheme names a check: `tls://h:443`,
// `https://h/healthz`, `redis://h`, `postgres://user@h/db?sslmode=require`...
// Parsed into the ProbeTarget that probe() takes (a URL's check rides on it
// as `check`), so every feature that accepts a target on a command line or in
// a config reads it the same way.
import * as net from 'node:net';
import { describeValue } from './describe-value';
import type { CheckSpec } from './checks/index';
import type { ProbeTarget } from './probe';
import { checkHost, checkPort, checkUnixPath, isObject } from './validate';

const UNIX_PREFIX = 'unix:';

function parsePort(text: string, whole: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new RangeError(`target '${whole}': port must be a number from 1 to 65535, got '${text}'`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new RangeError(`target '${whole}': port must be from 1 to 65535, got ${port}`);
  return port;
}

/** URL schemes that name a check, with their default ports. */
export const SCHEMES: Readonly<Record<string, { port: number; check: string; tls?: boolean }>> = {
  tls: { port: 443, check: 'tls' },
  https: { port: 443, check: 'https' },
  http: { port: 80, check: 'http' },
  postgres: { port: 5432, check: 'postgres' },
  postgresql: { port: 5432, check: 'postgres' },
  redis: { port: 6379, check: 'redis' },
  rediss: { port: 6379, check: 'redis', tls: true },
  mysql: { port: 3306, check: 'mysql' },
  mariadb: { port: 3306, check: 'mysql' },
  amqp: { port: 5672, check: 'amqp' },
  amqps: { port: 5671, check: 'amqp', tls: true },
  mqtt: { port: 1883, check: 'mqtt' },
  mqtts: { port: 8883, check: 'mqtt', tls: true },
  nats: { port: 4222, check: 'nats' },
  smtp: { port: 25, check: 'smtp' },
  ftp: { port: 21, check: 'ftp' },
  ssh: { port: 22, check: 'ssh' },
};

const URL_FORM = /^([a-z][a-z0-9+.-]*):\/\//i;

/** A URL target: host and port (the scheme's default when absent), and the scheme's check with the URL's options. */
function parseUrlTarget(text: string, scheme: string): ProbeTarget {
  const entry = SCHEMES[scheme.toLowerCase()];
  if (entry === undefined)
    throw new RangeError(`target '${text}': unknown scheme '${scheme}' (known: ${Object.keys(SCHEMES).join(', ')}, or host:port)`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError(`target '${text}': not a valid URL`);
  }
  const bracketed = url.hostname.startsWith('[');
  const host = bracketed ? url.hostname.slice(1, -1) : url.hostname;
  if (host.length === 0) throw new RangeError(`target '${text}': the host is empty`);
  const port = url.port === '' ? entry.port : parsePort(url.port, text);
  const name = entry.check;
  const query = url.searchParams;
  let check: CheckSpec;
  if (name === 'tls') check = { tls: {} };
  else if (name === 'http' || name === 'https') {
    const path = `${url.pathname === '' ? '/' : url.pathname}${url.search}`;
    check = name === 'http' ? { http: { path } } : { https: { path } };
  } else {
    const options: Record<string, unknown> = {};
    if (url.username !== '') options.user = decodeURIComponent(url.username);
    if (url.password !== '') options.password = decodeURIComponent(url.password);
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (database !== '' && name === 'postgres') options.database = database;
    const sslmode = query.get('sslmode');
    if (entry.tls === true || (sslmode !== null && sslmode !== 'disable' && sslmode !== 'allow' && sslmode !== 'prefer')) options.tls = {};
    if (name === 'smtp' && (query.has('starttls') || query.get('tls') === 'starttls')) options.starttls = true;
    check = { [name]: options } as CheckSpec;
  }
  return { host: checkHost(host), port, check };
}

/**
 * Parses `host:port`, `[v6addr]:port` (zone ids allowed: `[fe80::1%eth0]:22`)
 * or `unix:/path/to.sock`. Throws a TypeError for a non-string and a
 * RangeError, naming the target, for anything malformed.
 */
export function parseTarget(text: string): ProbeTarget {
  if (typeof text !== 'string') throw new TypeError(`target must be a string, got ${describeValue(text)}`);
  const scheme = URL_FORM.exec(text);
  if (scheme !== null) return parseUrlTarget(text, scheme[1] as string);
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
 * The inverse of parseTarget: `host:port`, `[v6]:port` or `unix:/path`;
 * a target with a check is `scheme://host:port` (its path and options are left out).
 * Checks the target as probe() does (TypeError, RangeError) rather than
 * formatting 'undefined:undefined' or doubling brackets.
 */
export function formatTarget(target: ProbeTarget): string {
  if (!isObject(target)) throw new TypeError('target must be an object { host, port } or { path }');
  if ('path' in target) {
    if ('host' in target || 'port' in target) throw new TypeError('target must have either path or host and port, not both');
    return `${UNIX_PREFIX}${checkUnixPath(target.path)}`;
  }
  const base = `${formatHost(checkHost(target.host))}:${checkPort(target.port)}`;
  const check = (target as { check?: unknown }).check;
  return isObject(check) && Object.keys(check).length === 1 ? `${checkScheme(check)}://${base}` : base;
}

/** The URL scheme that names a check: 'tls', 'https', 'redis', 'postgres'... */
function checkScheme(check: Record<string, unknown>): string {
  const name = Object.keys(check)[0] as string;
  const options = check[name];
  const tls = isObject(options) && options.tls !== undefined && options.tls !== false;
  if (name === 'redis' && tls) return 'rediss';
  if (name === 'amqp' && tls) return 'amqps';
  if (name === 'mqtt' && tls) return 'mqtts';
  return name;
}

/** An IPv6 literal in brackets, anything else as is. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
