// Unix domain sockets: each way a connect to a path fails, for real. No
// namespace is needed; only the permission case switches to uid nobody (root
// bypasses file permissions), which needs root to do, or runs as is when the
// tests already run unprivileged.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { probe, type ProbeResult } from '../../src';

const libDir = path.join(__dirname, '..', '..', 'lib');

let dir: string;
const children = new Set<ChildProcess>();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-unix-'));
  // Searchable by every user, so the permission case fails on the socket file itself.
  fs.chmodSync(dir, 0o755);
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function pick(r: ProbeResult): Record<string, unknown> {
  return { status: r.status, reason: r.reason, code: r.code, family: r.family, address: r.address };
}

/** python3, because Node's net.Server always accepts and always unlinks its path on close. */
async function python(script: string, ...args: string[]): Promise<ChildProcess> {
  const child = spawn('python3', ['-c', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (!line.toString().includes('ready')) throw new Error(`python3 said ${line.toString()}`);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  child.kill();
  await exited;
}

test('a listener: open, accepted', async () => {
  const sock = path.join(dir, 'open.sock');
  const server = net.createServer((s) => s.destroy()).listen(sock);
  await once(server, 'listening');
  try {
    const r = await probe({ path: sock });
    expect(pick(r)).toEqual({ status: 'open', reason: 'accepted', code: null, family: 'unix', address: sock });
    expect(r.port).toBeNull();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a stale socket file (its listener is gone): refused, conn-refused, ECONNREFUSED', async () => {
  const sock = path.join(dir, 'stale.sock');
  // Bind (which creates the file) and exit without unlinking it, as a crashed server leaves it.
  const child = spawn('python3', ['-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen(1)\n', sock]);
  await once(child, 'exit');
  expect(fs.statSync(sock).isSocket()).toBe(true);
  const r = await probe({ path: sock });
  expect(pick(r)).toEqual({ status: 'refused', reason: 'conn-refused', code: 'ECONNREFUSED', family: 'unix', address: sock });
});

test('no such file: unreachable, no-socket-file, ENOENT', async () => {
  const sock = path.join(dir, 'missing.sock');
  const r = await probe({ path: sock });
  expect(pick(r)).toEqual({ status: 'unreachable', reason: 'no-socket-file', code: 'ENOENT', family: 'unix', address: sock });
});

test('a regular file, not a socket: refused, ECONNREFUSED', async () => {
  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, '');
  const r = await probe({ path: file });
  expect(pick(r)).toEqual({ status: 'refused', reason: 'conn-refused', code: 'ECONNREFUSED', family: 'unix', address: file });
});

test('listen backlog full: refused, backlog-full, EAGAIN', async () => {
  const sock = path.join(dir, 'full.sock');
  // A listener that never accepts, with its queue filled by non-blocking connects until EAGAIN.
  const child = await python(
    'import socket,sys\n' +
      's=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)\n' +
      'held=[]\n' +
      'while True:\n' +
      '  c=socket.socket(socket.AF_UNIX); c.setblocking(False)\n' +
      '  try: c.connect(sys.argv[1])\n' +
      '  except BlockingIOError: break\n' +
      '  held.append(c)\n' +
      'print("ready", len(held), flush=True)\n' +
      'sys.stdin.read()\n',
    sock,
  );
  try {
    const r = await probe({ path: sock });
    expect(pick(r)).toEqual({ status: 'refused', reason: 'backlog-full', code: 'EAGAIN', family: 'unix', address: sock });
  } finally {
    await stop(child);
  }
});

test('no permission on the socket file: blocked, perm-denied, EACCES', async () => {
  const sock = path.join(dir, 'private.sock');
  const server = net.createServer((s) => s.destroy()).listen(sock);
  await once(server, 'listening');
  fs.chmodSync(sock, 0o600);
  try {
    let r: ProbeResult;
    if (process.getuid?.() === 0) {
      // Root ignores file permissions: probe from a child running as nobody.
      const script = `require(${JSON.stringify(libDir)}).probe({ path: ${JSON.stringify(sock)} }).then((r) => process.stdout.write(JSON.stringify(r)))`;
      const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`probe as nobody failed (${String(code)}): ${err}`);
      r = JSON.parse(out) as ProbeResult;
    } else {
      fs.chmodSync(sock, 0o000);
      r = await probe({ path: sock });
    }
    expect(pick(r)).toEqual({ status: 'blocked', reason: 'perm-denied', code: 'EACCES', family: 'unix', address: sock });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
