// Real listeners and sockets for the tests: nothing here mocks a syscall.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { engine, type EngineFact } from '../src/engine';
import { tmpDir } from './tmpdirs';

export { tmpDir };

/** A listener that accepts and closes at once (what a healthy port looks like to a prober). */
export async function openListener(host = '127.0.0.1'): Promise<{ port: number; server: net.Server; close(): Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return { port, server, close: () => new Promise((r) => server.close(() => r())) };
}

/** A port on 127.0.0.1 that nothing listens on (bound then closed: the kernel answers RST). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const l = await openListener(host);
  await l.close();
  return l.port;
}

/**
 * A silent port: a listener that never accepts, whose accept queue is then
 * filled, so the kernel drops further SYNs. Python's plain socket API is
 * used because Node's net.Server always accepts.
 */
export async function silentPort(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn(
    'python3',
    [
      '-c',
      'import socket,sys\n' +
        's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)\n' +
        'print(s.getsockname()[1], flush=True)\n' +
        'sys.stdin.read()\n',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // Fill the accept queue: with backlog 0 Linux queues one connection; a
  // couple more make sure every later SYN is dropped.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      await stop(child);
    },
  };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.stdin?.end();
  child.kill();
  await once(child, 'exit');
}

export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * fdCount() once it has stopped changing (the same for 100 ms, 2 s at most):
 * a baseline. Jest runs several files in one worker, and what an earlier file
 * left to close (its sockets, its children's pipes) may still be closing when
 * the next file starts counting.
 */
export async function stableFdCount(): Promise<number> {
  const deadline = Date.now() + 2000;
  let last = fdCount();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = fdCount();
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}

/**
 * fdCount() once it equals `expected`, or after `ms` whatever it is then.
 * Node closes a destroyed socket's handle on a later turn of its loop (and a
 * terminated worker's own handles a moment after terminate() resolves); under
 * a loaded machine that can take longer than a fixed pause. The caller still
 * asserts the count.
 */
export async function fdCountSettled(expected: number, ms = 5000): Promise<number> {
  const deadline = Date.now() + ms;
  while (fdCount() !== expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return fdCount();
}


export const libDir = path.join(__dirname, '..', 'lib');

/**
 * The command that runs `command` with `hostsFile` mounted over /etc/hosts in
 * a private mount namespace (unshare -m as root, unshare -r -m otherwise).
 */
export function unshareHostsArgs(hostsFile: string, command: string[]): string[] {
  const isRoot = process.getuid?.() === 0;
  return ['unshare', ...(isRoot ? ['-m'] : ['-r', '-m']), 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', hostsFile, ...command];
}

/**
 * Runs `node -e script` with `hosts` mounted over /etc/hosts in a private
 * mount namespace, so a name can resolve to several loopback addresses without
 * touching the machine's resolver. Gate the test on preconditions.privateHosts:
 * this throws when the namespace cannot be made.
 */
export async function runWithHosts(hosts: string, script: string): Promise<string> {
  const dir = tmpDir();
  const hostsFile = path.join(dir, 'hosts');
  const scriptFile = path.join(dir, 'script.js');
  fs.writeFileSync(hostsFile, hosts);
  fs.writeFileSync(scriptFile, script);
  const [cmd, ...args] = unshareHostsArgs(hostsFile, [process.execPath, scriptFile]);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  fs.rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(code)}): ${err}`);
  return out;
}

/**
 * True when the engine this suite runs on (SOCKPROBE_ENGINE) puts `fact` in
 * its results: for a test that asserts the fact where it is known and its
 * absence (never a 0) where it is not. A test about the fact itself is gated
 * with needs(engineCan(fact)) in preconditions.ts instead.
 */
export function reports(fact: EngineFact): boolean {
  return engine().facts.includes(fact);
}
