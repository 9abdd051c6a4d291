// The checks a probe can carry, by name: tls, http, https (built here), and
// the protocol modules (src/checks/<protocol>.ts) registered below. A check
// is asked for as an object with one key, its name, whose value holds its
// options: { tls: { ca } }, { https: { path: '/healthz', tls: { ca } } },
// { redis: {} }, { postgres: { tls: {} } } (sslmode: SSLRequest, then TLS),
// { smtp: { starttls: true } }, { 'send-expect': { steps: [{ send, expect }] } }. URL targets (src/target.ts) name a check by
// their scheme. checkPlan() validates such an object into a plan the runner
// (src/checks/runner.ts) executes: [STARTTLS prelude] -> [TLS] -> [HTTP or protocol].
import type * as net from 'node:net';
import { describeValue } from '../describe-value';
import { isObject } from '../validate';
import { httpSettings, type HttpCheckOptions, type HttpSettings } from './http';
import { protocolModules, starttlsPreludes } from './modules';
import { sendExpect, sendExpectPrelude, splitAtStartTls, validateSteps, type Step } from './send-expect';
import type { ProtocolCheck } from './protocol';
import type { TlsPrelude } from './exchange';
import { tlsSettings, type TlsCheckOptions, type TlsSettings } from './tls';

/** A protocol's way into TLS on a plain connection (SMTP STARTTLS, Postgres SSLRequest): the socket ready for a handshake, or the service's verdict. */
export type Prelude = (socket: net.Socket, signal: AbortSignal) => Promise<TlsPrelude>;

/** The protocol modules (src/checks/modules.ts), by name. */
export const protocols: ReadonlyMap<string, ProtocolCheck> = new Map([...protocolModules, sendExpect].map((m) => [m.name, m]));

/** STARTTLS preludes, by protocol name. */
export const preludes: ReadonlyMap<string, Prelude> = new Map(Object.entries(starttlsPreludes));

/** Options of a protocol check; `tls` asks for TLS (through the protocol's STARTTLS where it has one). */
export type ProtocolCheckOptions = Readonly<Record<string, unknown>> & { tls?: TlsCheckOptions | boolean; starttls?: boolean };

export interface HttpsCheckOptions extends HttpCheckOptions {
  tls?: TlsCheckOptions;
}

/** The checks and their options. */
export interface CheckOptionsMap {
  tls: TlsCheckOptions;
  http: HttpCheckOptions;
  https: HttpsCheckOptions;
  postgres: ProtocolCheckOptions;
  redis: ProtocolCheckOptions;
  mysql: ProtocolCheckOptions;
  amqp: ProtocolCheckOptions;
  mqtt: ProtocolCheckOptions;
  nats: ProtocolCheckOptions;
  smtp: ProtocolCheckOptions;
  ftp: ProtocolCheckOptions;
  ssh: ProtocolCheckOptions;
  /** A generic exchange: each step sends, then waits for a line (or bytes) that matches; a starttls step upgrades to TLS with `tls`. */
  'send-expect': { steps: readonly Step[]; tls?: TlsCheckOptions };
}

/** A check: an object with exactly one key, the check's name, e.g. `{ tls: { ca } }`. */
export type CheckSpec = { [K in keyof CheckOptionsMap]: { [P in K]: CheckOptionsMap[P] } }[keyof CheckOptionsMap];

/** What the runner executes, validated. */
export interface CheckPlan {
  /** The name results carry: 'tls', 'https', 'redis', 'postgres+tls', 'smtp+starttls'. */
  name: string;
  prelude: Prelude | undefined;
  tls: TlsSettings | undefined;
  http: HttpSettings | undefined;
  protocol: ProtocolCheck | undefined;
  options: Readonly<Record<string, unknown>>;
  /** The scheme's default port (the Host header leaves it out). */
  defaultPort: number;
}

/** Names a check can have besides the protocol modules'. */
const BUILT_IN = ['tls', 'http', 'https'] as const;

/** Every check name this build knows. */
export function checkNames(): string[] {
  return [...BUILT_IN, ...protocols.keys()];
}

/** Validates a check (TypeError for a wrong type, RangeError for an unknown check or bad option). */
export function checkPlan(value: unknown, where = 'check'): CheckPlan {
  if (!isObject(value)) throw new TypeError(`${where} must be an object such as { tls: {} }, got ${describeValue(value)}`);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw new RangeError(`${where} must have exactly one key, the check's name (${checkNames().join(', ')}), got ${keys.length}`);
  const name = keys[0] as string;
  const opts = value[name] === true ? {} : value[name];
  switch (name) {
    case 'tls':
      return { name, prelude: undefined, tls: tlsSettings(opts, `${where}.tls`), http: undefined, protocol: undefined, options: {}, defaultPort: 443 };
    case 'http':
      return { name, prelude: undefined, tls: undefined, http: httpSettings(opts, `${where}.http`), protocol: undefined, options: {}, defaultPort: 80 };
    case 'https': {
      if (opts !== undefined && !isObject(opts)) throw new TypeError(`${where}.https must be an object, got ${describeValue(opts)}`);
      const { tls, ...rest } = opts ?? {};
      return { name, prelude: undefined, tls: tlsSettings(tls, `${where}.https.tls`), http: httpSettings(rest, `${where}.https`), protocol: undefined, options: {}, defaultPort: 443 };
    }
    default:
      return protocolPlan(name, opts, `${where}.${name}`);
  }
}

function protocolPlan(name: string, opts: unknown, where: string): CheckPlan {
  const protocol = protocols.get(name);
  if (protocol === undefined) throw new RangeError(`${where}: no check named '${name}' (known: ${checkNames().join(', ')})`);
  if (opts !== undefined && !isObject(opts)) throw new TypeError(`${where} must be an object, got ${describeValue(opts)}`);
  const { tls, starttls, ...options } = opts ?? {};
  // Checked now, so bad steps are a TypeError/RangeError of probe() itself.
  if (name === 'send-expect') {
    const { before, after } = splitAtStartTls(validateSteps(options.steps));
    if (before !== undefined) return sendExpectStartTls(before, after, tls, options, where);
  }
  if (starttls !== undefined && typeof starttls !== 'boolean') throw new TypeError(`${where}.starttls must be a boolean, got ${describeValue(starttls)}`);
  const wantsTls = (tls !== undefined && tls !== false) || starttls === true;
  let prelude: Prelude | undefined;
  if (wantsTls) {
    prelude = preludes.get(name);
    if (prelude === undefined && starttls === true) throw new RangeError(`${where}: ${name} has no STARTTLS here`);
  }
  // SMTP's STARTTLS ends the check (the session after it is a new one); Postgres goes on with its startup over TLS.
  const afterTls = name === 'smtp' && wantsTls ? undefined : protocol;
  return {
    name: wantsTls ? `${name}+${prelude !== undefined ? (name === 'postgres' ? 'tls' : 'starttls') : 'tls'}` : name,
    prelude,
    tls: wantsTls ? tlsSettings(tls === true || tls === undefined ? {} : tls, `${where}.tls`) : undefined,
    http: undefined,
    protocol: afterTls,
    options,
    defaultPort: protocol.defaultPort,
  };
}

/** send-expect with a starttls step: its plain steps as the prelude, the TLS handshake (`tls` options), the rest over TLS. */
function sendExpectStartTls(before: readonly Step[], after: readonly Step[], tls: unknown, options: Readonly<Record<string, unknown>>, where: string): CheckPlan {
  if (tls === false) throw new RangeError(`${where}: a starttls step needs TLS (tls: false was given)`);
  return {
    name: 'send-expect+starttls',
    prelude: sendExpectPrelude(before),
    tls: tlsSettings(tls === true || tls === undefined ? {} : tls, `${where}.tls`),
    http: undefined,
    protocol: after.length === 0 ? undefined : sendExpect,
    options: { ...options, steps: after, first: before.length },
    defaultPort: 0,
  };
}
