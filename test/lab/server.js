// A listener for the lab, run inside the server namespace:
// `ip netns exec NS node server.js MODE HOST PORT`. Prints "ready" once listening.
//   accept:  accepts and keeps the connection open (a healthy service)
//   reset:   accepts and resets at once (a proxy whose backend is down)
//   close:   accepts and closes with a FIN at once
//   greet:   accepts and sends a line first (a server that speaks first)
'use strict';
const net = require('node:net');

const [mode, host, portArg] = process.argv.slice(2);
const port = Number(portArg);

const server = net.createServer((socket) => {
  socket.on('error', () => undefined);
  if (mode === 'reset') socket.resetAndDestroy();
  else if (mode === 'close') socket.end();
  else if (mode === 'greet') socket.write('hello\n');
});
server.listen({ host, port }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
