// The command line of `sockprobe [options] TARGET...` and `sockprobe explain
// [options] TARGET`: one option table for both, so an option means the same
// to each (scan has its own, in scan.ts).
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
}

export type Parsed = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; settings: Settings };

function checkFamily(target: ProbeTarget, family: 0 | 4 | 6): void {
  if (family === 0) return;
  if ('path' in target) throw new UsageError(`-${family} does not apply to a Unix socket (${formatTarget(target)})`);
  const literal = literalFamily(target.host);
  if (literal !== 0 && literal !== family)
    throw new UsageError(`${formatTarget(target)} is an IPv${literal} address but -${family} asks for IPv${family} only`);
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  const { values, positionals } = parseOptions(argv, {
    ...COMMON_OPTIONS,
    wait: { type: 'boolean', short: 'w' },
    version: { type: 'boolean', short: 'V' },
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
  const timeout =
    values.timeout === undefined ? (wait ? DEFAULT_WAIT_TIMEOUT_MS : DEFAULT_TIMEOUT_MS) : parseTimeout(values.timeout);
  return {
    kind: 'run',
    settings: { command, targets, timeout, family, json: values.json === true, quiet: values.quiet === true, wait },
  };
}
