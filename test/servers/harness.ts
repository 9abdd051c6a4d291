// Real servers for the protocol tests: each is the Debian package's own
// binary, started by the test itself on an ephemeral loopback port in a
// temporary directory, in a process group of its own, and always stopped:
// by the test's afterAll (stopAll), and, should the worker die first, by a
// process 'exit' hook that kills every group still running. Servers that
// refuse to run as root (initdb, postgres, mariadbd) run as nobody when the
// tests run as root, and as the test's own user otherwise.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { onPath, requirement, tool, type Requirement } from '../preconditions';

/** Where Debian puts PostgreSQL 15's server binaries (not on PATH). */
export const PG_BIN_DIRS = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/14/bin'];

/**
 * A server binary on PATH or in one of `dirs` (or in `dirs` first, with
 * `dirsFirst`: PostgreSQL's tools belong together, and a lone initdb
 * elsewhere on PATH has no pg_isready beside it); `pkg` names the Debian
 * package in the message.
 */
export function serverBinary(cmd: string, pkg: string, dirs: readonly string[] = ['/usr/sbin', '/usr/bin'], dirsFirst = false): { requirement: Requirement; path(): string } {
  const inDirs = (): string | undefined => dirs.map((d) => path.join(d, cmd)).find((f) => fs.existsSync(f));
  const find = (): string | undefined => (dirsFirst ? (inDirs() ?? onPath(cmd)) : (onPath(cmd) ?? inDirs()));
  return {
    requirement: requirement(`${cmd} (${pkg})`, () => (find() === undefined ? `not found on PATH nor in ${dirs.join(', ')} (apt-get install ${pkg})` : null)),
    path: () => find() ?? cmd,
  };
}

/** The Python interpreter that can import `module` (the PATH's python3, else Debian's /usr/bin/python3). */
export function pythonWith(module: string, pkg: string): { requirement: Requirement; path(): string } {
  let found: string | null | undefined;
  const find = (): string | null => {
    if (found !== undefined) return found;
    found = null;
    for (const py of [onPath('python3'), '/usr/bin/python3']) {
      if (py === undefined || !fs.existsSync(py)) continue;
      if (spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0) {
        found = py;
        break;
      }
    }
    return found;
  };
  return {
    requirement: requirement(`python3 with ${module} (${pkg})`, () => (find() === null ? `no python3 imports ${module} (apt-get install ${pkg})` : null)),
    path: () => find() ?? 'python3',
  };
}

export { tool };

const dirs = new Set<string>();
let hooked = false;

/** At exit (a worker that dies before afterAll): kill every server group still running, remove every temp dir. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const s of running) killGroup(s.child.pid, 'SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

/** The user a server that refuses root runs as: nobody when we are root, else ourselves. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: 65534, gid: 65534 };
}

/** A temporary directory, owned by `owner` when given (so a server running as nobody can write it). */
export function serverDir(name: string, owner?: { uid: number; gid: number }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sockprobe-${name}-`));
  dirs.add(dir); // removed by stopAll() or at exit, even when a set-up step fails before any server starts
  hookExit();
  fs.chmodSync(dir, 0o700);
  if (owner !== undefined) fs.chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** An ephemeral loopback port, bound then closed (as every test's listener picks one). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once a TCP connect to 127.0.0.1:port succeeds; rejects after `ms`, or at once if `alive()` turns false. */
export async function waitForPort(port: number, ms: number, alive: () => boolean = () => true): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the server exited before listening on ${port}`);
    if (Date.now() > until) throw new Error(`nothing listened on 127.0.0.1:${port} within ${ms} ms`);
    await sleep(50);
  }
}

/** Polls `probe` until it returns true; rejects after `ms` with `what`. */
export async function waitUntil(what: string, ms: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface Server {
  readonly name: string;
  readonly port: number;
  readonly dir: string;
  readonly child: ChildProcess;
  /** What the server wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Stops the server (its whole process group): `signal`, then SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<Server>();

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export interface StartOptions {
  name: string;
  cmd: string;
  args: readonly string[];
  port: number;
  dir: string;
  user?: { uid: number; gid: number } | undefined;
  env?: Record<string, string>;
  /** The signal for a clean, quick stop (postgres: SIGINT, its fast shutdown). */
  stopSignal?: NodeJS.Signals;
  /** Waits until the server is up; default: a TCP connect to `port` succeeds. */
  ready?: (server: Server) => Promise<void>;
  timeoutMs?: number;
  /** Remove `dir` when stopped (default true). */
  removeDir?: boolean;
}

/** Starts a server in its own process group and waits until it is ready; it is stopped by stopAll() or at exit. */
export async function startServer(o: StartOptions): Promise<Server> {
  hookExit();
  const child = spawn(o.cmd, o.args, {
    cwd: o.dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: o.dir, LANG: 'C', LC_ALL: 'C', ...o.env },
    ...(o.user === undefined ? {} : { uid: o.user.uid, gid: o.user.gid }),
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    if (out.length < 64 * 1024) out += chunk.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (error) => {
      out += `\nspawn error: ${error.message}`;
      exited = true;
      resolve();
    });
  });
  let stopping: Promise<void> | undefined;
  const server: Server = {
    name: o.name,
    port: o.port,
    dir: o.dir,
    child,
    output: () => out,
    stop: () => {
      stopping ??= (async () => {
        if (!exited) {
          killGroup(child.pid, o.stopSignal ?? 'SIGTERM');
          const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000);
          await exit;
          clearTimeout(timer);
        }
        // Whatever the leader left behind in its group (postgres backends, say).
        killGroup(child.pid, 'SIGKILL');
        running.delete(server);
        if (o.removeDir !== false) {
          fs.rmSync(o.dir, { recursive: true, force: true });
          dirs.delete(o.dir);
        }
      })();
      return stopping;
    },
  };
  running.add(server);
  try {
    const wait = o.ready ?? ((s: Server) => waitForPort(s.port, o.timeoutMs ?? 20000, () => !exited));
    await wait(server);
  } catch (error) {
    await server.stop();
    throw new Error(`${o.name} did not start: ${error instanceof Error ? error.message : String(error)}\n--- its output ---\n${out.slice(-4000)}`);
  }
  return server;
}

/** Runs a command to completion (an install step: initdb, mariadb-install-db, ssh-keygen); throws with its output on failure. */
export async function run(cmd: string, args: readonly string[], opts: { cwd?: string; user?: { uid: number; gid: number } | undefined; env?: Record<string, string> } = {}): Promise<string> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.cwd ?? os.tmpdir(), LANG: 'C', LC_ALL: 'C', ...opts.env },
    ...(opts.user === undefined ? {} : { uid: opts.user.uid, gid: opts.user.gid }),
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (e) => resolve(e.message));
    child.once('close', (status, signal) => resolve(status ?? signal ?? 'unknown'));
  });
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(code)}):\n${out.slice(-4000)}`);
  return out;
}

/** Stops every server still running (the tests' afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/** Writes `content` to `dir/name`, owned by `owner` when given, and returns its path. */
export function writeOwned(dir: string, name: string, content: string, owner?: { uid: number; gid: number }, mode = 0o600): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode });
  if (owner !== undefined) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}

/** A loopback port nothing listens on (bound, then closed: a connect to it is refused). */
export const closedPortNumber = freePort;
