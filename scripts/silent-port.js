'use strict';
// A silent port for the scripts and the benchmark: a listener that never
// accepts (python3's plain socket API: Node's net.Server always accepts), its
// accept queue filled by three connections, so the kernel drops further SYNs
// and a probe of it times out. Loopback only.
const net = require('node:net');
const { spawn } = require('node:child_process');
const { once } = require('node:events');

/** Listens on bindHost (a loopback address, or 0.0.0.0 for every one of them); resolves to { port, close }. */
async function silentPort(bindHost = '127.0.0.1') {
  const child = spawn('python3', ['-c',
    'import socket,sys\ns=socket.socket(); s.bind((sys.argv[1],0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()',
    bindHost], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  const port = Number(String(line).trim());
  const fillers = [1, 2, 3].map(() => net.connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 300));
  return { port, close: () => { fillers.forEach((s) => s.destroy()); child.stdin.end(); child.kill(); } };
}

module.exports = { silentPort };
