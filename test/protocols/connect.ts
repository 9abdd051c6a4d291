// Runs a protocol module the plainest way: on a socket from net.connect to
// 127.0.0.1, with no runner in between, and checks that the module removed
// every listener it added, whatever the verdict.
import { once } from 'node:events';
import * as net from 'node:net';
import type { ProtocolCheck, ProtocolVerdict } from '../../src/checks/protocol';

const EVENTS = ['data', 'end', 'error', 'close', 'readable'] as const;

function listenerCounts(socket: net.Socket): number[] {
  return EVENTS.map((e) => socket.listenerCount(e));
}

/** A connected socket to 127.0.0.1:port (its errors absorbed, as the attempt does). */
export async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Connects and runs `check` with `options`; the socket is destroyed afterwards. Throws if a listener was left behind. */
export async function runCheck(check: ProtocolCheck, port: number, options: Record<string, unknown> = {}, signal = AbortSignal.timeout(15000)): Promise<ProtocolVerdict> {
  const socket = await connect(port);
  const before = listenerCounts(socket);
  try {
    return await check.run(socket, { signal, host: '127.0.0.1', options });
  } finally {
    const after = listenerCounts(socket);
    socket.destroy();
    if (after.join() !== before.join()) throw new Error(`${check.name} left listeners behind: ${EVENTS.map((e, i) => `${e} ${before[i]}->${after[i]}`).join(', ')}`);
  }
}

/**
 * `n` connections to `port`, held open (to fill a server's connection limit);
 * close() ends them. With `accepted`, each waits for the server's first bytes
 * and must pass it (a greeting, not a refusal): a connection the server
 * refused (it may still count a client that has just closed, such as the
 * start-up probe's) is replaced, for up to 10 s. `hello` is sent first, for
 * servers that wait for the client to speak.
 */
export async function hold(port: number, n: number, accepted?: (first: Buffer) => boolean, hello?: string): Promise<{ sockets: net.Socket[]; close(): void }> {
  const sockets: net.Socket[] = [];
  const until = Date.now() + 10000;
  while (sockets.length < n) {
    const s = await connect(port);
    if (accepted === undefined) {
      sockets.push(s);
      continue;
    }
    if (hello !== undefined) s.write(hello);
    const [first] = (await once(s, 'data')) as [Buffer];
    if (accepted(first)) {
      sockets.push(s);
      continue;
    }
    s.destroy();
    if (Date.now() > until) throw new Error(`port ${port} kept refusing connection ${sockets.length + 1}: ${first.toString('latin1', 0, 80)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { sockets, close: () => sockets.forEach((s) => s.destroy()) };
}
