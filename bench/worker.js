'use strict';
// One measurement per process, started by bench/run.js, printing one JSON line.
//   rate net|probe|many ADDRS PORT N C      throughput of N probes, C in flight
//   mem net|probe PORT K                     RSS growth with K probes pending on a silent port
//   flood ADDRS PORT N                       N probes in flight at once through probeMany
// ADDRS is a comma-separated list of 127.x addresses, used round-robin.
const net = require('node:net');
const path = require('node:path');
// BENCH_LIB: another build's lib/ (bench/run.js builds the baseline commit's there).
const libDir = process.env.BENCH_LIB || path.join(__dirname, '..', 'lib');
const lib = require(libDir);
const { native } = require(path.join(libDir, 'binding'));

const TIMEOUT = 10_000;

/** The net.Socket approach of is-port-reachable / wait-port / tcp-port-used: connect, then destroy. */
function netProbe(host, port, timeout) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeout);
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (e) => {
      socket.destroy();
      resolve(e.code === 'ECONNREFUSED' ? 'refused' : e.code);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
  });
}

function count(counts, key) {
  counts[key] = (counts[key] || 0) + 1;
}

/** How an application calls a promise API: await in a loop, C loops at once. */
async function limited(n, c, addrs, fn, counts) {
  let next = 0;
  const loop = async () => {
    while (next < n) {
      const i = next++;
      count(counts, await fn(addrs[i % addrs.length]));
    }
  };
  await Promise.all(Array.from({ length: c }, loop));
}

async function rate(impl, addrs, port, n, c) {
  const counts = {};
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  if (impl === 'net') {
    await limited(n, c, addrs, (a) => netProbe(a, port, TIMEOUT), counts);
  } else if (impl === 'probe') {
    await limited(n, c, addrs, async (a) => (await lib.probe(a, port, { timeout: TIMEOUT })).status, counts);
  } else if (impl === 'many') {
    const targets = new Array(n);
    for (let i = 0; i < n; i++) targets[i] = { host: addrs[i % addrs.length], port };
    for await (const r of lib.probeMany(targets, { concurrency: c, timeout: TIMEOUT })) count(counts, r.status);
  } else {
    throw new Error(`unknown impl ${impl}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(c0);
  const cpu = (used.user + used.system) / 1e6;
  return { probes: n, seconds, cpu, rate: n / seconds, cpuRate: n / cpu, counts };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rss() {
  global.gc();
  global.gc();
  return process.memoryUsage().rss;
}

async function mem(impl, port, k) {
  // Warm up: load and JIT everything the measured probes use.
  const warm = [];
  for (let i = 0; i < 200; i++) {
    if (impl.startsWith('net')) warm.push(netProbe('127.0.0.1', port, 50));
    else warm.push(lib.probe('127.0.0.1', port, { timeout: 50 }));
  }
  await Promise.all(warm);
  await sleep(200);
  const before = rss();
  const heapBefore = process.memoryUsage().heapUsed;
  const ac = new AbortController();
  require('node:events').setMaxListeners(0, ac.signal);
  const sockets = [];
  for (let i = 0; i < k; i++) {
    if (impl === 'net') {
      // The bare minimum: a socket and one error listener.
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      sockets.push(s);
    } else if (impl === 'net-lib') {
      // As is-port-reachable & co. wrap it: a promise, a timeout, three listeners.
      netProbe('127.0.0.1', port, 60_000);
    } else {
      // 'probe': as an application calls it with a timeout; 'probe-signal': with an AbortSignal too.
      const options = impl === 'probe-signal' ? { timeout: 60_000, signal: ac.signal } : { timeout: 60_000 };
      lib.probe('127.0.0.1', port, options).catch(() => undefined);
    }
  }
  await sleep(1000); // let every connect get under way (SYN sent, waiting)
  const after = rss();
  const heapAfter = process.memoryUsage().heapUsed;
  const inFlight = impl === 'net' ? sockets.filter((s) => s.connecting).length : impl === 'net-lib' ? k : native.inFlight();
  // Leave without waiting: exiting closes every socket (the addon's cleanup hook for probes).
  return { impl, pending: k, inFlight, rssGrowth: after - before, perProbe: (after - before) / k, heapPerProbe: (heapAfter - heapBefore) / k };
}

async function flood(addrs, port, n) {
  const targets = new Array(n);
  for (let i = 0; i < n; i++) targets[i] = { host: addrs[i % addrs.length], port };
  const counts = {};
  const t0 = process.hrtime.bigint();
  const it = lib.probeMany(targets, { concurrency: n, timeout: 3000 });
  // probeMany starts every probe before the first next() returns: all are in flight now.
  const first = it.next();
  const startSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakInFlight = native.inFlight();
  for (let step = await first; !step.done; step = await it.next()) count(counts, `${step.value.status}/${step.value.code}`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { execSync } = require('node:child_process');
  const nofile = execSync(`prlimit --pid ${process.pid} --nofile --output SOFT,HARD --noheadings`).toString().trim();
  return { probes: n, backend: native.backend, peakInFlight, startSeconds, seconds, counts, nofile, inFlightAfter: native.inFlight() };
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  let out;
  if (mode === 'rate') out = await rate(args[0], args[1].split(','), Number(args[2]), Number(args[3]), Number(args[4]));
  else if (mode === 'mem') out = await mem(args[0], Number(args[1]), Number(args[2]));
  else if (mode === 'flood') out = await flood(args[0].split(','), Number(args[1]), Number(args[2]));
  else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
