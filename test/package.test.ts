// SLOW (about 40-90 s on 2 cores, 2-4 min more with the cross toolchains): the published
// package, end to end.
//
// 1. Packs a sources-only copy of the repository with the real `npm pack` (test/pack.ts), so
//    the real `prepack` runs (tsc, prebuildify, and the cross prebuilds whose toolchains are
//    here) without touching this checkout's build/, lib/ or prebuilds/.
// 2. Checks the tarball's file list, and with `file` the cross-built prebuilds (PE32+ DLL,
//    Mach-O): each is required where its toolchain is here (CI), skipped with the reason elsewhere.
// 3. Installs the tarball into fresh temp projects, from npm's cache where it can (--prefer-offline:
//    npm 11 builds a lockfile-less install from full packuments, which `npm ci` never fetches, so a
//    fresh machine's cache lacks them and a strict --offline install fails there), with no compiler
//    reachable (PATH holds only node and sh, CC/CXX=/bin/false) and no user config: once with
//    npm's defaults (npm 11.19 runs an unreviewed dependency install script with a warning, so
//    node-gyp-build runs and must find the prebuild without compiling) and once with install
//    scripts blocked (--ignore-scripts, what a denied or not-yet-approved script amounts to);
//    then uses it through require(), import and the CLI (when package.json has a bin), and
//    type-checks consumer .ts and .mts files against the shipped declarations with this
//    repository's tsc.
//
// `npm run test:built` / test:cmake / test:prebuild leave this file out: they test a binary
// built in this checkout, which this file does not use.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  baseEnv,
  CROSS_TARGETS,
  crossToolchain,
  expectOk,
  npmIn,
  PACK_TIMEOUT_MS,
  packRepo,
  repo,
  run,
  unpack,
  type CrossTarget,
  type Run,
} from './pack';
import { needs, tool } from './preconditions';

const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main: string;
  types: string;
  bin?: string | Record<string, string>;
  exports: Record<string, unknown>;
};
const tuple = `${process.platform}-${process.arch}`;
const prebuild = `prebuilds/${tuple}/sockprobe.glibc.node`;

let tmp = '';
let tarball = '';
let unpacked = '';
let files: { path: string; size: number }[] = [];
/** A directory on PATH holding only `node` and `sh` (npm runs scripts with sh): no python3, make, cc, g++. */
let bareBin = '';
/** npm's defaults: an empty user config (no allowScripts, no nodedir). */
let emptyNpmrc = '';

function consumerEnv(): NodeJS.ProcessEnv {
  return {
    ...baseEnv(),
    PATH: bareBin,
    CC: '/bin/false',
    CXX: '/bin/false',
    NPM_CONFIG_USERCONFIG: emptyNpmrc,
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
  };
}

/** A fresh project with the tarball installed the way a user would. */
async function freshConsumer(
  name: string,
  type: 'commonjs' | 'module',
  scripts: 'npm-default' | 'blocked',
): Promise<{ dir: string; install: Run }> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', private: true, type }, null, 2),
  );
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'];
  if (scripts === 'blocked') args.push('--ignore-scripts');
  const install = await npmIn(dir, [...args, tarball], consumerEnv());
  expectOk(install, `npm install ${tarball} in ${dir}`);
  return { dir, install };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-pack-'));
  bareBin = path.join(tmp, 'bin');
  fs.mkdirSync(bareBin);
  fs.symlinkSync(process.execPath, path.join(bareBin, 'node'));
  fs.symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
  emptyNpmrc = path.join(tmp, 'empty.npmrc');
  fs.writeFileSync(emptyNpmrc, '');

  const packed = await packRepo(tmp);
  tarball = packed.tarball;
  files = packed.files;
  unpacked = await unpack(tarball, path.join(tmp, 'unpacked'));
}, PACK_TIMEOUT_MS);

afterAll(() => {
  if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball (npm pack, real prepack)', () => {
  test('carries the prebuild, lib/, the ESM wrapper and what a from-source build needs', () => {
    const names = new Set(files.map((f) => f.path));
    for (const required of [
      'package.json',
      'README.md',
      'binding.gyp',
      'native/module.cc',
      'native/engine.cc',
      'native/engine.h',
      'native/backend.h',
      'native/backend_epoll.cc',
      'native/facts.h',
      'native/facts_linux.cc',
      'native/record.h',
      'native/unsupported.cc',
      'lib/index.js',
      'lib/index.d.ts',
      'esm/index.mjs',
      'esm/index.d.mts',
      prebuild,
    ]) {
      expect(names).toContain(required);
    }
  });

  test('carries no tests, no TypeScript sources, no build leftovers', () => {
    for (const { path: p } of files) {
      expect(p).not.toMatch(/(^|\/)(test|tests|__tests__|coverage|build|node_modules|src)\//);
      expect(p).not.toMatch(/\.test\.|\.tgz$|^\.|\/\./);
      if (/\.[mc]?ts$/.test(p)) expect(p).toMatch(/\.d\.[mc]?ts$/);
    }
  });

  test('every entry point package.json names is in the tarball', () => {
    const names = new Set(files.map((f) => f.path));
    const targets: string[] = [pkg.main, pkg.types];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(pkg.exports);
    walk(pkg.bin);
    for (const t of targets) expect(names).toContain(path.posix.normalize(t));
  });

  test('source maps, if any, point at files that ship', () => {
    const names = new Set(files.map((f) => f.path));
    for (const { path: p } of files) {
      if (/\.[mc]?js$/.test(p)) {
        const m = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(fs.readFileSync(path.join(unpacked, p), 'utf8'));
        if (m?.[1] !== undefined && !m[1].startsWith('data:')) {
          expect(names).toContain(path.posix.join(path.posix.dirname(p), m[1]));
        }
      }
      if (p.endsWith('.map')) {
        const map = JSON.parse(fs.readFileSync(path.join(unpacked, p), 'utf8')) as { sources?: string[]; sourcesContent?: unknown[] };
        (map.sources ?? []).forEach((src, i) => {
          if (map.sourcesContent?.[i] != null) return;
          expect(names).toContain(path.posix.normalize(path.posix.join(path.posix.dirname(p), src)));
        });
      }
    }
  });

  test('the prebuild is a stripped N-API binary for this platform', () => {
    const file = path.join(unpacked, prebuild);
    const head = fs.readFileSync(file).subarray(0, 20);
    expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    if (process.arch === 'x64') expect(head.readUInt16LE(18)).toBe(62); // EM_X86_64
    // --strip: no static symbol table left.
    expect(fs.readFileSync(file).includes(Buffer.from('.symtab\0'))).toBe(false);
    const size = files.find((f) => f.path === prebuild)?.size ?? 0;
    expect(size).toBeGreaterThan(0);
    const total = files.reduce((n, f) => n + f.size, 0);
    console.log(
      `sockprobe tarball: ${path.basename(tarball)} ${fs.statSync(tarball).size} B packed, ${total} B unpacked, ${files.length} files\n` +
        files.map((f) => `${String(f.size).padStart(8)}  ${f.path}`).join('\n'),
    );
  });
});

describe('the cross-built prebuilds prepack puts next to the Linux one', () => {
  // What `file` (5.44) says of each: the Windows DLL mingw links, the Mach-O dylibs zig links.
  const expected: Record<CrossTarget, RegExp> = {
    'win32-x64': /^PE32\+ executable \(DLL\) \(console\) x86-64 .*for MS Windows/,
    'darwin-x64': /^Mach-O 64-bit x86_64 dynamically linked shared library/,
    'darwin-arm64': /^Mach-O 64-bit arm64 dynamically linked shared library/,
  };
  for (const target of CROSS_TARGETS) {
    needs(tool('file', 'file'), crossToolchain(target)).test(`prebuilds/${target}: \`file\` says ${String(expected[target])}`, async () => {
      const shipped = files.filter((f) => f.path.startsWith(`prebuilds/${target}/`));
      expect(shipped.map((f) => f.path)).toEqual([`prebuilds/${target}/sockprobe.napi.node`]);
      const r = await run('file', ['-b', path.join(unpacked, shipped[0]!.path)], { cwd: tmp, env: process.env, timeoutMs: 10_000 });
      expectOk(r, 'file');
      console.log(`${shipped[0]!.path} (${shipped[0]!.size} B): ${r.stdout.trim()}`);
      expect(r.stdout).toMatch(expected[target]);
    });
  }
});

describe('installed from the tarball with no compiler reachable', () => {
  let cjsDir = '';
  let install: Run | undefined;

  beforeAll(async () => {
    const made = await freshConsumer('consumer-cjs', 'commonjs', 'npm-default');
    cjsDir = made.dir;
    install = made.install;
  }, 150_000);

  test("with npm's default script policy: node-gyp-build finds the prebuild, nothing is compiled", () => {
    const installed = path.join(cjsDir, 'node_modules', 'sockprobe');
    expect(fs.existsSync(path.join(installed, prebuild))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    console.log(`npm install output (npm defaults, no compiler):\n${install?.stdout ?? ''}${install?.stderr ?? ''}`);
  });

  test('require(): probes an open and a refused port on loopback with the prebuild', async () => {
    fs.writeFileSync(
      path.join(cjsDir, 'use.cjs'),
      `'use strict';
const assert = require('node:assert');
const net = require('node:net');
const path = require('node:path');
const { probe, isOpen } = require('sockprobe');
const { binaryPath } = require(path.join(__dirname, 'node_modules/sockprobe/lib/binding.js'));
assert.throws(() => require('sockprobe/lib/binding.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
(async () => {
  const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  const open = await probe('127.0.0.1', port, { timeout: 10000 });
  assert.ok(isOpen(open), JSON.stringify(open));
  await new Promise((r) => server.close(r));
  const refused = await probe('127.0.0.1', port, { timeout: 10000 });
  assert.strictEqual(refused.status, 'refused', JSON.stringify(refused));
  console.log(JSON.stringify({ binaryPath, version: require('sockprobe/package.json').version }));
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const r = await run(process.execPath, ['use.cjs'], { cwd: cjsDir, env: consumerEnv(), timeoutMs: 30_000 });
    expectOk(r, 'node use.cjs');
    const out = JSON.parse(r.stdout) as { binaryPath: string; version: string };
    expect(out.binaryPath).toBe(fs.realpathSync(path.join(cjsDir, 'node_modules', 'sockprobe', prebuild)));
    expect(out.version).toBe(pkg.version);
  }, 60_000);

  test('import: named exports are the very same objects as require() gives (one implementation)', async () => {
    fs.writeFileSync(
      path.join(cjsDir, 'use.mjs'),
      `import assert from 'node:assert';
import net from 'node:net';
import { createRequire } from 'node:module';
import * as ns from 'sockprobe';
import { probe, AbortError } from 'sockprobe';
const cjs = createRequire(import.meta.url)('sockprobe');
assert.deepStrictEqual(Object.keys(ns).sort(), Object.keys(cjs).sort());
for (const k of Object.keys(cjs)) assert.strictEqual(ns[k], cjs[k], k);
const aborted = AbortSignal.abort();
await assert.rejects(probe('127.0.0.1', 1, { signal: aborted }), (e) => e instanceof AbortError && e instanceof cjs.AbortError);
const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const r = await probe('127.0.0.1', server.address().port, { timeout: 10000 });
assert.strictEqual(r.status, 'open', JSON.stringify(r));
server.close();
console.log(JSON.stringify(Object.keys(ns).sort()));
`,
    );
    const r = await run(process.execPath, ['use.mjs'], { cwd: cjsDir, env: consumerEnv(), timeoutMs: 30_000 });
    expectOk(r, 'node use.mjs');
    expect(JSON.parse(r.stdout)).toContain('probe');
  }, 60_000);

  test('with install scripts blocked, in a "type": "module" project', async () => {
    const { dir, install: blocked } = await freshConsumer('consumer-esm', 'module', 'blocked');
    expect(`${blocked.stdout}${blocked.stderr}`).not.toContain('node-gyp-build');
    expect(fs.existsSync(path.join(dir, 'node_modules', 'sockprobe', 'build'))).toBe(false);
    fs.writeFileSync(
      path.join(dir, 'use.js'),
      `import { probe } from 'sockprobe';
const r = await probe('127.0.0.1', 1, { timeout: 10000 });
console.log(r.status);
`,
    );
    const r = await run(process.execPath, ['use.js'], { cwd: dir, env: consumerEnv(), timeoutMs: 30_000 });
    expectOk(r, 'node use.js');
    // Port 1 on loopback: whatever the answer, the module loaded and probed.
    expect(['refused', 'open']).toContain(r.stdout.trim());
  }, 150_000);

  const bins = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
  (Object.keys(bins).length > 0 ? test : test.skip)('the CLI runs from node_modules/.bin (--help)', async () => {
    for (const name of Object.keys(bins)) {
      const r = await run(path.join(cjsDir, 'node_modules', '.bin', name), ['--help'], {
        cwd: cjsDir,
        env: consumerEnv(),
        timeoutMs: 30_000,
      });
      expectOk(r, `${name} --help`);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  }, 60_000);

  test('type-checks consumer .ts (require) and .mts (import) files against the shipped declarations', async () => {
    const body = (importLine: string): string => `${importLine}
// @ts-expect-error the package has no such export: the declarations are real, not any.
import { noSuchExport } from 'sockprobe';
void noSuchExport;

export function describe(r: ProbeResult): string {
  switch (r.status) {
    case 'open': return \`open in \${r.connectMs} ms\`;
    case 'not-ready': return \`\${r.reason}: \${r.check.detail}\`;
    case 'refused': return r.reason;
    case 'blocked': return r.from ?? 'a filter';
    case 'unreachable': return r.reason;
    case 'timeout': return String(r.synRetransmits);
    case 'local-error': return r.stage;
    case 'dns-error': return r.code;
    default: return assertNever(r);
  }
}

export async function main(signal: AbortSignal): Promise<number> {
  const options: ProbeOptions = { timeout: 100, signal };
  try {
    const r = await probe('127.0.0.1', 1, options);
    // Absent where the engine cannot read it (engine().facts): number | undefined.
    if (isOpen(r)) return r.sndbuf ?? -2;
    // @ts-expect-error sndbuf exists only on open results.
    return r.sndbuf;
  } catch (e) {
    if (e instanceof AbortError) return -1;
    throw e;
  }
}
`;
    const names = 'probe, assertNever, isOpen, AbortError, type ProbeResult, type ProbeOptions';
    const dir = path.join(cjsDir, 'typecheck');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'consumer.ts'), body(`import { ${names} } from 'sockprobe';`));
    fs.writeFileSync(path.join(dir, 'consumer.mts'), body(`import { ${names} } from 'sockprobe';`));
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [path.join(repo, 'node_modules', '@types')],
        },
        files: ['consumer.ts', 'consumer.mts'],
      }),
    );
    const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', dir, '--traceResolution'], { cwd: dir, env: consumerEnv(), timeoutMs: 60_000 });
    expectOk(r, 'tsc on the consumer files');
    // Both resolution modes found the package, each through its own condition.
    expect(r.stdout).toMatch(/'sockprobe' was successfully resolved to '[^']*\/node_modules\/sockprobe\/lib\/index\.d\.ts'/);
    expect(r.stdout).toMatch(/'sockprobe' was successfully resolved to '[^']*\/node_modules\/sockprobe\/esm\/index\.d\.mts'/);
  }, 90_000);

  test('without a usable binary, it loads on the node engine; the message names the platform, what was tried and the ways out', async () => {
    const dir = path.join(tmp, 'no-binary');
    fs.cpSync(path.join(cjsDir, 'node_modules'), path.join(dir, 'node_modules'), { recursive: true });
    fs.rmSync(path.join(dir, 'node_modules', 'sockprobe', 'prebuilds'), { recursive: true });
    const script = "require('sockprobe').probe('127.0.0.1', 1).then((r) => console.log(r.status))";
    const r = await run(process.execPath, ['-e', script], { cwd: dir, env: consumerEnv(), timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('refused\n');
    expect(r.stderr).toContain(`sockprobe: no native binary for ${tuple}`);
    expect(r.stderr).toContain(path.join('prebuilds', tuple));
    expect(r.stderr).toContain(path.join('build', 'Release'));
    expect(r.stderr).toContain('npm install-scripts approve sockprobe');
    expect(r.stderr).toContain('npm rebuild sockprobe');
  }, 60_000);
});
