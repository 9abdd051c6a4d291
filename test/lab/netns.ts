// The network lab: three namespaces (client, router, server) joined by veth
// pairs, addresses from 198.18.0.0/15 and 2001:db8::/32 that exist only inside
// them. Nothing here sends a packet from the machine's own namespace.
//
//   client  c0 198.18.1.2, .3  2001:db8:1::2   (routes 198.18.0.0/16 and 2001:db8::/40 via router)
//   router  r0 198.18.1.1      2001:db8:1::1   forwarding on
//           r1 198.18.2.1      2001:db8:2::1
//   server  s0 198.18.2.2      2001:db8:2::2
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProbeOptions, ProbeResult, TraceResult } from '../../src';
import { needs, nftInNetns, sysctl, type Requirement } from '../preconditions';

export const ADDR = {
  client: '198.18.1.2',
  client2: '198.18.1.3',
  routerClientSide: '198.18.1.1',
  routerServerSide: '198.18.2.1',
  server: '198.18.2.2',
  /** On the client's link, owned by nobody: ARP gets no answer. */
  absentNeighbour: '198.18.1.99',
  /** Outside every route the client has. */
  noRoute: '198.19.0.1',
  /** Covered by client routes of type prohibit, unreachable and blackhole. */
  prohibitRoute: '198.18.50.1',
  unreachableRoute: '198.18.51.1',
  blackholeRoute: '198.18.52.1',
  client6: '2001:db8:1::2',
  routerClientSide6: '2001:db8:1::1',
  routerServerSide6: '2001:db8:2::1',
  server6: '2001:db8:2::2',
  absentNeighbour6: '2001:db8:1::99',
  noRoute6: '2001:db8:ff00::1',
} as const;

const labDir = __dirname;
const libDir = path.join(__dirname, '..', '..', 'lib');

function tryExec(cmd: string, args: string[]): string | null {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
    return null;
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    return (e.stderr?.toString().trim() || e.message).split('\n')[0] ?? 'failed';
  }
}

/** What the lab needs: root, ip, a namespace it may create, nft working in it, sysctl. */
const labNeeds = [nftInNetns, sysctl] as const;

/**
 * describe() when the lab can run; otherwise a loud skip, or with
 * SOCKPROBE_LAB=required a failing test (test/preconditions.ts). `more`: what else the
 * tests need, such as an engine fact (engineCan()).
 */
export function describeLab(title: string, body: () => void, ...more: Requirement[]): void {
  needs(...labNeeds, ...more).describe(title, body);
}

// Child processes this module started, killed at teardown.
const children = new Set<ChildProcess>();

/** Kills whatever still runs inside the namespaces, then deletes them. */
function removeNamespaces(names: readonly string[]): void {
  for (const ns of names) {
    let pids = '';
    try {
      pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch {
      // no such namespace
    }
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    tryExec('ip', ['netns', 'del', ns]);
  }
}

/**
 * A detached watchdog that deletes the namespaces (and kills what runs in
 * them) once this process is gone, however it ended: jest runs tests with a
 * copy of `process`, so exit and signal handlers registered here would never
 * fire, and SIGKILL runs no handler at all.
 */
function startReaper(names: readonly string[]): ChildProcess {
  const script =
    'while kill -0 "$0" 2>/dev/null; do sleep 1; done; ' +
    'for ns in "$@"; do for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p"; done; ip netns del "$ns" 2>/dev/null; rm -rf "/etc/netns/$ns"; done';
  const reaper = spawn('sh', ['-c', script, String(process.pid), ...names], { detached: true, stdio: 'ignore' });
  reaper.unref();
  return reaper;
}

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** Starts a listener inside a namespace; resolves once it printed 'ready'. */
async function startChild(ns: string, cmd: string, args: string[]): Promise<Listener> {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`listener exited (${String(code)}): ${err}`)));
  });
  return {
    close: async () => {
      children.delete(child);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Listener {
  close(): Promise<void>;
}

export interface ProbeSpec {
  target: [string, number] | { path: string };
  options?: ProbeOptions;
}

export interface HoldSpec {
  host: string;
  port: number;
  count: number;
  localAddress?: string;
  waitMs?: number;
}

/**
 * What every lab shares: namespaces it creates (each with lo up and no IPv6
 * duplicate address detection, so addresses are usable at once), a reaper
 * that deletes them if this process dies, and commands run inside them.
 */
abstract class Namespaces {
  private reaper: ChildProcess | undefined;

  /** Every namespace of the lab, in the order they are created. */
  protected abstract get namespaces(): readonly string[];
  /** The namespace listeners run in, and their default address. */
  abstract readonly server: string;
  protected abstract get serverAddress(): string;

  /** A Node listener in the server namespace (see server.js for the modes). */
  listen(mode: 'accept' | 'reset' | 'close' | 'greet', port: number, host: string = this.serverAddress): Promise<Listener> {
    return startChild(this.server, process.execPath, [path.join(labDir, 'server.js'), mode, host, String(port)]);
  }

  /** Runs a command inside a namespace and returns its stdout. */
  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  sysctl(ns: string, key: string, value: string): void {
    this.exec(ns, 'sysctl', ['-qw', `${key}=${value}`]);
  }

  /** Loads an nftables ruleset (nft -f syntax) into a namespace. */
  nft(ns: string, ruleset: string): void {
    this.exec(ns, 'nft', ['-f', '-'], ruleset);
  }

  /** Removes every nftables table of a namespace. */
  nftFlush(ns: string): void {
    this.exec(ns, 'nft', ['flush', 'ruleset']);
  }

  ip(ns: string, ...args: string[]): string {
    return run('ip', ['-n', ns, ...args]);
  }

  /** Creates the namespaces (tearing down leftovers of the same names first); subclasses add links and routes. */
  protected createNamespaces(): void {
    this.teardown();
    this.reaper = startReaper(this.namespaces);
    for (const ns of this.namespaces) {
      run('ip', ['netns', 'add', ns]);
      this.ip(ns, 'link', 'set', 'lo', 'up');
      this.sysctl(ns, 'net.ipv6.conf.all.accept_dad', '0');
      this.sysctl(ns, 'net.ipv6.conf.default.accept_dad', '0');
    }
  }

  /**
   * The /etc/hosts that commands run with `ip netns exec NS` see: ip bind-mounts
   * /etc/netns/NS/hosts over /etc/hosts for them. Removed at teardown.
   */
  setHosts(ns: string, text: string): void {
    fs.mkdirSync(path.join('/etc/netns', ns), { recursive: true });
    fs.writeFileSync(path.join('/etc/netns', ns, 'hosts'), text);
  }

  /** Kills the lab's processes and deletes its namespaces; safe to call more than once. */
  teardown(): void {
    for (const c of children) c.kill('SIGKILL');
    children.clear();
    removeNamespaces(this.namespaces);
    for (const ns of this.namespaces) fs.rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
    if (this.reaper?.pid !== undefined && this.reaper.exitCode === null) {
      try {
        process.kill(this.reaper.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.reaper = undefined;
  }

  /** Runs a command in a namespace; resolves with its exit status and output. */
  runIn(ns: string, cmd: string, args: string[], mustSucceed = true): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runIn(ns, cmd, args, mustSucceed);
  }
}

export class Lab extends Namespaces {
  readonly client: string;
  readonly router: string;
  readonly server: string;

  constructor(readonly id: string) {
    super();
    this.client = `sp-${id}-c`;
    this.router = `sp-${id}-r`;
    this.server = `sp-${id}-s`;
  }

  protected get namespaces(): readonly string[] {
    return [this.client, this.router, this.server];
  }

  /** Builds the three namespaces; safe to call again (it tears down leftovers of the same id first). */
  setup(): void {
    this.createNamespaces();
    this.ip(this.client, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'r0', 'netns', this.router);
    this.ip(this.server, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'r1', 'netns', this.router);
    const addrs: [string, string, string[]][] = [
      [this.client, 'c0', [`${ADDR.client}/24`, `${ADDR.client2}/24`, `${ADDR.client6}/64`]],
      [this.router, 'r0', [`${ADDR.routerClientSide}/24`, `${ADDR.routerClientSide6}/64`]],
      [this.router, 'r1', [`${ADDR.routerServerSide}/24`, `${ADDR.routerServerSide6}/64`]],
      [this.server, 's0', [`${ADDR.server}/24`, `${ADDR.server6}/64`]],
    ];
    for (const [ns, dev, list] of addrs) {
      for (const a of list) this.ip(ns, 'addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : []));
      this.ip(ns, 'link', 'set', dev, 'up');
    }
    this.sysctl(this.router, 'net.ipv4.ip_forward', '1');
    this.sysctl(this.router, 'net.ipv6.conf.all.forwarding', '1');
    this.ip(this.client, 'route', 'add', '198.18.0.0/16', 'via', ADDR.routerClientSide);
    this.ip(this.client, '-6', 'route', 'add', '2001:db8::/40', 'via', ADDR.routerClientSide6);
    this.ip(this.client, 'route', 'add', 'prohibit', '198.18.50.0/24');
    this.ip(this.client, 'route', 'add', 'unreachable', '198.18.51.0/24');
    this.ip(this.client, 'route', 'add', 'blackhole', '198.18.52.0/24');
    this.ip(this.server, 'route', 'add', '198.18.0.0/15', 'via', ADDR.routerServerSide);
    this.ip(this.server, '-6', 'route', 'add', '2001:db8::/32', 'via', ADDR.routerServerSide6);
  }

  protected get serverAddress(): string {
    return ADDR.server;
  }

  /** A listener that never accepts (python3: Node always accepts), with the given listen() backlog. */
  listenNoAccept(port: number, backlog: number, host: string = ADDR.server): Promise<Listener> {
    const script =
      'import socket,sys\n' +
      's=socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)\n' +
      's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n' +
      's.bind((sys.argv[1], int(sys.argv[2]))); s.listen(int(sys.argv[3]))\n' +
      'print("ready", flush=True)\n' +
      'sys.stdin.read()\n';
    return startChild(this.server, 'python3', ['-c', script, host, String(port), String(backlog)]);
  }

  /** Runs probes with the compiled lib from inside the client namespace. */
  async probe(probes: ProbeSpec[], extra: { hold?: HoldSpec[]; holdAfterMs?: number; parallel?: boolean } = {}): Promise<ProbeResult[]> {
    const spec = JSON.stringify({ lib: libDir, probes, ...extra });
    const child = spawn('ip', ['netns', 'exec', this.client, process.execPath, path.join(labDir, 'runner.js'), spec], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    children.delete(child);
    if (code !== 0) throw new Error(`probe runner failed (${String(code)}): ${err}`);
    return JSON.parse(out) as ProbeResult[];
  }

  async probeOne(target: [string, number] | { path: string }, options?: ProbeOptions): Promise<ProbeResult> {
    const [r] = await this.probe([{ target, ...(options ? { options } : {}) }]);
    if (r === undefined) throw new Error('no result');
    return r;
  }
}

/** A lab with names unique to this process and run. */
export function newLab(): Lab {
  return new Lab(`${process.pid}-${Math.random().toString(36).slice(2, 7)}`);
}

// ---- A path of routers, for trace() ----
//
// A separate lab (the three-namespace Lab above is left as it is): a client,
// ROUTERS routers in a row and a server, each link its own /24 of
// 198.19.0.0/16 and /64 of 2001:db8:100::/40, so router k is hop k.
//
//   client c0 198.19.10.2 ── r1 198.19.10.1 | 198.19.11.1 ── r2 198.19.11.2 | 198.19.12.1 ── ...
//   ... rN 198.19.(10+N-1).2 | 198.19.(10+N).1 ── server s0 198.19.(10+N).2
//
// Each router answers from the address on the client's side of it (the
// interface its ICMP leaves by): PathLab.hop(k).

/** The addresses of link `i` (0: client to r1, ROUTERS: rN to server): .1 nearer the client and .2 farther, except on link 0, where r1 is .1 and the client .2. */
function linkAddr(i: number, side: 1 | 2): string {
  return `198.19.${10 + i}.${side}`;
}
function linkAddr6(i: number, side: 1 | 2): string {
  return `2001:db8:1${(10 + i).toString().padStart(2, '0')}::${side}`;
}

const EXTRA_CLIENT_ADDRESSES = 4;

export class PathLab extends Namespaces {
  readonly client: string;
  readonly server: string;
  readonly routers: string[];

  constructor(
    readonly id: string,
    readonly routerCount = 3,
  ) {
    super();
    this.client = `sp-${id}-pc`;
    this.server = `sp-${id}-ps`;
    this.routers = Array.from({ length: routerCount }, (_, k) => `sp-${id}-p${k + 1}`);
  }

  protected get namespaces(): readonly string[] {
    return [this.client, ...this.routers, this.server];
  }

  /** The server's addresses. */
  get serverAddress(): string {
    return linkAddr(this.routerCount, 2);
  }
  get serverAddress6(): string {
    return linkAddr6(this.routerCount, 2);
  }

  /** The client's address n: 0 is the one it uses by default, 1..EXTRA_CLIENT_ADDRESSES more on the same link. */
  clientAddress(n = 0): string {
    return n === 0 ? linkAddr(0, 2) : `198.19.10.${2 + n}`;
  }
  clientAddress6(n = 0): string {
    return n === 0 ? linkAddr6(0, 2) : `${linkAddr6(0, 2).replace(/::2$/, '')}::${2 + n}`;
  }

  /** Router k's (1-based) address as the client sees it: the sender of its ICMP. */
  hop(k: number): string {
    return k === 1 ? linkAddr(0, 1) : linkAddr(k - 1, 2);
  }
  hop6(k: number): string {
    return k === 1 ? linkAddr6(0, 1) : linkAddr6(k - 1, 2);
  }

  setup(): void {
    this.createNamespaces();
    const chain = this.namespaces;
    // Link i joins chain[i] (its 'b' side, address .1 unless it is the client) and chain[i + 1] (its 'a' side).
    for (let i = 0; i < chain.length - 1; i++) {
      const near = chain[i] as string;
      const far = chain[i + 1] as string;
      this.ip(near, 'link', 'add', `l${i}n`, 'type', 'veth', 'peer', 'name', `l${i}f`, 'netns', far);
      // The client's side of link 0 is .2 (its router is .1); every other link: near .1, far .2.
      const nearSide: 1 | 2 = i === 0 ? 2 : 1;
      const farSide: 1 | 2 = i === 0 ? 1 : 2;
      for (const [ns, dev, side] of [[near, `l${i}n`, nearSide], [far, `l${i}f`, farSide]] as const) {
        this.ip(ns, 'addr', 'add', `${linkAddr(i, side)}/24`, 'dev', dev);
        this.ip(ns, 'addr', 'add', `${linkAddr6(i, side)}/64`, 'dev', dev, 'nodad');
        this.ip(ns, 'link', 'set', dev, 'up');
      }
    }
    // More client addresses, each a source no router has sent ICMP to yet (its own rate-limit bucket).
    for (let n = 1; n <= EXTRA_CLIENT_ADDRESSES; n++) {
      this.ip(this.client, 'addr', 'add', `${this.clientAddress(n)}/24`, 'dev', 'l0n');
      this.ip(this.client, 'addr', 'add', `${this.clientAddress6(n)}/64`, 'dev', 'l0n', 'nodad');
    }
    // Routes: towards the server by the next hop, towards the client by the previous one.
    for (let k = 0; k < chain.length; k++) {
      const ns = chain[k] as string;
      if (k < chain.length - 1) {
        const next = k === 0 ? linkAddr(0, 1) : linkAddr(k, 2);
        const next6 = k === 0 ? linkAddr6(0, 1) : linkAddr6(k, 2);
        for (let j = k + 1; j < chain.length - 1; j++) {
          this.ip(ns, 'route', 'add', `198.19.${10 + j}.0/24`, 'via', next);
          this.ip(ns, '-6', 'route', 'add', `${linkAddr6(j, 1).replace(/::1$/, '::')}/64`, 'via', next6);
        }
      }
      if (k > 0) {
        const prev = k === 1 ? linkAddr(0, 2) : linkAddr(k - 1, 1);
        const prev6 = k === 1 ? linkAddr6(0, 2) : linkAddr6(k - 1, 1);
        for (let j = 0; j < k - 1; j++) {
          this.ip(ns, 'route', 'add', `198.19.${10 + j}.0/24`, 'via', prev);
          this.ip(ns, '-6', 'route', 'add', `${linkAddr6(j, 1).replace(/::1$/, '::')}/64`, 'via', prev6);
        }
      }
      if (k > 0 && k < chain.length - 1) {
        this.sysctl(ns, 'net.ipv4.ip_forward', '1');
        this.sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
        // Every time-exceeded a test asks for, however close together the tries.
        this.sysctl(ns, 'net.ipv4.icmp_ratelimit', '0');
        this.sysctl(ns, 'net.ipv6.icmp.ratelimit', '0');
      }
    }
  }

  /** Runs trace() with the compiled lib from inside the client namespace. */
  async trace(host: string, port: number, options: Record<string, unknown> = {}): Promise<TraceResult> {
    const [t] = await this.traces([[host, port, options]]);
    return t as TraceResult;
  }

  /** Runs traces one after the other in one process inside the client namespace (no start-up time between them). */
  async traces(list: [string, number, Record<string, unknown>][]): Promise<TraceResult[]> {
    const script =
      `const { trace } = require(${JSON.stringify(libDir)}); (async () => { const out = [];` +
      ` for (const [h, p, o] of ${JSON.stringify(list)}) out.push(await trace(h, p, o));` +
      ` process.stdout.write(JSON.stringify(out)); })()`;
    const out = await this.runIn(this.client, process.execPath, ['-e', script]);
    return JSON.parse(out.stdout) as TraceResult[];
  }

  /** Runs probe() with the compiled lib from inside the client namespace. */
  async probe(host: string, port: number, options: Record<string, unknown> = {}): Promise<ProbeResult> {
    const script = `require(${JSON.stringify(libDir)}).probe(${JSON.stringify(host)}, ${port}, ${JSON.stringify(options)}).then((r) => process.stdout.write(JSON.stringify(r)))`;
    const out = await this.runIn(this.client, process.execPath, ['-e', script]);
    return JSON.parse(out.stdout) as ProbeResult;
  }

  /** Runs a command in the client namespace; resolves with its exit status and output. */
  runInClient(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return this.runIn(this.client, cmd, args, false);
  }
}

async function runIn(ns: string, cmd: string, args: string[], mustSucceed = true): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  children.delete(child);
  if (mustSucceed && code !== 0) throw new Error(`${cmd} in ${ns} failed (${String(code)}): ${stderr}`);
  return { code, stdout, stderr };
}

/** A lab path with names unique to this process and run. */
export function newPathLab(routers = 3): PathLab {
  return new PathLab(`${process.pid}-${Math.random().toString(36).slice(2, 6)}`, routers);
}
