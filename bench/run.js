'use strict';
// `npm run bench`: sockprobe against the kernel's limit (a C prober) and against
// the net.Socket approach, on loopback only, with a bounded number of probes.
//
// Settings (environment): BENCH_N (probes per run, 50000), BENCH_C (in flight, 256),
// BENCH_ROUNDS (5), BENCH_MEM_K (pending probes for the memory test, 10000),
// BENCH_FLOOD (probes in flight at once, 50000), BENCH_PARTS (rate,mem,flood,tls; tls: see bench/tls.js),
// BENCH_IMPLS (c,cfull,net,probe,many,probe@uv,many@uv,probe@old,many@old; cfull = the
// C prober also making sockprobe's report syscalls: IP_RECVERR, error queue, TCP_INFO;
// @uv = the same build with the libuv readiness backend (SOCKPROBE_ENGINE=uv) instead
// of epoll; @old = the same API from the baseline commit BENCH_BASELINE, built in a
// temporary directory for this run, so old and new engines are compared in the same run).
// BENCH_FLOOD_ENGINES (epoll,uv): the backends the flood part runs, compared as ratios.
// Every measurement runs in its own child process; figures are medians of the rounds,
// ratios are taken between medians of the same run.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { silentPort } = require('../scripts/silent-port');

const N = Number(process.env.BENCH_N || 50_000);
const C = Number(process.env.BENCH_C || 256);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const MEM_K = Number(process.env.BENCH_MEM_K || 10_000);
const FLOOD = Number(process.env.BENCH_FLOOD || 50_000);
const PARTS = (process.env.BENCH_PARTS || 'rate,mem,flood,tls').split(',');
const IMPLS = (process.env.BENCH_IMPLS || 'c,cfull,net,probe,many,probe@uv,many@uv,probe@old,many@old').split(',');
const FLOOD_ENGINES = (process.env.BENCH_FLOOD_ENGINES || 'epoll,uv').split(',');
// The last commit before the connector seam (issue 13): the engine it replaced.
const BASELINE = process.env.BENCH_BASELINE || 'b10f622';

const here = __dirname;
// Built fresh each run into the temp directory (node-gyp owns build/ and wipes it).
const cprober = path.join(require('node:os').tmpdir(), `sockprobe-cprober-${process.pid}`);
const worker = path.join(here, 'worker.js');

function buildC() {
  process.on('exit', () => fs.rmSync(cprober, { force: true }));
  const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', cprober, path.join(here, 'cprober.c')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cc failed to build bench/cprober.c');
}

/**
 * Builds BASELINE's addon and lib/ in a temporary directory (git archive, this
 * checkout's node_modules, node-gyp and tsc offline). Returns its lib/ path, or
 * null with the reason printed when that cannot be done (no git history, say).
 */
function buildBaseline() {
  const root = path.join(here, '..');
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sockprobe-baseline-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const sh = (cmd, cwd = dir) => spawnSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const steps = [
    [`git -C ${JSON.stringify(root)} archive ${BASELINE} | tar -x -C ${JSON.stringify(dir)}`, 'git archive'],
    [`ln -s ${JSON.stringify(path.join(root, 'node_modules'))} node_modules`, 'link node_modules'],
    ['npx node-gyp rebuild', 'node-gyp'],
    ['npx tsc -p tsconfig.json', 'tsc'],
  ];
  for (const [cmd, name] of steps) {
    const r = sh(cmd);
    if (r.status !== 0) {
      console.log(`  baseline ${BASELINE}: ${name} failed, old engine not measured (${String(r.stderr).trim().split('\n').pop()})`);
      return null;
    }
  }
  return path.join(dir, 'lib');
}

let baselineLib;

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ? { ...process.env, ...env } : process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(new Error(`bad output from ${cmd}: ${out}`));
      }
    });
  });
}

async function closedPort() {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** The C listener: accepts and closes in a tight epoll loop, so the open runs measure the prober. */
async function cListener() {
  const child = spawn(cprober, ['listen', '127.0.0.1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { port: Number(String(line).trim()), stop: () => child.stdin.end() };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function rateOnce(impl, port) {
  if (impl === 'c') return run(cprober, ['probe', '127.0.0.1', String(port), String(N), String(C), '10000']);
  if (impl === 'cfull') return run('env', ['CPROBER_FULL=1', cprober, 'probe', '127.0.0.1', String(port), String(N), String(C), '10000']);
  if (impl.endsWith('@uv')) {
    return run(process.execPath, [worker, 'rate', impl.slice(0, -3), '127.0.0.1', String(port), String(N), String(C)], { SOCKPROBE_ENGINE: 'uv' });
  }
  if (impl.endsWith('@old')) {
    return run(process.execPath, [worker, 'rate', impl.slice(0, -4), '127.0.0.1', String(port), String(N), String(C)], { BENCH_LIB: baselineLib });
  }
  return run(process.execPath, [worker, 'rate', impl, '127.0.0.1', String(port), String(N), String(C)]);
}

async function rates() {
  if (IMPLS.some((i) => i.endsWith('@old'))) {
    baselineLib = buildBaseline();
    if (baselineLib === null) IMPLS.splice(0, IMPLS.length, ...IMPLS.filter((i) => !i.endsWith('@old')));
    else console.log(`baseline: ${BASELINE} (the engine before the connector seam), built in ${path.dirname(baselineLib)}`);
  }
  const closed = await closedPort();
  const listener = await cListener();
  const targets = [
    ['refused', closed, 'refused'],
    ['open', listener.port, 'open'],
  ];
  try {
    for (const [label, port, expect] of targets) {
      const samples = Object.fromEntries(IMPLS.map((i) => [i, { rate: [], cpuRate: [] }]));
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order so no implementation always runs first or last.
        const order = IMPLS.map((_, k) => IMPLS[(k + round) % IMPLS.length]);
        for (const impl of order) {
          const r = await rateOnce(impl, port);
          const ok = impl === 'c' || impl === 'cfull' ? r[expect] : (r.counts && r.counts[expect]) || 0;
          if (ok !== N) console.log(`  note: ${impl} ${label} round ${round}: ${JSON.stringify(r.counts || r)}`);
          samples[impl].rate.push(r.rate);
          samples[impl].cpuRate.push(r.cpuRate);
        }
      }
      for (const metric of ['rate', 'cpuRate']) {
        const med = Object.fromEntries(IMPLS.map((i) => [i, median(samples[i][metric])]));
        const what = metric === 'rate' ? 'probes/s of wall time' : 'probes per CPU-second of the prober process';
        console.log(`\n${label} port, N=${N}, C=${C}, ${ROUNDS} rounds: ${what} (median; ratios of medians)`);
        console.log('  impl                median    vs C   vs net.Socket   samples');
        for (const impl of IMPLS) {
          const vsC = med.c ? (med[impl] / med.c).toFixed(2) + 'x' : '-';
          const vsNet = med.net ? (med[impl] / med.net).toFixed(2) + 'x' : '-';
          const name = { c: 'C prober', cfull: 'C + report', net: 'net.Socket', probe: 'probe()', many: 'probeMany', 'probe@uv': 'probe() uv', 'many@uv': 'probeMany uv', 'probe@old': `probe() ${BASELINE}`, 'many@old': `probeMany ${BASELINE}` }[impl];
          console.log(`  ${name.padEnd(18)} ${med[impl].toFixed(0).padStart(7)}   ${vsC.padStart(5)}   ${vsNet.padStart(8)}        ${samples[impl][metric].map((x) => x.toFixed(0)).join(' ')}`);
        }
        for (const api of ['probe', 'many']) {
          if (med[api] && med[`${api}@uv`]) console.log(`  uv backend vs epoll, ${api === 'probe' ? 'probe()' : 'probeMany'}: ${(med[`${api}@uv`] / med[api]).toFixed(2)}x`);
        }
      }
    }
  } finally {
    listener.stop();
  }
}

async function memory() {
  const silent = await silentPort();
  try {
    const out = {};
    for (const impl of ['net', 'net-lib', 'probe', 'probe-signal']) {
      const per = [];
      for (let round = 0; round < 3; round++) {
        const r = await run(process.execPath, ['--expose-gc', worker, 'mem', impl, String(silent.port), String(MEM_K)]);
        if (r.inFlight !== MEM_K) console.log(`  note: ${impl}: ${r.inFlight} of ${MEM_K} in flight`);
        per.push(r.perProbe);
        out[impl] = { ...r, perProbe: median(per) };
      }
      out[impl].samples = per;
    }
    console.log(`\nmemory: RSS growth per in-flight probe, ${MEM_K} pending on a silent port (median of 3, each in its own process)`);
    const names = { net: 'net.Socket (bare: socket + error listener)', 'net-lib': 'net.Socket as is-port-reachable wraps it', probe: 'probe()', 'probe-signal': 'probe() with an AbortSignal' };
    for (const impl of Object.keys(names)) {
      const o = out[impl];
      const ratio = `${(o.perProbe / out.net.perProbe).toFixed(2)}x bare, ${(o.perProbe / out['net-lib'].perProbe).toFixed(2)}x wrapped`;
      console.log(`  ${names[impl].padEnd(44)} ${(o.perProbe / 1024).toFixed(2)} KiB  (${ratio})  JS heap ${o.heapPerProbe.toFixed(0)} B  samples ${o.samples.map((x) => (x / 1024).toFixed(2)).join(' ')}`);
    }
  } finally {
    silent.close();
  }
}

async function floodTest() {
  // A silent port (bound to every loopback address, its one accept queue
  // full): no answer comes, so every probe stays in flight until its deadline.
  // (A refused port no longer shows this: on loopback the RST is known when
  // connect() returns, and such probes end inside start().)
  const silent = await silentPort('0.0.0.0');
  const closed = silent.port;
  // 50,000 sockets open at once to one address would need 50,000 source ports:
  // spread them over four loopback destinations (the port range is per destination).
  const addrs = '127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4';
  const nofile = String(FLOOD * 2 + 1000);
  let count = FLOOD;
  let cmd = 'prlimit';
  let args = [`--nofile=${nofile}:${nofile}`, process.execPath, worker, 'flood', addrs, String(closed)];
  if (spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, 'true']).status !== 0) {
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it, go as far as the hard limit allows.
    const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn']).stdout.toString().trim());
    count = Math.min(FLOOD, hard - 500);
    console.log(`\nflood: cannot raise RLIMIT_NOFILE to ${nofile} here (no CAP_SYS_RESOURCE); hard limit ${hard}, so ${count} in flight instead of ${FLOOD}`);
    cmd = 'sh';
    args = ['-c', `ulimit -n ${hard} && exec "$0" "$@"`, process.execPath, worker, 'flood', addrs, String(closed)];
  }
  // Every probe here is watched by the backend (nothing answers inside
  // connect()), so this part is where the two readiness backends differ.
  const byEngine = {};
  try {
    for (const engine of FLOOD_ENGINES) {
      const r = await run(cmd, [...args, String(count)], { SOCKPROBE_ENGINE: engine });
      byEngine[engine] = r;
      console.log(`\nflood (${r.backend} backend): ${count} probes in flight at once via probeMany against a silent port, deadline 3 s (RLIMIT_NOFILE soft/hard ${r.nofile} in the child)`);
      console.log(`  in flight after starting: ${r.peakInFlight}, started in ${r.startSeconds.toFixed(3)} s, all done in ${r.seconds.toFixed(2)} s, results ${JSON.stringify(r.counts)}, in flight after: ${r.inFlightAfter}`);
    }
  } finally {
    silent.close();
  }
  const { epoll, uv } = byEngine;
  if (epoll && uv) {
    // Throughput ratios: probes started per second, and past the common 3 s deadline, probes ended per second.
    const startRatio = epoll.startSeconds / uv.startSeconds;
    const endRatio = Math.max(epoll.seconds - 3, 1e-3) / Math.max(uv.seconds - 3, 1e-3);
    console.log(`  uv backend vs epoll: starting ${startRatio.toFixed(2)}x, ending after the deadline ${endRatio.toFixed(2)}x (throughput; 1.00x = same)`);
  }
}

async function main() {
  buildC();
  console.log(`sockprobe bench: node ${process.version}, ${require('node:os').cpus().length} cpus, loopback only`);
  if (PARTS.includes('rate')) await rates();
  if (PARTS.includes('mem')) await memory();
  if (PARTS.includes('flood')) await floodTest();
  // The tls check against tls.connect(): its own file (bench/tls.js), its own settings (BENCH_TLS_*).
  if (PARTS.includes('tls')) await require('./tls').tlsPart();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
