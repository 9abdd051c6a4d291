// Target strings ('host:port', '[v6]:port', 'unix:/path') in every health API,
// read by parseTarget and labelled by formatTarget. Loopback only.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { check, healthHandler, monitor, waitFor, type HealthReport, type MonitorStatus } from '../../src';
import { closedPort, openListener, tmpDir } from '../helpers';
import { request, serve } from './helpers';

async function unixListener(): Promise<{ file: string; close(): Promise<void> }> {
  const dir = tmpDir();
  const file = path.join(dir, 'h.sock');
  const server = net.createServer((s) => s.destroy());
  server.listen(file);
  await once(server, 'listening');
  return {
    file,
    close: () =>
      new Promise((r) =>
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          r();
        }),
      ),
  };
}

describe('target strings', () => {
  let v4: Awaited<ReturnType<typeof openListener>>;
  let v6: Awaited<ReturnType<typeof openListener>>;
  let unix: Awaited<ReturnType<typeof unixListener>>;
  beforeAll(async () => {
    v4 = await openListener('127.0.0.1');
    v6 = await openListener('::1');
    unix = await unixListener();
  });
  afterAll(async () => {
    await Promise.all([v4.close(), v6.close(), unix.close()]);
  });

  test('check() takes host:port, [v6]:port and unix:/path; labels are formatTarget of each (objects too)', async () => {
    const closed = await closedPort();
    const r = await check([`127.0.0.1:${v4.port}`, `[::1]:${v6.port}`, `unix:${unix.file}`, { path: unix.file, name: 'named' }, `127.0.0.1:${closed}`]);
    expect(r.results.map((x) => [x.target, x.result.status])).toEqual([
      [`127.0.0.1:${v4.port}`, 'open'],
      [`[::1]:${v6.port}`, 'open'],
      [`unix:${unix.file}`, 'open'],
      ['named', 'open'],
      [`127.0.0.1:${closed}`, 'refused'],
    ]);
    expect(r.ok).toBe(false);
    // An object without a name gets formatTarget's label, the same as its string.
    const o = await check([{ host: '::1', port: v6.port }, { path: unix.file }]);
    expect(o.results.map((x) => x.target)).toEqual([`[::1]:${v6.port}`, `unix:${unix.file}`]);
    // The same target as a string and as an object is the same name: not allowed twice.
    await expect(check([`127.0.0.1:${v4.port}`, { host: '127.0.0.1', port: v4.port }])).rejects.toThrow(RangeError);
  });

  test('waitFor() takes a target string, with or without options; host, port still works', async () => {
    await expect(waitFor(`127.0.0.1:${v4.port}`)).resolves.toMatchObject({ status: 'open', address: '127.0.0.1' });
    await expect(waitFor(`[::1]:${v6.port}`, { timeout: 5000 })).resolves.toMatchObject({ status: 'open', address: '::1' });
    await expect(waitFor(`unix:${unix.file}`, { timeout: 5000 })).resolves.toMatchObject({ status: 'open' });
    await expect(waitFor('127.0.0.1', v4.port, { timeout: 5000 })).resolves.toMatchObject({ status: 'open' });
    const closed = await closedPort();
    await expect(waitFor(`127.0.0.1:${closed}`, { timeout: 300, interval: 50 })).rejects.toMatchObject({
      name: 'WaitTimeoutError',
      message: expect.stringContaining(`127.0.0.1:${closed} did not become ready`),
    });
  });

  test('monitor() and healthHandler() take target strings', async () => {
    const m = monitor([`127.0.0.1:${v4.port}`, `unix:${unix.file}`], { periodMs: 60_000 });
    try {
      const [status] = (await once(m, 'round')) as [MonitorStatus];
      expect(status.state).toBe('healthy');
      expect(status.targets.map((t) => t.target)).toEqual([`127.0.0.1:${v4.port}`, `unix:${unix.file}`]);
    } finally {
      m.stop();
    }
    const h = await serve(healthHandler(`[::1]:${v6.port}`, { cacheMs: 0 }));
    try {
      const a = await request(h.port, '/');
      expect(a.status).toBe(200);
      expect((JSON.parse(a.body) as HealthReport).targets).toEqual([expect.objectContaining({ target: `[::1]:${v6.port}`, status: 'open' })]);
    } finally {
      await h.close();
    }
  });

  test('bad strings: RangeError (malformed) and TypeError (not a target), before anything is probed', async () => {
    const bad = ['nohost', '127.0.0.1:0', '127.0.0.1:70000', 'host:x', '::1:80', '[::1]80', '[nope]:80', 'unix:', ':80'];
    for (const s of bad) {
      await expect(check(s)).rejects.toThrow(RangeError);
      await expect(check([`127.0.0.1:${v4.port}`, s])).rejects.toThrow(RangeError);
      expect(() => monitor(s)).toThrow(RangeError);
      expect(() => healthHandler([s])).toThrow(RangeError);
      await expect(waitFor(s, { timeout: 1000 })).rejects.toThrow(RangeError);
    }
    await expect(check(42 as unknown as string)).rejects.toThrow(TypeError);
    expect(() => monitor([null as unknown as string])).toThrow(TypeError);
    // A host and a non-number port is the two-argument form: a TypeError about the port.
    await expect(waitFor('127.0.0.1', '80' as unknown as number)).rejects.toThrow(TypeError);
  });
});
