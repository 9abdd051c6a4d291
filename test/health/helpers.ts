// Helpers shared by the health-check tests: real loopback listeners only.
import { once } from 'node:events';
import * as net from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A listener on 127.0.0.1 (on `port`, or any free port) that accepts, closes
 * and counts each connection: the probes that reached it.
 */
/** Counts accepted connections; closes each at once, or with `hold` keeps it open until close(). */
export async function countingListener(
  port = 0,
  { hold = false }: { hold?: boolean } = {},
): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let n = 0;
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    if (!hold) {
      s.destroy();
      return;
    }
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => n,
    close: () => {
      for (const s of held) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
