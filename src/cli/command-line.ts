// The command line of `sockprobe [options] TARGET...` and `sockprobe explain
// [options] TARGET`: one option table for both, so an option means the same
// to each (scan has its own, in scan.ts).
import * as fs from 'node:fs';
import { checkPlan, type CheckSpec } from '../checks/index';
import type { ProbeTarget } from '../probe';
import { formatTarget, parseTarget } from '../target';
import { literalFamily } from '../validate';
import { COMMON_OPTIONS, familyFlag, parseOptions, parseTimeout, UsageError } from './options';

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;

export interface Settings {
  command: 'probe' | 'explain';
  targets: ProbeTarget[];
  timeout: number;
  family: 0 | 4 | 6;
  json: boolean;
  quiet: boolean;
  wait: boolean;
  /** explain: run the trace step where it applies (--no-trace: false). */
  trace: boolean;
}

export type Parsed = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; settings: Settings };

function checkFamily(target: ProbeTarget, family: 0 | 4 | 6): void {
  if (family === 0) return;
  if ('path' in target) throw new UsageError(`-${family} does not apply to a Unix socket (${formatTarget(target)})`);
  const literal = literalFamily(target.host);
  if (literal !== 0 && literal !== family)
    throw new UsageError(`${formatTarget(target)} is an IPv${literal} address but -${family} asks for IPv${family} only`);
}

/** TLS options for targets whose check speaks TLS (tls://, https://, rediss://, postgres://...?sslmode=require). */
export const TLS_OPTIONS = {
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  servername: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
} as const;

function readPem(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** The TLS options of the command line, or undefined when none was given. */
function tlsFlags(values: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined; servername?: string | undefined; insecure?: boolean | undefined }): Record<string, unknown> | undefined {
  const o: Record<string, unknown> = {};
  if (values.ca !== undefined) o.ca = readPem(values.ca, 'ca');
  if (values.cert !== undefined) o.cert = readPem(values.cert, 'cert');
  if (values.key !== undefined) o.key = readPem(values.key, 'key');
  if (values.servername !== undefined) o.servername = values.servername;
  if (values.insecure === true) o.insecure = true;
  return Object.keys(o).length === 0 ? undefined : o;
}

/** A target's check with the command line's TLS options added where the check speaks TLS; checked as probe() would (UsageError). */
function withTls(target: ProbeTarget, tls: Record<string, unknown> | undefined): { target: ProbeTarget; usesTls: boolean } {
  const check = target.check as Record<string, Record<string, unknown>> | undefined;
  if (check === undefined) return { target, usesTls: false };
  const name = Object.keys(check)[0] as string;
  const options = check[name] ?? {};
  let next: Record<string, unknown> = options;
  let usesTls = false;
  if (name === 'tls') {
    usesTls = true;
    next = { ...options, ...tls };
  } else if (name === 'https' || (options.tls !== undefined && options.tls !== false) || options.starttls === true) {
    usesTls = true;
    next = { ...options, tls: { ...(typeof options.tls === 'object' ? options.tls : {}), ...tls } };
  }
  const t = { ...target, check: { [name]: next } as CheckSpec };
  try {
    checkPlan(t.check, formatTarget(target));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return { target: t, usesTls };
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  const { values, positionals } = parseOptions(argv, {
    ...COMMON_OPTIONS,
    wait: { type: 'boolean', short: 'w' },
    version: { type: 'boolean', short: 'V' },
    'no-trace': { type: 'boolean' },
    ...TLS_OPTIONS,
  });
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const family = familyFlag(values);
  const command = positionals[0] === 'explain' ? 'explain' : 'probe';
  const words = command === 'explain' ? positionals.slice(1) : positionals;
  if (words.length === 0) throw new UsageError(command === 'explain' ? 'explain needs a TARGET' : 'no TARGET given');
  if (command === 'explain' && words.length > 1) throw new UsageError(`explain takes one TARGET, got ${words.length}`);
  const wait = values.wait === true;
  if (command === 'explain' && wait) throw new UsageError('--wait does not apply to explain');
  const noTrace = values['no-trace'] === true;
  if (command !== 'explain' && noTrace) throw new UsageError('--no-trace applies to explain only');
  const targets = words.map((word) => {
    let target: ProbeTarget;
    try {
      target = parseTarget(word);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    checkFamily(target, family);
    return target;
  });
  const tls = tlsFlags(values);
  let anyTls = false;
  for (let i = 0; i < targets.length; i++) {
    const w = withTls(targets[i] as ProbeTarget, tls);
    targets[i] = w.target;
    anyTls ||= w.usesTls;
  }
  if (tls !== undefined && !anyTls) throw new UsageError('--ca, --cert, --key, --servername and --insecure apply to TLS targets (tls://, https://...), and none was given');
  const timeout =
    values.timeout === undefined ? (wait ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS) : parseTimeout(values.timeout);
  return {
    kind: 'run',
    settings: { command, targets, timeout, family, json: values.json === true, quiet: values.quiet === true, wait, trace: !noTrace },
  };
}
