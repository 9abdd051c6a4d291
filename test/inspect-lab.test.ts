// inspect() on a lossy path: two network namespaces joined by a veth pair
// (198.18.0.1 <-> 198.18.0.2), 30% of the client's packets to the server lost:
// `tc netem loss 30%` on the client's veth, or, on a kernel built without
// sch_netem, an nftables `numgen random` drop on the server's input (the same
// random loss as far as the client's TCP can tell). The
// client runs inside its namespace as a child process and samples inspect()
// while it writes. Needs root (CAP_NET_ADMIN) and tc netem or nftables
// (test/preconditions.ts): skipped loudly without them, and failing instead
// when SOCKPROBE_LAB=required.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { SocketSnapshot } from '../src';
import { libDir, tmpDir } from './helpers';
import { lossInNetns, nativeEngine, needs } from './preconditions';

const tag = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
const NS_CLIENT = `spi-${tag}-c`;
const NS_SERVER = `spi-${tag}-s`;
const IF_CLIENT = `spi${tag}c`.slice(0, 15);
const IF_SERVER = `spi${tag}s`.slice(0, 15);
const CLIENT_ADDR = '198.18.0.1';
const SERVER_ADDR = '198.18.0.2';
const PORT = 7000;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function teardown(): void {
  for (const ns of [NS_CLIENT, NS_SERVER]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

function setup(): void {
  teardown();
  run('ip', ['netns', 'add', NS_CLIENT]);
  run('ip', ['netns', 'add', NS_SERVER]);
  run('ip', ['link', 'add', IF_CLIENT, 'netns', NS_CLIENT, 'type', 'veth', 'peer', 'name', IF_SERVER, 'netns', NS_SERVER]);
  run('ip', ['-n', NS_CLIENT, 'addr', 'add', `${CLIENT_ADDR}/30`, 'dev', IF_CLIENT]);
  run('ip', ['-n', NS_SERVER, 'addr', 'add', `${SERVER_ADDR}/30`, 'dev', IF_SERVER]);
  for (const [ns, dev] of [[NS_CLIENT, IF_CLIENT], [NS_SERVER, IF_SERVER]] as const) {
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
}

/** Drops 30% of the client's packets to the server; returns how. */
function addLoss(): string {
  const netem = spawnSync('ip', ['netns', 'exec', NS_CLIENT, 'tc', 'qdisc', 'add', 'dev', IF_CLIENT, 'root', 'netem', 'loss', '30%'], {
    encoding: 'utf8',
  });
  if (netem.status === 0) return 'tc netem loss 30%';
  // Dropped on the server's input, not the client's output: a packet a local
  // output rule drops is a failed send to TCP (it queues it again), not a loss.
  const rules = [
    'table inet spiloss {',
    '  chain in {',
    '    type filter hook input priority 0; policy accept;',
    `    ip saddr ${CLIENT_ADDR} tcp dport ${PORT} numgen random mod 100 < 30 drop`,
    '  }',
    '}',
  ].join('\n');
  const nft = spawnSync('ip', ['netns', 'exec', NS_SERVER, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
  if (nft.status !== 0) throw new Error(`cannot add loss: tc said "${netem.stderr.trim()}", nft said "${nft.stderr.trim()}"`);
  console.warn(`inspect-lab: this kernel has no sch_netem (tc: ${netem.stderr.trim()}); dropping 30% with nftables numgen random on the server's input instead`);
  return 'nftables numgen random mod 100 < 30 drop, server input';
}

const SERVER_JS = `
const net = require('net');
const server = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
server.listen(${PORT}, '${SERVER_ADDR}', () => console.log('ready'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

// Writes 256 KiB on a clean path and reports a baseline; on "go" (sent once the
// loss is in place) writes without pause, sampling inspect() every 250 ms, until
// "stop" or 15 s. The test says stop after 4 s at the least, once the count has
// risen: random loss now and then hits retransmission after retransmission,
// and the backed-off timer then retransmits only every 0.4, 0.8, 1.6 s (a CI
// run counted 5 in 4 s).
const CLIENT_JS = `
const net = require('net');
const { inspect } = require(process.argv[2]);
const out = (phase, snap) => console.log(JSON.stringify({ phase, snap }));
const c = net.connect({ host: '${SERVER_ADDR}', port: ${PORT} }, () => {
  c.write(Buffer.alloc(256 * 1024, 1), () => {
    const wait = setInterval(() => {
      const s = inspect(c);
      if (s.sendQueue !== 0) return;
      clearInterval(wait);
      out('baseline', s);
      process.stdin.once('data', () => {
        const chunk = Buffer.alloc(64 * 1024, 2);
        const pump = () => { while (c.write(chunk)); };
        c.on('drain', pump);
        pump();
        const t = setInterval(() => out('sample', inspect(c)), 250);
        const end = () => { clearInterval(t); out('end', inspect(c)); c.destroy(); process.exit(0); };
        process.stdin.once('data', end);
        setTimeout(end, 15000);
      });
    }, 20);
  });
});
c.on('error', (e) => { console.log(JSON.stringify({ phase: 'error', message: e.message })); process.exit(1); });
`;

interface Line {
  phase: 'baseline' | 'sample' | 'end' | 'error';
  snap?: SocketSnapshot;
  message?: string;
}

const children: ChildProcess[] = [];
function stopChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

let dir = '';

function nodeIn(ns: string, script: string, args: string[] = []): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const file = path.join(dir, `${ns}.js`);
  fs.writeFileSync(file, script);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, file, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return { child, lines: readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
}

async function next(lines: AsyncIterableIterator<string>, what: string): Promise<string> {
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20000).unref());
  const r = await Promise.race([lines.next(), timer]);
  if (r.done === true) throw new Error(`child ended before ${what}`);
  return r.value;
}

needs(nativeEngine, lossInNetns).describe('inspect() on a lossy path, in network namespaces', () => {
  beforeAll(() => {
    process.on('exit', teardown);
    setup();
    dir = tmpDir();
  });

  afterAll(() => {
    stopChildren();
    teardown();
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
    process.off('exit', teardown);
  });

  test('a lossy path (30% loss) shows retransmissions rising while data is written', async () => {
    const server = nodeIn(NS_SERVER, SERVER_JS);
    expect(await next(server.lines, 'the server')).toBe('ready');
    const client = nodeIn(NS_CLIENT, CLIENT_JS, [libDir]);
    const baseline = JSON.parse(await next(client.lines, 'the baseline')) as Line;
    expect(baseline.phase).toBe('baseline');
    const base = baseline.snap!;
    expect(base.state).toBe('established');
    expect(base.sendQueue).toBe(0);

    const how = addLoss();
    client.child.stdin!.write('go\n');
    const samples: SocketSnapshot[] = [];
    let stopped = false;
    for (;;) {
      const line = JSON.parse(await next(client.lines, 'a sample')) as Line;
      if (line.phase === 'error') throw new Error(`client: ${line.message ?? ''}`);
      samples.push(line.snap!);
      if (line.phase === 'end') break;
      if (!stopped && samples.length >= 16 && (line.snap!.totalRetrans ?? 0) > base.totalRetrans! + 5) {
        stopped = true;
        client.child.stdin!.write('stop\n');
      }
    }
    const retrans = samples.map((s) => s.totalRetrans ?? -1);
    console.log(
      `inspect-lab (${how}): baseline totalRetrans=${String(base.totalRetrans)}, samples every 250 ms: ${retrans.join(' ')}; ` +
        `last: lost=${String(samples.at(-1)?.lost)} bytesRetrans=${String(samples.at(-1)?.bytesRetrans)} ` +
        `rttUs=${String(samples.at(-1)?.rttUs)} sndCwnd=${String(samples.at(-1)?.sndCwnd)}`,
    );
    expect(samples.length).toBeGreaterThanOrEqual(8);
    // Never falls (it is a counter), and rises well past the clean baseline.
    for (let i = 1; i < retrans.length; i++) expect(retrans[i]).toBeGreaterThanOrEqual(retrans[i - 1]!);
    const last = samples.at(-1)!;
    expect(last.totalRetrans!).toBeGreaterThan(base.totalRetrans! + 5);
    expect(last.bytesRetrans!).toBeGreaterThan(base.bytesRetrans ?? 0);
    // It rose while the writes went on, not in one step at the end.
    expect(new Set(retrans).size).toBeGreaterThanOrEqual(3);
    expect(last.state).toBe('established');
    server.child.stdin!.end();
  }, 90_000);
});
