#!/usr/bin/env node
// The probe workload scripts/valgrind.sh runs under memcheck: every native
// path a probe can take on loopback (open, refused, timeout at a silent port,
// aborted in flight, settle windows, Unix sockets, bad addresses, a duplicate
// id, a kept socket), then a worker terminated with probes in flight (the cleanup hook).
// Usage: node scripts/valgrind-workload.js [rounds]   (default 40)
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const { Worker } = require('node:worker_threads');
const lib = path.join(__dirname, '..', 'lib');
const { silentPort } = require('./silent-port');
const { probe } = require(lib);
const { native, register, unregister } = require(path.join(lib, 'binding.js'));

const rounds = Number(process.argv[2] ?? 40);

async function main() {
  const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const open = server.address().port;
  const talker = net.createServer((s) => s.on('error', () => undefined).end('hello')).listen(0, '127.0.0.1');
  await once(talker, 'listening');
  const talk = talker.address().port;
  const probeClosed = net.createServer().listen(0, '127.0.0.1');
  await once(probeClosed, 'listening');
  const closed = probeClosed.address().port;
  probeClosed.close();
  const silent = await silentPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-vg-'));
  const sock = path.join(dir, 's.sock');
  const unix = net.createServer((s) => s.destroy()).listen(sock);
  await once(unix, 'listening');

  const counts = {};
  const note = (k) => { counts[k] = (counts[k] || 0) + 1; };
  for (let r = 0; r < rounds; r++) {
    const ac = new AbortController();
    const jobs = [
      probe('127.0.0.1', open, { timeout: 5000 }),
      probe('::1', closed, { timeout: 5000 }).catch((e) => e),
      probe('127.0.0.1', closed, { timeout: 5000, close: 'graceful' }),
      probe('127.0.0.1', silent.port, { timeout: 30 }),
      probe('127.0.0.1', silent.port, { timeout: 10000, signal: ac.signal }).catch((e) => e),
      probe('127.0.0.1', open, { timeout: 5000, settle: 20 }),
      probe('127.0.0.1', talk, { timeout: 5000, settle: 200 }),
      probe({ path: sock }),
      probe({ path: path.join(dir, 'missing.sock') }),
      probe('127.0.0.1', open, { localAddress: '127.0.0.2', timeout: 5000 }),
      probe('::1', open, { localAddress: '::2', timeout: 5000 }).catch((e) => e),
    ];
    setTimeout(() => ac.abort(), 5);
    for (const res of await Promise.all(jobs)) note(res instanceof Error ? res.name : `${res.status}/${res.reason}`);
    // Raw surface: bad addresses, a duplicate id and one out of range (sockprobe's
    // own faults: exceptions, not outcomes), a kept socket, cancel of nothing.
    const internal = (fn) => {
      try {
        fn();
        note('no-exception');
      } catch (e) {
        note(e.code);
      }
    };
    const id = register(() => undefined);
    native.start(id, 4, '127.0.0.1', silent.port, null, 60000, 0);
    internal(() => native.start(id, 4, '127.0.0.1', open, null, 10, 0));
    internal(() => native.start(0xfffffff0, 4, '127.0.0.1', open, null, 10, 0));
    native.cancel(id);
    unregister(id);
    const spare = register(() => undefined);
    note(native.start(spare, 6, '::1%no-such-if', 1, null, 10, 0).stage);
    note(native.start(spare, 0, 'x'.repeat(300), 0, null, 10, 0).stage);
    const kept = native.start(spare, 4, '127.0.0.1', open, null, 5000, 4 /* FLAG_KEEP */);
    if (kept !== undefined && kept.fd !== undefined) {
      note('kept');
      fs.closeSync(kept.fd);
    }
    unregister(spare);
    native.cancel(12345);
  }

  // A worker terminated with probes in flight: the cleanup hook under memcheck.
  const w = new Worker(`
    const { probe } = require(${JSON.stringify(lib)});
    for (let i = 0; i < 20; i++) probe('127.0.0.1', ${silent.port}, { timeout: 60000 }).catch(() => {});
    for (let i = 0; i < 20; i++) probe('127.0.0.1', ${open}, { timeout: 60000, settle: 60000 }).catch(() => {});
    setTimeout(() => require('node:worker_threads').parentPort.postMessage('go'), 200);`, { eval: true });
  await once(w, 'message');
  await w.terminate();

  server.close();
  talker.close();
  unix.close();
  silent.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ rounds, inFlight: native.inFlight(), counts }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
