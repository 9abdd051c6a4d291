// redis-server (Debian's redis-server package), on an ephemeral loopback port.
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
