// The published package, made the way `npm publish` makes it: shared by package.test.ts and
// windows.test.ts. Copies the repository (sources only) to a temp dir and runs the real
// `npm pack` there, so the real `prepack` runs (tsc, prebuildify, and the cross prebuilds
// whose toolchains are present: scripts/prepack-cross.sh) without touching this checkout's
// build/, lib/ or prebuilds/ while other test files use them.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requirement, type Requirement } from './preconditions';

export const repo = path.resolve(__dirname, '..');
export const npmCli = fs.realpathSync(process.env['npm_execpath'] ?? findOnPath('npm'));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function findOnPath(cmd: string): string {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, cmd);
    if (dir !== '' && fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${cmd} is not on PATH`);
}

export function run(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    // A process group of its own, so that a timeout ends what it started too (npm pack's prepack
    // compilers would otherwise outlive it).
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function expectOk(r: Run, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
}

/**
 * The environment minus everything the npm running jest put in it (npm_config_*, lifecycle vars).
 * Kept: npm_config_nodedir, where node-gyp finds Node's headers offline. Set in an .npmrc, the
 * child npm reads it again anyway; set only in the environment (a user without one), the
 * prepack's prebuildify would otherwise go to nodejs.org for headers.
 */
export function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase() === 'npm_config_nodedir') {
      env[k] = v;
      continue;
    }
    if (/^npm_/i.test(k) || k === 'PREBUILDS_ONLY' || k === 'SOCKPROBE_PREBUILD' || k === 'SOCKPROBE_ENGINE' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return env;
}

export async function npmIn(cwd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return run(process.execPath, [npmCli, ...args], { cwd, env, timeoutMs });
}

const EXCLUDED_TOP = new Set(['node_modules', 'build', 'lib', 'prebuilds', 'coverage', '.git']);

/**
 * How long a pack may take: tsc, prebuildify and, where their toolchains are present, three
 * cross builds (mingw about 50 s, zig some seconds each with a warm ~/.cache/zig) on 2 shared cores.
 */
export const PACK_TIMEOUT_MS = 480_000;

/**
 * `npm pack` of a sources-only copy of the repository into `tmp`: the tarball, its files and npm's
 * output. `env` is added to the environment (SOCKPROBE_CROSS_TARGETS: which cross prebuilds).
 */
export async function packRepo(tmp: string, env: NodeJS.ProcessEnv = {}): Promise<{ tarball: string; files: { path: string; size: number }[]; pack: Run }> {
  const stage = path.join(tmp, 'stage');
  fs.cpSync(repo, stage, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(repo, src);
      const top = rel.split(path.sep)[0] ?? '';
      return !EXCLUDED_TOP.has(top) && !rel.endsWith('.tgz');
    },
  });
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  // The real lifecycle: prepack (tsc, prebuildify --napi --strip, cross prebuilds), prepare.
  const pack = await npmIn(stage, ['pack', '--json', '--pack-destination', tmp], { ...baseEnv(), ...env }, PACK_TIMEOUT_MS - 10_000);
  expectOk(pack, 'npm pack');
  const json = pack.stdout.slice(pack.stdout.search(/^\[/m));
  const [info] = JSON.parse(json) as { filename: string; files: { path: string; size: number }[] }[];
  if (info === undefined) throw new Error(`npm pack printed no result:\n${pack.stdout}`);
  return { tarball: path.join(tmp, info.filename), files: info.files, pack };
}

/** Unpacks `tarball` into `dir`; returns the package's directory (dir/package). */
export async function unpack(tarball: string, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  expectOk(await run('tar', ['-xzf', tarball, '-C', dir], { cwd: dir, env: process.env, timeoutMs: 30_000 }), 'tar');
  return path.join(dir, 'package');
}

/** The cross prebuilds prepack adds when their toolchain is here (scripts/prepack-cross.sh). */
export const CROSS_TARGETS = ['win32-x64', 'darwin-x64', 'darwin-arm64'] as const;
export type CrossTarget = (typeof CROSS_TARGETS)[number];

const crossRequirements = new Map<CrossTarget, Requirement>();

/** prepack can build `target`'s prebuild here: `scripts/prepack-cross.sh --check` says what is missing. */
export function crossToolchain(target: CrossTarget): Requirement {
  let r = crossRequirements.get(target);
  if (r === undefined) {
    r = requirement(`the ${target} cross toolchain (scripts/prepack-cross.sh)`, () => {
      const check = spawnSync('bash', [path.join(repo, 'scripts', 'prepack-cross.sh'), '--check', target], { encoding: 'utf8' });
      if (check.error) return check.error.message;
      return check.status === 0 ? null : check.stdout.trim() || `--check exited with ${String(check.status)}`;
    });
    crossRequirements.set(target, r);
  }
  return r;
}
