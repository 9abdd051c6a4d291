// redis-server (Debian's redis-server package), on an ephemeral loopback port.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Exchange } from '../../src/checks/exchange';
import { respCommand } from '../../src/checks/redis';
import { serverBinary, serverDir, startServer, freePort, type Server } from './harness';

export const redisServer = serverBinary('redis-server', 'redis-server');

/** Starts redis-server with `extra` arguments (e.g. ['--requirepass', 'x']) in a fresh directory, or in `dir`. */
export async function startRedis(extra: readonly string[] = [], dir?: string): Promise<Server> {
  const port = await freePort();
  const d = dir ?? serverDir('redis');
  return startServer({
    name: 'redis-server',
    cmd: redisServer.path(),
    args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', d, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', ...extra],
    port,
    dir: d,
    removeDir: dir === undefined,
  });
}

/** Sends one command over its own connection; resolves with the first line of the reply. */
export async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const ex = new Exchange(socket, AbortSignal.timeout(60000));
  try {
    ex.send(respCommand(...args));
    return await ex.readLine();
  } finally {
    ex.close();
    socket.destroy();
  }
}

/**
 * A redis-server that loads its dataset slowly: `keys` keys written by
 * redis-server itself (DEBUG POPULATE, SAVE), then loaded by a second
 * redis-server at key-load-delay 1000 us per key (a debug config of 7.0),
 * serving events every KiB so that clients get -LOADING meanwhile. Its
 * directory is removed when it stops.
 */
export async function startLoadingRedis(keys = 6000): Promise<Server> {
  const dir = serverDir('redis-rdb');
  const writer = await startRedis(['--enable-debug-command', 'local'], dir);
  try {
    for (const cmd of [['DEBUG', 'POPULATE', String(keys)], ['SAVE']]) {
      const reply = await redisCommand(writer.port, ...cmd);
      if (reply !== '+OK') throw new Error(`redis-server answered ${cmd[0]!} with ${reply}`);
    }
  } finally {
    await writer.stop();
  }
  const loader = await startRedis(['--key-load-delay', '1000', '--loading-process-events-interval-bytes', '1024'], dir);
  const stop = loader.stop;
  return {
    ...loader,
    output: loader.output,
    stop: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
