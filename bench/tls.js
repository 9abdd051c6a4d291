'use strict';
// The TLS part of `npm run bench` (BENCH_PARTS=tls): sockprobe's tls check
// (probe() with { check: { tls } }) against plain tls.connect() + destroy, the
// same server, the same run, each measurement in its own process.
//   rate: BENCH_TLS_N handshakes (2000), BENCH_TLS_C in flight (32), against a
//         Node TLS server in a child process (EC P-256 certificate made by openssl,
//         trusted through `ca` by both clients); handshakes/s of wall time and per
//         CPU-second of the client process.
//   mem:  BENCH_TLS_K (2000) checks in flight against a server that accepts and
//         never answers the ClientHello: RSS growth per check in flight.
// As a script: `node bench/tls.js server CERT KEY` (the TLS server), `node bench/tls.js
// silent` (the silent acceptor), `node --expose-gc bench/tls.js rate|mem IMPL PORT N C CA`.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { once } = require('node:events');

const N = Number(process.env.BENCH_TLS_N || 2000);
const C = Number(process.env.BENCH_TLS_C || 32);
const K = Number(process.env.BENCH_TLS_K || 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------------- children

function plainTls(port, tlsOptions, timeout) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...tlsOptions });
    s.setTimeout(timeout);
    s.once('secureConnect', () => {
      const ok = s.authorized;
      s.destroy();
      resolve(ok ? 'open' : 'untrusted');
    });
    s.once('error', (e) => {
      s.destroy();
      resolve(e.code);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
  });
}

function checked(lib, port, ca, timeout) {
  return lib.probe('127.0.0.1', port, { timeout, check: { tls: { ca, servername: 'localhost' } } }).then((r) => r.status);
}

async function child(mode, impl, port, n, c, caFile) {
  const lib = require(path.join(__dirname, '..', 'lib'));
  const ca = fs.readFileSync(caFile, 'utf8');
  // 'tls': as a client usually writes it (ca per connect); 'tls-ctx': one secure context made once and shared.
  const shared = impl === 'tls-ctx' ? { secureContext: tls.createSecureContext({ ca }) } : { ca };
  const one = impl.startsWith('tls') ? (t) => plainTls(port, shared, t) : (t) => checked(lib, port, ca, t);
  if (mode === 'rate') {
    const counts = {};
    // Warm up both paths the same way.
    for (let i = 0; i < 50; i++) await one(5000);
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < n) {
          next++;
          const s = await one(10_000);
          counts[s] = (counts[s] || 0) + 1;
        }
      }),
    );
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    return { impl, counts, rate: n / secs, cpuRate: n / ((cpu.user + cpu.system) / 1e6) };
  }
  // mem: n checks pending against a server that accepts and never answers.
  for (let i = 0; i < 100; i++) await one(30);
  await sleep(200);
  global.gc();
  global.gc();
  const before = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) one(60_000).catch(() => undefined);
  await sleep(1500); // every connect done, every ClientHello sent, waiting
  global.gc();
  global.gc();
  const after = process.memoryUsage().rss;
  const heapAfter = process.memoryUsage().heapUsed;
  return { impl, pending: n, perCheck: (after - before) / n, heapPerCheck: (process.memoryUsage().heapUsed - heapBefore) / n, heapAfter };
}

function tlsServer(certFile, keyFile) {
  const server = tls.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (s) => {
    s.on('error', () => undefined);
    s.resume();
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  process.stdin.on('end', () => process.exit(0)).resume();
}

function silentAcceptor() {
  const held = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    held.push(s);
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  process.stdin.on('end', () => process.exit(0)).resume();
}

// ---------------------------------------------------------------- the part

function makeCerts(dir) {
  const run = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=bench root', '-days', '2']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost\n');
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'leaf.pem']);
}

async function startChild(args) {
  const c = spawn(process.execPath, [__filename, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(c.stdout, 'data');
  return { port: Number(String(line).trim()), stop: () => c.stdin.end() };
}

function measure(args, nofile) {
  return new Promise((resolve, reject) => {
    const argv = ['--expose-gc', __filename, ...args.map(String)];
    const c = nofile ? spawn('sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`tls bench child exited ${code}: ${out}`))));
  });
}

/** The TLS part: rate and memory of the tls check against tls.connect() + destroy. */
async function tlsPart() {
  if (spawnSync('openssl', ['version']).status !== 0) {
    console.log('\ntls: openssl not found (apt-get install openssl): part skipped');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-bench-tls-'));
  try {
    makeCerts(dir);
    const ca = path.join(dir, 'ca.pem');
    const server = await startChild(['server', path.join(dir, 'leaf.pem'), path.join(dir, 'leaf.key')]);
    const impls = ['tls', 'tls-ctx', 'probe'];
    const names = { tls: 'tls.connect() + destroy', 'tls-ctx': '  same, shared secureContext', probe: 'probe() { check: { tls } }' };
    try {
      const samples = Object.fromEntries(impls.map((i) => [i, { rate: [], cpuRate: [] }]));
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order so no implementation always runs first or last.
        for (const impl of impls.map((_, k) => impls[(k + round) % impls.length])) {
          const r = await measure(['rate', impl, server.port, N, C, ca]);
          if ((r.counts.open || 0) !== N) console.log(`  note: ${impl} round ${round}: ${JSON.stringify(r.counts)}`);
          samples[impl].rate.push(r.rate);
          samples[impl].cpuRate.push(r.cpuRate);
        }
      }
      for (const metric of ['rate', 'cpuRate']) {
        const what = metric === 'rate' ? 'handshakes/s of wall time' : 'handshakes per CPU-second of the client process';
        console.log(`\ntls handshake + verify, N=${N}, C=${C}, ${ROUNDS} rounds, Node TLS server in its own process: ${what} (median)`);
        const base = median(samples.tls[metric]);
        for (const impl of impls) {
          const m = median(samples[impl][metric]);
          console.log(`  ${names[impl].padEnd(28)} ${m.toFixed(0).padStart(7)}   ${(m / base).toFixed(2)}x tls.connect   samples ${samples[impl][metric].map((x) => x.toFixed(0)).join(' ')}`);
        }
      }
    } finally {
      server.stop();
    }
    const silent = await startChild(['silent']);
    try {
      const per = Object.fromEntries(impls.map((i) => [i, []]));
      const heap = Object.fromEntries(impls.map((i) => [i, []]));
      for (let round = 0; round < 3; round++) {
        for (const impl of impls) {
          const r = await measure(['mem', impl, silent.port, K, 0, ca], K * 2 + 1000);
          per[impl].push(r.perCheck);
          heap[impl].push(r.heapPerCheck);
        }
      }
      console.log(`\ntls memory: RSS growth per check in flight, ${K} waiting for a ServerHello that never comes (median of 3, each in its own process)`);
      const base = median(per.tls);
      for (const impl of impls) {
        const m = median(per[impl]);
        console.log(`  ${names[impl].padEnd(28)} ${(m / 1024).toFixed(2)} KiB  (${(m / base).toFixed(2)}x tls.connect)  JS heap ${median(heap[impl]).toFixed(0)} B  samples ${per[impl].map((x) => (x / 1024).toFixed(2)).join(' ')}`);
      }
    } finally {
      silent.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { tlsPart };

if (require.main === module) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'server') tlsServer(args[0], args[1]);
  else if (mode === 'silent') silentAcceptor();
  else if (mode === 'rate' || mode === 'mem')
    child(mode, args[0], Number(args[1]), Number(args[2]), Number(args[3]), args[4]).then(
      (out) => {
        console.log(JSON.stringify(out));
        process.exit(0);
      },
      (e) => {
        console.error(e);
        process.exit(1);
      },
    );
  else if (mode === 'part' || mode === undefined) tlsPart().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
