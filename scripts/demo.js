#!/usr/bin/env node
// `npm start`: starts listeners of its own on loopback and shows, through the
// `sockprobe` command, what it reports for an open, a refused and a timed-out
// (silent) port, and what `sockprobe explain` says about the refused one.
'use strict';
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { once } = require('node:events');

const BIN = path.join(__dirname, '..', 'bin', 'sockprobe');

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

/** Runs `sockprobe ARGS` with this terminal as its output (colour when it is one). */
async function cli(title, ...args) {
  console.log(`\n== ${title}\n$ sockprobe ${args.join(' ')}`);
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  console.log(`(exit status ${code})`);
}

async function main() {
  const server = net.createServer((s) => s.destroy());
  const openPort = await listen(server);
  const closed = net.createServer();
  const closedPort = await listen(closed);
  await new Promise((r) => closed.close(r));

  await cli('open and refused: a listener of this demo, and a port nothing listens on',
    `127.0.0.1:${openPort}`, `127.0.0.1:${closedPort}`);
  await cli('the full result as JSON', '--json', `127.0.0.1:${openPort}`);
  await cli('why is it refused?', 'explain', `127.0.0.1:${closedPort}`);
  const silent = await silentPort().catch(() => null);
  if (silent) {
    await cli('timeout: accept queue full, SYNs dropped', '--timeout', '1500', `127.0.0.1:${silent.port}`);
    await cli('why does it time out?', 'explain', '--timeout', '1500', `127.0.0.1:${silent.port}`);
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
