// Registered connections in healthHandler and monitor: real loopback sockets.
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { healthHandler, inspect, monitor, type HealthReport, type MonitorStatus } from '../../src';
import { tmpDir } from '../helpers';
import { nativeEngine, needs } from '../preconditions';
import { parseMetrics, request, sample, serve, sleep } from './helpers';

interface Pair {
  client: net.Socket;
  server: net.Socket;
  close(): Promise<void>;
}

/** A connected loopback pair; with `pause` the server side does not read (its RST stays in the kernel). */
async function pair(pause = false): Promise<Pair> {
  const listener = net.createServer({ pauseOnConnect: pause });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  const [server] = await accepted;
  server.on('error', () => undefined);
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise((r) => listener.close(r));
    },
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Resets the connection from the client side and waits until the (paused) server side holds the error. */
async function resetFromPeer(p: Pair): Promise<void> {
  p.client.resetAndDestroy();
  await until(() => inspect(p.server).error !== null);
}

// Registered connections are read with inspect(), which needs the addon.
const addon = needs(nativeEngine);

addon.describe('healthHandler() with registered connections', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  test('a healthy connection is in the JSON report and in the metrics; only the registered one', async () => {
    const p = await pair();
    cleanup.push(p.close);
    const other = await pair();
    cleanup.push(other.close);
    const h = await serve(healthHandler([], { cacheMs: 0, connections: [{ name: 'db', socket: p.client }] }));
    cleanup.push(h.close);

    const a = await request(h.port, '/');
    expect(a.status).toBe(200);
    const r = JSON.parse(a.body) as HealthReport;
    expect(r.targets).toEqual([]);
    expect(r.connections).toEqual([
      {
        connection: 'db',
        ok: true,
        reason: 'ok',
        message: expect.any(String),
        snapshot: expect.objectContaining({ state: 'established', error: null, peerClosed: false, sendQueue: 0 }),
      },
    ]);
    expect(r.connections[0]?.snapshot?.fd).toBe(inspect(p.client).fd);

    const m = parseMetrics((await request(h.port, '/metrics')).body);
    const db = { connection: 'db' };
    expect(sample(m, 'sockprobe_connection_healthy', db)).toBe(1);
    expect(sample(m, 'sockprobe_connection_rtt_seconds', db)).toBeGreaterThan(0);
    expect(sample(m, 'sockprobe_connection_total_retrans', db)).toBeGreaterThanOrEqual(0);
    expect(sample(m, 'sockprobe_connection_retransmits', db)).toBe(0);
    expect(sample(m, 'sockprobe_connection_send_queue_bytes', db)).toBe(0);
    expect(sample(m, 'sockprobe_connection_recv_queue_bytes', db)).toBe(0);
    expect(sample(m, 'sockprobe_connection_snd_cwnd_segments', db)).toBeGreaterThan(0);
    // One series per registered connection, nothing else.
    expect(m.filter((s) => s.name.startsWith('sockprobe_connection_')).every((s) => s.labels.connection === 'db')).toBe(true);
    // Gauges, not counters (a name can get a new socket whose counters start from zero).
    expect((await request(h.port, '/metrics')).body).toContain('# TYPE sockprobe_connection_total_retrans gauge');

    // The socket still works after being inspected each round.
    p.server.write('ping');
    const [data] = (await once(p.client, 'data')) as [Buffer];
    expect(data.toString()).toBe('ping');
  });

  test('register() shows at once (even within the cache time); unregister() removes report and series', async () => {
    const p = await pair();
    cleanup.push(p.close);
    const handler = healthHandler([], { cacheMs: 60_000 });
    const h = await serve(handler);
    cleanup.push(h.close);
    expect((JSON.parse((await request(h.port, '/')).body) as HealthReport).connections).toEqual([]);

    handler.register('cache', p.client, { maxRetransmits: 5 });
    const r = JSON.parse((await request(h.port, '/')).body) as HealthReport;
    expect(r.connections.map((c) => [c.connection, c.ok])).toEqual([['cache', true]]);
    expect(sample(parseMetrics((await request(h.port, '/metrics')).body), 'sockprobe_connection_healthy', { connection: 'cache' })).toBe(1);

    expect(handler.unregister('cache')).toBe(true);
    expect(handler.unregister('cache')).toBe(false);
    expect((JSON.parse((await request(h.port, '/')).body) as HealthReport).connections).toEqual([]);
    const m = parseMetrics((await request(h.port, '/metrics')).body);
    expect(m.filter((s) => s.name.startsWith('sockprobe_connection_'))).toEqual([]);
    // The socket is untouched: no listener of ours left on it.
    expect(p.client.listenerCount('close')).toBe(0);
    expect(p.client.destroyed).toBe(false);
  });

  test('a connection whose peer reset it is unhealthy (pending error), and the application still gets its ECONNRESET', async () => {
    const p = await pair(true);
    cleanup.push(p.close);
    const ok = await pair();
    cleanup.push(ok.close);
    const handler = healthHandler([], { cacheMs: 0 });
    handler.register('upstream', p.server);
    handler.register('db', ok.client);
    const h = await serve(handler);
    cleanup.push(h.close);
    expect((await request(h.port, '/')).status).toBe(200);

    await resetFromPeer(p);
    for (let i = 0; i < 2; i++) {
      // Twice: inspecting does not take the error away.
      const a = await request(h.port, '/');
      expect(a.status).toBe(503);
      const r = JSON.parse(a.body) as HealthReport;
      expect(r.status).toBe('unhealthy');
      expect(r.connections).toEqual([
        expect.objectContaining({ connection: 'upstream', ok: false, reason: 'pending-error', snapshot: expect.objectContaining({ error: { taken: false } }) }),
        expect.objectContaining({ connection: 'db', ok: true, reason: 'ok' }),
      ]);
    }
    const m = parseMetrics((await request(h.port, '/metrics')).body);
    expect(sample(m, 'sockprobe_connection_healthy', { connection: 'upstream' })).toBe(0);
    expect(sample(m, 'sockprobe_connection_healthy', { connection: 'db' })).toBe(1);

    // The application reads: it sees the reset, the socket closes and is unregistered.
    const errored = once(p.server, 'error') as Promise<[NodeJS.ErrnoException]>;
    p.server.resume();
    expect((await errored)[0].code).toBe('ECONNRESET');
    await until(() => p.server.closed);
    const after = await request(h.port, '/');
    expect(after.status).toBe(200);
    expect((JSON.parse(after.body) as HealthReport).connections.map((c) => c.connection)).toEqual(['db']);
  });

  test('a socket destroyed before a round is reported (503, reason destroyed), not a crash; gone once it closes', async () => {
    const p = await pair();
    cleanup.push(p.close);
    const q = await pair();
    cleanup.push(q.close);
    const handler = healthHandler([], { cacheMs: 0, connections: [{ name: 'db', socket: p.client }] });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    cleanup.push(async () => void process.off('warning', onWarning));
    // The socket is destroyed just before the health handler runs, in the same tick ('close' comes later).
    let destroyNext: net.Socket | null = null;
    const h = await serve((req, res) => {
      destroyNext?.destroy();
      destroyNext = null;
      handler(req, res);
    });
    cleanup.push(h.close);
    expect((await request(h.port, '/')).status).toBe(200);

    destroyNext = p.client;
    const a = await request(h.port, '/');
    expect(a.status).toBe(503);
    const r = JSON.parse(a.body) as HealthReport;
    expect(r.connections).toEqual([
      { connection: 'db', ok: false, reason: 'destroyed', message: 'the socket was destroyed', snapshot: null },
    ]);
    // The same in the metrics (another socket: the first one is unregistered as soon as it closes).
    handler.register('db2', q.client);
    destroyNext = q.client;
    const m = parseMetrics((await request(h.port, '/metrics')).body);
    expect(sample(m, 'sockprobe_connection_healthy', { connection: 'db2' })).toBe(0);
    expect(sample(m, 'sockprobe_connection_rtt_seconds', { connection: 'db2' })).toBeUndefined();

    await until(() => p.client.closed && q.client.closed);
    const later = await request(h.port, '/');
    expect(later.status).toBe(200);
    expect((JSON.parse(later.body) as HealthReport).connections).toEqual([]);
    expect(warnings).toEqual([]);
  });

  test('register() checks its arguments; a bad entry in connections registers nothing', async () => {
    const p = await pair();
    cleanup.push(p.close);
    const handler = healthHandler([]);
    expect(() => handler.register('x', {} as net.Socket)).toThrow(TypeError);
    expect(() => handler.register('', p.client)).toThrow(RangeError);
    expect(() => handler.register(1 as unknown as string, p.client)).toThrow(TypeError);
    expect(() => handler.register('x', p.client, { maxRetransmits: -1 })).toThrow(RangeError);
    expect(() => handler.register('x', p.client, { maxSendQueue: 1.5 })).toThrow(RangeError);
    expect(() => healthHandler([], { connections: {} as never })).toThrow(TypeError);
    expect(() =>
      healthHandler([], {
        connections: [
          { name: 'a', socket: p.client },
          { name: 'a', socket: p.server },
        ],
      }),
    ).toThrow(RangeError);
    expect(() => healthHandler([], { connections: [{ name: 'a', socket: p.client }, { name: 'b', socket: 'no' as never }] })).toThrow(TypeError);
    // Nothing was left registered on the socket by the failed constructions.
    expect(p.client.listenerCount('close')).toBe(0);

    const gone = await pair();
    gone.client.destroy();
    expect(() => handler.register('gone', gone.client)).toThrow(/destroyed/);
    await gone.close();

    // A connected Unix socket cannot be inspected: refused at once.
    const file = path.join(tmpDir(), 'c.sock');
    const us = net.createServer((s) => s.on('error', () => undefined)).listen(file);
    await once(us, 'listening');
    const uc = net.connect(file);
    await once(uc, 'connect');
    expect(() => handler.register('unix', uc)).toThrow(/Unix domain socket/);
    uc.destroy();
    await new Promise((r) => us.close(r));
  });
});

addon.describe('monitor() with registered connections', () => {
  test('connections count toward the state; a peer reset makes it unhealthy; unregister and stop release the socket', async () => {
    const p = await pair(true);
    const q = await pair();
    const m = monitor([], { periodMs: 50, connections: [{ name: 'db', socket: q.client }] });
    try {
      let [status] = (await once(m, 'round')) as [MonitorStatus];
      expect(status.state).toBe('healthy');
      expect(status.connections).toEqual([expect.objectContaining({ connection: 'db', ok: true, reason: 'ok' })]);

      m.register('upstream', p.server);
      await resetFromPeer(p);
      const [to] = (await once(m, 'state')) as [string, string];
      expect(to).toBe('unhealthy');
      status = m.status();
      expect(status.connections.find((c) => c.connection === 'upstream')).toMatchObject({ ok: false, reason: 'pending-error' });

      expect(m.unregister('upstream')).toBe(true);
      const [back] = (await once(m, 'state')) as [string, string];
      expect(back).toBe('healthy');
      expect(m.status().connections.map((c) => c.connection)).toEqual(['db']);
    } finally {
      m.stop();
      expect(q.client.listenerCount('close')).toBe(0);
      // A stopped monitor registers nothing (nothing would unregister it).
      m.register('late', q.client);
      expect(q.client.listenerCount('close')).toBe(0);
      await p.close();
      await q.close();
    }
  });
});
