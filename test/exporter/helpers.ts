// Helpers for the exporter suites: the real `sockprobe exporter` command
// (bin/sockprobe on the compiled lib/) started in a temporary directory on an
// ephemeral loopback port, HTTP requests with headers, and promtool.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { BIN } from '../cli-run';
import { tmpDir } from '../tmpdirs';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request on a connection of its own (no keep-alive pool left behind). */
export function get(port: number, pathAndQuery: string, { method = 'GET', headers = {}, host = '127.0.0.1' }: { method?: string; headers?: Record<string, string>; host?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: pathAndQuery, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A temporary directory made on first use, so that a file whose tests are all skipped (jest then
 * runs none of its hooks, test/cleanup.ts's included) leaves nothing behind.
 */
export function tempDir(prefix = 'sockprobe-exporter-'): { readonly dir: string; file(name: string, text: string): string; remove(): void } {
  let made: string | undefined;
  const dir = (): string => (made ??= tmpDir(prefix));
  return {
    get dir() {
      return dir();
    },
    file: (name, text) => {
      const f = path.join(dir(), name);
      fs.writeFileSync(f, text);
      return f;
    },
    remove: () => {
      if (made !== undefined) fs.rmSync(made, { recursive: true, force: true });
    },
  };
}

export interface Running {
  port: number;
  child: ChildProcess;
  /** Everything the exporter wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 5 s); safe to call twice. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every exporter (or other child) a test started and did not stop: for afterAll. */
export function killAll(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/**
 * Starts a child that says on stderr (or stdout) that it is ready: by default
 * `Listening on ... address=HOST:PORT`, the port read from it; with another
 * `pattern` without a group, `port` is the one it was given.
 */
export async function startListening(cmd: string, args: string[], pattern = /msg="Listening on" address=\S*:(\d+)/, port0 = 0): Promise<Running> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      err += d.toString();
      const m = pattern.exec(err);
      if (m !== null) resolve(m[1] === undefined ? port0 : Number(m[1]));
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${String(code)}) before listening:\n${err}`)));
    child.once('error', reject);
  });
  return {
    port,
    child,
    stderr: () => err,
    stop: async () => {
      running.delete(child);
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code] = (await exited) as [number | null];
      clearTimeout(t);
      return code;
    },
  };
}

/** `sockprobe exporter --config.file FILE --web.listen-address 127.0.0.1:0 ...extra`, optionally behind a prefix (ip netns exec NS). */
export function startExporter(configFile: string, extra: string[] = [], prefix: string[] = []): Promise<Running> {
  const argv = [...prefix, process.execPath, BIN, 'exporter', '--config.file', configFile, '--web.listen-address', '127.0.0.1:0', ...extra];
  const [cmd = process.execPath, ...args] = argv;
  return startListening(cmd, args);
}

/** `promtool check metrics` on `text`: null when it accepts it, else what it said. */
export function promtoolCheck(text: string): string | null {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : `promtool exited ${String(r.status)}: ${r.stdout}${r.stderr}`;
}

/** A free TCP port on 127.0.0.1 (bound and released at once). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** GETs each request from inside network namespace `ns` (a node child there), all at once; the answers in order. */
export async function getInNamespace(ns: string, requests: ReadonlyArray<{ url: string; headers?: Record<string, string> }>): Promise<Answer[]> {
  const script = `
const http = require('node:http');
const reqs = JSON.parse(process.argv[1]);
Promise.all(reqs.map((r) => new Promise((resolve) => {
  const q = http.get(r.url, { headers: r.headers || {}, agent: false }, (res) => {
    let body = ''; res.setEncoding('utf8'); res.on('data', (d) => (body += d));
    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
  });
  q.on('error', (e) => resolve({ status: 0, headers: {}, body: String(e) }));
}))).then((a) => process.stdout.write(JSON.stringify(a)));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, JSON.stringify(requests)], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  running.delete(child);
  if (code !== 0) throw new Error(`GET in ${ns} failed (${String(code)}): ${err}`);
  return JSON.parse(out) as Answer[];
}

/** A listener on 127.0.0.1 that keeps every connection open until the peer ends it: how many came, how many are still open. */
export async function holdingListener(): Promise<{ port: number; accepted(): number; open(): number; close(): Promise<void> }> {
  let accepted = 0;
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    accepted++;
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    open: () => held.size,
    close: () => {
      for (const s of held) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
