#!/usr/bin/env node
// `npm start`: starts listeners of its own on loopback and shows what
// sockprobe reports for an open, a refused and a timed-out (silent) port.
'use strict';
const net = require('node:net');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const { probe } = require('../lib');

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

// A silent port: a listener that never accepts, with its queue filled, so the
// kernel drops further SYNs. Node's net.Server always accepts, so python3's
// plain socket API holds it (python3 is already needed to build the addon).
async function silentPort() {
  const child = spawn('python3', ['-c',
    'import socket,sys\ns=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()'],
  { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('error', () => undefined);
  const [line] = await Promise.race([once(child.stdout, 'data'), once(child, 'error')]);
  const port = Number(String(line).trim());
  if (!Number.isInteger(port)) return null;
  const fillers = [1, 2, 3].map(() => net.connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 200));
  return { port, close: () => { fillers.forEach((s) => s.destroy()); child.kill(); } };
}

function show(title, r) {
  console.log(`\n== ${title}`);
  console.log(`   status=${r.status} reason=${r.reason} code=${r.code} in ${r.elapsedMs} ms`);
  console.log(JSON.stringify(r, null, 2).replace(/^/gm, '   '));
}

async function main() {
  const server = net.createServer((s) => s.destroy());
  const openPort = await listen(server);
  const closed = net.createServer();
  const closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  show(`open: 127.0.0.1:${openPort} (a listener of this demo)`, await probe('127.0.0.1', openPort));
  show(`refused: 127.0.0.1:${closedPort} (nothing listens)`, await probe('127.0.0.1', closedPort));
  const silent = await silentPort().catch(() => null);
  if (silent) {
    show(`timeout: 127.0.0.1:${silent.port} (accept queue full, SYNs dropped)`, await probe('127.0.0.1', silent.port, { timeout: 1500 }));
    silent.close();
  } else {
    console.log('\n== timeout: skipped (python3 not found to hold a silent listener)');
  }
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
