// Command-line plumbing every command shares: strict option parsing whose
// errors are usage errors (exit 2), -4 / -6 and --timeout.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_TIMEOUT_MS } from '../validate';

/** A wrong command line: main() prints it with a hint to --help and exits 2. */
export class UsageError extends Error {}

/** The options every command takes: -t, -4, -6, --json, --quiet, --help. */
export const COMMON_OPTIONS = {
  timeout: { type: 'string', short: 't' },
  ipv4: { type: 'boolean', short: '4' },
  ipv6: { type: 'boolean', short: '6' },
  json: { type: 'boolean', short: 'j' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** util.parseArgs, strict and with positionals, its errors turned into UsageError (exit 2). */
export function parseOptions<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; strict: true; options: O }>> {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The address family -4 / -6 ask for (0: both); UsageError for both at once. */
export function familyFlag(values: { ipv4?: boolean | undefined; ipv6?: boolean | undefined }): 0 | 4 | 6 {
  if (values.ipv4 === true && values.ipv6 === true) throw new UsageError('-4 and -6 exclude each other');
  return values.ipv4 === true ? 4 : values.ipv6 === true ? 6 : 0;
}

export function parseTimeout(text: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw new UsageError(`--timeout takes a number of milliseconds, got '${text}'`);
  const value = Number(text);
  if (value <= 0 || value > MAX_TIMEOUT_MS) throw new UsageError(`--timeout must be above 0 and at most ${MAX_TIMEOUT_MS} ms, got ${text}`);
  return value;
}
