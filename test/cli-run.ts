// Runs the real `sockprobe` command (bin/sockprobe, on the compiled lib/) as a
// child process, for the CLI and explain suites.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const BIN = path.join(__dirname, '..', 'bin', 'sockprobe');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Command and arguments put in front, e.g. ['ip', 'netns', 'exec', NAME]. */
  prefix?: string[];
  /** Called once the child has started. */
  started?: (child: ChildProcess) => void;
}

/** The environment without NO_COLOR, so each test says what it wants. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('NO_COLOR' in extra)) delete env.NO_COLOR;
  return env;
}

function run(argv: readonly string[], options: RunOptions): Promise<Run> {
  const [command = process.execPath, ...rest] = argv;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, rest, { env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('spawn', () => options.started?.(child));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

export function sockprobe(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  return run([...(options.prefix ?? []), process.execPath, BIN, ...args], options);
}

/** The same command on a pseudo-terminal (util-linux `script`): stdout and stderr are one TTY. */
export function sockprobeOnTty(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return run(['script', '-qefc', quoted, '/dev/null'], { env });
}
