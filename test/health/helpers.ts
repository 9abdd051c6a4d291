// Helpers shared by the health-check tests: real loopback listeners only.
import { once } from 'node:events';
import * as http from 'node:http';
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

export async function serve(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(port: number, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format (0.0.4): every line must be a comment or a sample. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let lm: RegExpExecArray | null;
    let consumed = 0;
    while ((lm = re.exec(body)) !== null) {
      labels[lm[1] as string] = (lm[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels in: ${line}`);
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

export function sample(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
