// The acceptance of the node engine: a copy of the built package without its
// native binary (no build/, no prebuilds/: what a user has on a platform with
// no prebuild and no compiler, or when npm skipped the install script) is
// required in a child node process. It must load, say why the native engine
// is not in use once on first use, and still tell open from refused on real
// loopback ports.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closedPort, openListener, tmpDir } from './helpers';

const repo = path.join(__dirname, '..');
let dir = '';

beforeAll(() => {
  dir = tmpDir();
  const pkg = path.join(dir, 'node_modules', 'sockprobe');
  fs.mkdirSync(pkg, { recursive: true });
  for (const entry of ['lib', 'esm', 'package.json']) fs.cpSync(path.join(repo, entry), path.join(pkg, entry), { recursive: true });
  // Its dependencies (node-gyp-build), without anything that holds a binary.
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(pkg, 'node_modules'));
  expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
  expect(fs.existsSync(path.join(pkg, 'prebuilds'))).toBe(false);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `script` (CommonJS, or ESM with `.mjs`) in `dir` with SOCKPROBE_ENGINE as given (unset: undefined). */
function node(script: string, args: string[], engineVar: string | undefined, file = 'use.cjs'): { status: number | null; stdout: string; stderr: string } {
  fs.writeFileSync(path.join(dir, file), script);
  const env: NodeJS.ProcessEnv = { ...process.env, SOCKPROBE_ENGINE: engineVar };
  const r = spawnSync(process.execPath, [file, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const USE = `
const { probe, engine } = require('sockprobe');
(async () => {
  const [open, closed] = process.argv.slice(2).map(Number);
  const results = [];
  for (const port of [open, closed, open]) {
    const r = await probe('127.0.0.1', port, { timeout: 5000 });
    results.push({ status: r.status, reason: r.reason, code: r.code, errno: r.errno, keys: Object.keys(r) });
  }
  console.log(JSON.stringify({ engine: engine(), results }));
})().catch((error) => { console.error(error); process.exit(3); });
`;

describe('without the native binary (a copy of the package with no build/ and no prebuilds/)', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let closed = 0;
  beforeAll(async () => {
    open = await openListener();
    closed = await closedPort();
  });
  afterAll(() => open.close());

  test("require('sockprobe') works, probe() tells open and refused, and the loader's message comes once", () => {
    const r = node(USE, [String(open.port), String(closed)], undefined);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      engine: { name: string; native: boolean; facts: string[]; reason?: string };
      results: { status: string; reason: string; code: string | null; errno: number | null; keys: string[] }[];
    };
    expect(out.engine).toMatchObject({ name: 'node', native: false, facts: ['localAddress'], platform: process.platform, arch: process.arch });
    expect(out.engine.reason).toMatch(/^sockprobe: no native binary for /);
    const [first, refused, again] = out.results;
    expect(first).toMatchObject({ status: 'open', reason: 'syn-ack', code: null, errno: null });
    expect(again).toMatchObject({ status: 'open' });
    // What net.Socket cannot read is absent, never 0.
    expect(first?.keys).toEqual(expect.arrayContaining(['connectMs', 'local']));
    expect(first?.keys).not.toEqual(expect.arrayContaining(['sndbuf']));
    expect(first?.keys).not.toEqual(expect.arrayContaining(['rcvbuf']));
    expect(first?.keys).not.toEqual(expect.arrayContaining(['tcp']));
    expect(refused).toMatchObject({ status: 'refused', reason: 'reset', code: 'ECONNREFUSED' });
    // Once, for three probes: why, what this engine cannot tell, and how to get the native one.
    expect(r.stderr.split('sockprobe: no native binary for ')).toHaveLength(2);
    expect(r.stderr).toContain('SOCKPROBE_NO_NATIVE');
    expect(r.stderr).toContain(path.join('prebuilds', `${process.platform}-${process.arch}`));
    expect(r.stderr).toContain(path.join('build', 'Release'));
    expect(r.stderr).toContain('pure-JavaScript engine (net.Socket)');
    expect(r.stderr).toContain('npm rebuild sockprobe');
    expect(r.stderr).toContain('npm install-scripts approve sockprobe');
  });

  test('loading alone says nothing: the message waits for the first probe', () => {
    const r = node("const { engine } = require('sockprobe'); console.log(engine().name);", [], undefined);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'node\n', '']);
  });

  test('SOCKPROBE_ENGINE=node chooses the node engine: no message, the reason says it was chosen', () => {
    const r = node(USE, [String(open.port), String(closed)], 'node');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { engine: { name: string; reason: string }; results: { status: string }[] };
    expect(out.engine.name).toBe('node');
    expect(out.engine.reason).toContain('SOCKPROBE_ENGINE=node');
    expect(out.results.map((x) => x.status)).toEqual(['open', 'refused', 'open']);
  });

  test('SOCKPROBE_ENGINE=epoll asks for the native engine: without a binary, require() fails with the loader message', () => {
    const r = node("require('sockprobe');", [], 'epoll');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('sockprobe: no native binary for ');
  });

  test('import works too, with engine() among the named exports', () => {
    const r = node(
      "import { engine, probe } from 'sockprobe';\nconst r = await probe('127.0.0.1', Number(process.argv[2]));\nconsole.log(engine().name, r.status);\n",
      [String(closed)],
      'node',
      'use.mjs',
    );
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'node refused\n', '']);
  });
});
