// npm run bench:exporter: /probe under load, sockprobe exporter against
// blackbox_exporter (Debian's prometheus-blackbox-exporter) in one run, with
// wrk (Debian's wrk) on loopback: requests per second and p99 latency for a
// refused and an open target. Loopback only; not a test (figures, no asserts).
//
// Settings: EXPORTER_BENCH_SECONDS (5) per run, EXPORTER_BENCH_ROUNDS (3),
// EXPORTER_BENCH_CONNECTIONS (32), EXPORTER_BENCH_THREADS (1). Medians of the
// rounds; the two exporters alternate within each round.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const SECONDS = Number(process.env.EXPORTER_BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.EXPORTER_BENCH_ROUNDS || 3);
const CONNECTIONS = Number(process.env.EXPORTER_BENCH_CONNECTIONS || 32);
const THREADS = Number(process.env.EXPORTER_BENCH_THREADS || 1);
const BIN = path.join(__dirname, '..', 'bin', 'sockprobe');

function need(cmd, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench:exporter needs ${cmd} (apt-get install ${pkg})`);
    process.exit(2);
  }
}

// A deep accept queue: a full one drops SYNs, and a retransmitted SYN (1 s) would be measured as the exporter's latency.
function listen(handler) {
  return new Promise((resolve) => {
    const s = net.createServer(handler);
    s.listen({ port: 0, host: '127.0.0.1', backlog: 65535 }, () => resolve(s));
  });
}

async function freePort() {
  const s = await listen(() => undefined);
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function start(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const on = (d) => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}): ${out}`)));
  });
}

function wrk(url, seconds = SECONDS) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (out += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk failed: ${out}`));
      const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]);
      const p99m = /\s99%\s+([0-9.]+)(us|ms|s)/.exec(out);
      const p99 = p99m ? Number(p99m[1]) * { us: 0.001, ms: 1, s: 1000 }[p99m[2]] : NaN;
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] || 0);
      const errors = /Socket errors:[^\n]*/.exec(out)?.[0] || '';
      resolve({ rps, p99, non2xx, errors });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function main() {
  need('wrk', 'wrk');
  need('prometheus-blackbox-exporter', 'prometheus-blackbox-exporter');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-bench-exporter-'));
  const children = [];
  const open = await listen((s) => s.destroy());
  const refusedPort = await freePort();
  try {
    const config = path.join(dir, 'blackbox.yml');
    fs.writeFileSync(config, 'modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n');
    const safety = path.join(dir, 'sockprobe.yml');
    // The allowlist on (it is checked on every request), the limits off: this measures throughput.
    fs.writeFileSync(safety, 'allow:\n  - hosts: [127.0.0.0/8]\nlimits:\n  concurrent_per_client: 0\n  requests_per_second: 0\n');
    const spPort = await freePort();
    const bbPort = await freePort();
    children.push(await start(process.execPath, [BIN, 'exporter', '--config.file', config, '--sockprobe.config.file', safety, '--web.listen-address', `127.0.0.1:${spPort}`], /Listening on/));
    // --log.level=error: blackbox logs every failed probe at error level anyway, as it does in production.
    children.push(await start('prometheus-blackbox-exporter', ['--config.file', config, '--web.listen-address', `127.0.0.1:${bbPort}`], /Listening on/));
    const exporters = [
      ['sockprobe exporter', spPort],
      ['blackbox_exporter', bbPort],
    ];
    const targets = [
      ['refused', refusedPort],
      ['open', open.address().port],
    ];
    // Warm-up, not measured: a fresh Node process answers its first seconds slower (the JIT tiers up).
    for (const [, eport] of exporters) for (const [, tport] of targets) await wrk(`http://127.0.0.1:${eport}/probe?module=tcp_connect&target=127.0.0.1:${tport}`, SECONDS);
    const results = new Map();
    console.log(`wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} rounds, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [tname, tport] of targets) {
        for (const [ename, eport] of round % 2 === 0 ? exporters : [...exporters].reverse()) {
          const r = await wrk(`http://127.0.0.1:${eport}/probe?module=tcp_connect&target=127.0.0.1:${tport}`);
          const key = `${tname}\0${ename}`;
          if (!results.has(key)) results.set(key, []);
          results.get(key).push(r);
          console.log(`  round ${round + 1} ${tname.padEnd(7)} ${ename.padEnd(18)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99.toFixed(2)} ms${r.non2xx ? `  NON-2XX ${r.non2xx}` : ''} ${r.errors}`);
        }
      }
    }
    console.log('\n| target | exporter | req/s (median) | p99 ms (median) | throughput vs blackbox_exporter | p99 vs blackbox_exporter |');
    console.log('|---|---|---|---|---|---|');
    for (const [tname] of targets) {
      const bb = results.get(`${tname}\0blackbox_exporter`);
      for (const [ename] of exporters) {
        const rs = results.get(`${tname}\0${ename}`);
        const rps = median(rs.map((r) => r.rps));
        const p99 = median(rs.map((r) => r.p99));
        const brps = median(bb.map((r) => r.rps));
        const bp99 = median(bb.map((r) => r.p99));
        console.log(`| ${tname} | ${ename} | ${rps.toFixed(0)} | ${p99.toFixed(2)} | ${(rps / brps).toFixed(2)}x | ${(p99 / bp99).toFixed(2)}x |`);
      }
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    open.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
