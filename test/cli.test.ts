// The `sockprobe` command as users run it: real processes, real listeners.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { closedPort, openListener, tmpDir } from './helpers';
import { spawnSync } from 'node:child_process';
import { cleanEnv, sockprobe, sockprobeOnTty } from './cli-run';
import { engine } from '../src/engine';

const ESC = '\u001b[';

describe('sockprobe TARGET...: exit status and output', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let closed: number;
  beforeAll(async () => {
    open = await openListener();
    closed = await closedPort();
  });
  afterAll(() => open.close());

  test('an open target exits 0 with one line saying open', async () => {
    const r = await sockprobe([`127.0.0.1:${open.port}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^✓ 127\\.0\\.0\\.1:${open.port} is open: the handshake completed in [0-9.]+ ms\\n$`));
    expect(r.stderr).toBe('');
  });

  test('a refused target exits 1 and says nothing listens', async () => {
    const r = await sockprobe([`127.0.0.1:${closed}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`✗ 127.0.0.1:${closed} refused the connection`);
    expect(r.stdout).toContain('nothing listens on that port');
  });

  test('several targets: 1 unless every one is open, one line each in order', async () => {
    const both = await sockprobe([`127.0.0.1:${open.port}`, `127.0.0.1:${closed}`]);
    expect(both.code).toBe(1);
    const lines = both.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^✓ .* is open/);
    expect(lines[1]).toMatch(/^✗ .* refused/);
    const allOpen = await sockprobe([`127.0.0.1:${open.port}`, `localhost:${open.port}`]);
    expect(allOpen.code).toBe(0);
  });

  test('--json prints one JSON document with every result', async () => {
    const r = await sockprobe(['--json', `127.0.0.1:${open.port}`, `127.0.0.1:${closed}`]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; targets: { target: string; result: { status: string; code: string | null; attempts: unknown[] } }[] };
    expect(doc.ok).toBe(false);
    expect(doc.targets.map((t) => t.target)).toEqual([`127.0.0.1:${open.port}`, `127.0.0.1:${closed}`]);
    expect(doc.targets.map((t) => t.result.status)).toEqual(['open', 'refused']);
    expect(doc.targets[1]?.result.code).toBe('ECONNREFUSED');
    expect(doc.targets[0]?.result.attempts).toHaveLength(1);
  });

  test('--quiet prints nothing; the exit status still speaks', async () => {
    const ok = await sockprobe(['--quiet', `127.0.0.1:${open.port}`]);
    const bad = await sockprobe(['-q', `127.0.0.1:${closed}`]);
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([1, '', '']);
  });

  test('-4 and -6 restrict the families of a name', async () => {
    const six = await openListener('::1');
    try {
      // localhost is 127.0.0.1 in /etc/hosts here (and maybe ::1); -6 must not try IPv4.
      const r4 = await sockprobe(['--json', '-4', `localhost:${six.port}`]);
      const doc = JSON.parse(r4.stdout) as { targets: { result: { attempts: { family: number }[] } }[] };
      expect(doc.targets[0]?.result.attempts.every((a) => a.family === 4)).toBe(true);
      const r6 = await sockprobe(['-6', `[::1]:${six.port}`]);
      expect(r6.code).toBe(0);
    } finally {
      await six.close();
    }
  });

  test('unix:/path targets: open and missing file', async () => {
    const dir = tmpDir();
    const sock = path.join(dir, 'app.sock');
    const server = net.createServer((s) => s.destroy());
    server.listen(sock);
    await once(server, 'listening');
    try {
      const r = await sockprobe([`unix:${sock}`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`unix:${sock} is open`);
      const missing = await sockprobe([`unix:${path.join(dir, 'nope.sock')}`]);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toContain('the socket file does not exist');
    } finally {
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--help and --version exit 0', async () => {
    const help = await sockprobe(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sockprobe \[options\] TARGET\.\.\./);
    expect(help.stdout).toContain('explain TARGET');
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    const version = await sockprobe(['--version']);
    expect(version.code).toBe(0);
    const [first, second, third] = version.stdout.split('\n');
    expect(first).toBe(pkg.version);
    // The engine in use and what it can tell, as engine() says.
    const info = engine();
    expect(second).toBe(`engine: ${info.name} (${info.native ? 'native' : 'pure JavaScript, net.Socket'}, ${process.platform}-${process.arch})`);
    expect(third).toBe(`facts: ${info.facts.join(', ')}`);
  });
});

describe('usage errors exit 2 with a message on stderr and nothing on stdout', () => {
  const cases: [string, string[], RegExp][] = [
    ['no target', [], /no TARGET given/],
    ['no port', ['localhost'], /expected host:port/],
    ['port 0', ['localhost:0'], /port must be from 1 to 65535/],
    ['port too large', ['localhost:65536'], /port must be from 1 to 65535/],
    ['port not a number', ['localhost:http'], /port must be a number/],
    ['IPv6 without brackets', ['::1:80'], /put an IPv6 address in brackets, e\.g\. \[::1\]:80/],
    ['bad IPv6 in brackets', ['[nope]:80'], /is not an IPv6 address/],
    ['empty unix path', ['unix:'], /needs a socket path/],
    ['bad timeout', ['--timeout', 'soon', 'localhost:80'], /--timeout takes a number/],
    ['zero timeout', ['--timeout', '0', 'localhost:80'], /above 0/],
    ['unknown option', ['--bogus', 'localhost:80'], /Unknown option '--bogus'/],
    ['-4 with -6', ['-4', '-6', 'localhost:80'], /exclude each other/],
    ['-4 with an IPv6 literal', ['-4', '[::1]:80'], /IPv6 address but -4/],
    ['-6 with a unix socket', ['-6', 'unix:/tmp/x.sock'], /does not apply to a Unix socket/],
    ['explain without target', ['explain'], /explain needs a TARGET/],
    ['explain with two targets', ['explain', 'a:1', 'b:2'], /explain takes one TARGET/],
    ['explain with --wait', ['explain', '--wait', 'a:1'], /--wait does not apply/],
    ['--no-trace outside explain', ['--no-trace', 'localhost:80'], /--no-trace applies to explain only/],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const r = await sockprobe(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^sockprobe: /);
    expect(r.stderr).toContain("Try 'sockprobe --help'");
  });
});

describe('--wait', () => {
  test('succeeds when a listener appears later', async () => {
    const port = await closedPort();
    let server: net.Server | undefined;
    let timer: NodeJS.Timeout | undefined;
    let accepted = 0;
    let listeningAt = Infinity;
    const spawnedAt = performance.now();
    const run = sockprobe(['--wait', '--timeout', '30000', '--json', `127.0.0.1:${port}`], {
      started: () => {
        timer = setTimeout(() => {
          server = net
            .createServer((s) => {
              accepted++;
              s.destroy();
            })
            .listen(port, '127.0.0.1', () => {
              listeningAt = performance.now();
            });
        }, 1500);
      },
    });
    try {
      const r = await run;
      expect(r.stderr).toBe(''); // not a TTY: no progress
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.stdout) as { ok: boolean; wait: { elapsedMs: number } };
      expect(doc.ok).toBe(true);
      // The success came from the late listener, which began listening at
      // least 1500 ms after the spawn and accepted the probe. (The child's own
      // elapsedMs starts after its start-up, which a loaded machine can stretch
      // past a second, so it is not compared with the 1500 ms.)
      expect(accepted).toBeGreaterThanOrEqual(1);
      expect(listeningAt - spawnedAt).toBeGreaterThanOrEqual(1500);
      expect(doc.wait.elapsedMs).toBeGreaterThan(0);
    } finally {
      clearTimeout(timer);
      if (server) await new Promise((r) => server?.close(r));
    }
  });

  test('fails at its deadline, silently when not a TTY', async () => {
    const port = await closedPort();
    const r = await sockprobe(['--wait', '--timeout', '1500', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('refused the connection');
    // Retried until the deadline, then stopped: generous upper margin for a busy machine.
    expect(r.ms).toBeGreaterThanOrEqual(1400);
    expect(r.ms).toBeLessThan(15_000);
  });

  test('shows progress on a terminal', async () => {
    const port = await closedPort();
    const r = await sockprobeOnTty(['--wait', '--timeout', '1200', `127.0.0.1:${port}`], cleanEnv({ NO_COLOR: '1' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`waiting for 127\\.0\\.0\\.1:${port} \\([0-9.]+ s of 1\\.2 s\\)`));
    expect(r.stdout).toContain('refused the connection');
  });
});

describe('colour', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  beforeAll(async () => {
    open = await openListener();
  });
  afterAll(() => open.close());

  test('on a terminal the marks are coloured', async () => {
    const r = await sockprobeOnTty([`127.0.0.1:${open.port}`], cleanEnv());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ESC}32m✓${ESC}0m`);
  });

  test('never when NO_COLOR is set, even on a terminal', async () => {
    const r = await sockprobeOnTty([`127.0.0.1:${open.port}`], cleanEnv({ NO_COLOR: '1' }));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ 127.0.0.1');
    expect(r.stdout).not.toContain(ESC);
  });

  test('never when not a terminal', async () => {
    const r = await sockprobe([`127.0.0.1:${open.port}`]);
    expect(r.stdout).not.toContain(ESC);
  });
});

describe('without a native binary', () => {
  // A copy of the package with lib/ and bin/ but no build/: what a user has
  // when npm skipped the install script.
  const root = path.join(__dirname, '..');
  let dir: string;
  beforeAll(() => {
    dir = tmpDir();
    for (const entry of ['bin', 'lib', 'package.json']) fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = (...args: string[]): ReturnType<typeof spawnSync> =>
    // SOCKPROBE_ENGINE unset: the node engine because no binary loads (the message), not by choice (none).
    spawnSync(process.execPath, [path.join(dir, 'bin', 'sockprobe'), ...args], { encoding: 'utf8', env: cleanEnv({ SOCKPROBE_ENGINE: undefined }) });

  test('--help, --version and usage errors still work; --version says which engine and why', () => {
    expect(run('--help').status).toBe(0);
    const version = run('--version');
    expect(version.status).toBe(0);
    expect(version.stdout).toContain('engine: node (pure JavaScript, net.Socket, ');
    expect(version.stdout).toContain('facts: localAddress\n');
    expect(version.stdout).toContain('not native because: sockprobe: no native binary for ');
    expect(run('nope').status).toBe(2);
  });

  test("a probe runs on the node engine: the loader's message once on stderr, no stack trace, exit by outcome", () => {
    const r = run('127.0.0.1:1', '127.0.0.1:2');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('refused');
    expect(String(r.stderr).split('sockprobe: no native binary for ')).toHaveLength(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
