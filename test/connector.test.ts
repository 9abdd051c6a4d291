// The connector seam (issue 13): an attempt can keep its connected socket, the
// engine stops watching it and hands its descriptor to JavaScript, and a check
// runs on it in Node's own streams. The socket has one owner at every moment;
// these tests end an attempt at each step (abort, deadline, a throwing check,
// a worker torn down) and count this process's descriptors after each.
// Real listeners and sockets on loopback only.
import * as net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Attempt, type CheckRun, type Settings } from '../src/attempt';
import type { AddressResult } from '../src/types';
import { probe, probeMany } from '../src';
import { runAttempts } from '../src/probe';
import { FLAG_KEEP, native, register, unregister, type RawOutcome } from '../src/binding';
import { fdCount, fdCountSettled, libDir, silentPort, stableFdCount } from './helpers';
import { runNode } from './reliability/support';
import { nativeEngine, needs } from './preconditions';

/** Tests of the addon's own hand-over (a bare descriptor, FLAG_KEEP): the node engine hands over its net.Socket instead. */
const addon = needs(nativeEngine);

/** A loopback server that echoes each line back, and says when a connection of its ends. */
async function echoServer(): Promise<{ port: number; ended: Promise<string>[]; close(): Promise<void> }> {
  const ended: Promise<string>[] = [];
  const server = net.createServer((c) => {
    ended.push(
      new Promise((resolve) => {
        c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        c.on('end', () => resolve('fin'));
        c.on('close', () => resolve('closed'));
      }),
    );
    c.on('data', (d) => c.write(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    ended,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A listener that accepts and says nothing: the settle window stays open until it runs out. */
async function quietServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function settingsWith(check: Settings['check'], timeout = 2000): Settings {
  return { timeout, signal: undefined, family: 0, local: undefined, flags: 0, settle: 0, check };
}

/** An attempt run to its end as a promise (the way probe() uses Attempt). */
class Awaited extends Attempt {
  readonly result: Promise<AddressResult>;
  private resolve!: (r: AddressResult) => void;
  private reject!: (e: unknown) => void;

  constructor(port: number) {
    super('127.0.0.1', 4, port);
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  run(s: Settings): Promise<AddressResult> {
    const r = this.start(s, s.timeout);
    if (r !== undefined) this.resolve(r);
    return this.result;
  }

  protected finished(result: AddressResult): void {
    this.resolve(result);
  }

  protected failed(error: unknown): void {
    this.reject(error);
  }
}

/** Lets closes that Node does on its own loop (destroy, resetAndDestroy) happen before counting. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

describe('a kept socket', () => {
  test('keeps the connected socket: writes and reads through the net.Socket, then closes it (RST)', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      let reply = '';
      let wasSocket = false;
      const a = new Awaited(echo.port);
      const r = await a.run(
        settingsWith((run: CheckRun) => {
          wasSocket = run.socket instanceof net.Socket;
          expect(run.raw.stage).toBe('connected');
          run.socket.setEncoding('utf8');
          run.socket.on('data', (d: string) => {
            reply += d;
            if (reply.includes('\n')) run.finish(run.raw);
          });
          run.socket.write('ping sockprobe\n');
        }),
      );
      expect(wasSocket).toBe(true);
      expect(reply).toBe('ping sockprobe\n');
      expect(r).toMatchObject({ status: 'open', reason: 'syn-ack', address: '127.0.0.1', port: echo.port });
      expect(r).not.toHaveProperty('fd');
      // Closed with RST (no TIME_WAIT on the probing side), exactly once.
      expect(await echo.ended[0]).toBe('ECONNRESET');
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });

  test('a check that throws: the attempt fails with that error and the socket is closed', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      const a = new Awaited(echo.port);
      await expect(
        a.run(
          settingsWith(() => {
            throw new Error('check exploded');
          }),
        ),
      ).rejects.toThrow('check exploded');
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });

  test('a check that fails later, and one that calls finish twice: one outcome, one close', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      const failing = new Awaited(echo.port);
      await expect(
        failing.run(
          settingsWith((run) => {
            setTimeout(() => {
              run.fail(new Error('later'));
              run.finish(run.raw); // ignored: the attempt is over
            }, 10);
          }),
        ),
      ).rejects.toThrow('later');
      const twice = new Awaited(echo.port);
      const r = await twice.run(
        settingsWith((run) => {
          run.finish(run.raw);
          run.finish(run.raw);
          run.fail(new Error('ignored'));
        }),
      );
      expect(r.status).toBe('open');
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });

  test('a check that reports synchronously, or throws at once, reaches the caller (no lost outcome, no hang)', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      const target = { address: '127.0.0.1', family: 4 as const, port: echo.port };
      const [r] = await runAttempts([target, target], settingsWith((run) => run.finish(run.raw)), 2000);
      expect(r).toMatchObject({ status: 'open', reason: 'syn-ack' });
      await expect(
        runAttempts(
          [target],
          settingsWith(() => {
            throw new Error('at once');
          }),
          2000,
        ),
      ).rejects.toThrow('at once');
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });

  addon.test('plain probes keep the fast path: the addon closes the socket itself, only FLAG_KEEP hands one over', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    const startRaw = (flags: number): RawOutcome | undefined => {
      const id = register(() => undefined);
      const raw = native.start(id, 4, '127.0.0.1', echo.port, null, 2000, flags);
      unregister(id);
      return raw;
    };
    try {
      // On loopback the handshake completes inside connect(): both end in start().
      const plain = startRaw(0);
      expect(plain).toMatchObject({ errno: 0, stage: 'connected' });
      expect(plain).not.toHaveProperty('fd');
      expect(fdCount()).toBe(before);
      const kept = startRaw(FLAG_KEEP);
      expect(kept).toMatchObject({ errno: 0, stage: 'connected' });
      const fd = kept?.fd as number;
      expect(Number.isInteger(fd)).toBe(true);
      // A live TCP socket this process now owns, connected to the echo server.
      expect(native.inspect(fd, false)).toMatchObject({ errno: 0, type: 1, protocol: 6 });
      expect(fdCount()).toBe(before + 1);
      const socket = new net.Socket({ fd, readable: true, writable: true });
      socket.write('x\n');
      const [data] = (await once(socket, 'data')) as [Buffer];
      expect(data.toString()).toBe('x\n');
      socket.resetAndDestroy();
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });
});

describe('ending an attempt at each step closes its socket exactly once', () => {
  test('abort while connecting (silent port): AbortError, descriptors back', async () => {
    const silent = await silentPort();
    const before = await stableFdCount();
    try {
      const ac = new AbortController();
      const pending = probe('127.0.0.1', silent.port, { timeout: 10_000, settle: 1000, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await silent.close();
    }
  });

  test('deadline while connecting (silent port): timeout, descriptors back', async () => {
    const silent = await silentPort();
    const before = await stableFdCount();
    try {
      const r = await probe('127.0.0.1', silent.port, { timeout: 100, settle: 1000 });
      expect(r).toMatchObject({ status: 'timeout', code: 'ETIMEDOUT' });
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await silent.close();
    }
  });

  test('abort during the settle check: AbortError, the peer sees a reset, descriptors back', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      const ac = new AbortController();
      const pending = probe('127.0.0.1', echo.port, { timeout: 2000, settle: 5000, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(await echo.ended[0]).toBe('ECONNRESET');
      expect(await fdCountSettled(before)).toBe(before);

    } finally {
      await echo.close();
    }
  });

  test('an aborted settle check keeps nothing alive: a process whose only probe was aborted exits at once', async () => {
    // A child of its own: with a 60 s settle window, a timer left behind would
    // keep it running until runNode's 15 s limit (hung).
    const run = await runNode(`
      const net = require('node:net');
      const { probe } = require(${JSON.stringify(libDir)});
      const server = net.createServer((c) => c.on('error', () => {})).listen(0, '127.0.0.1', () => {
        const ac = new AbortController();
        probe('127.0.0.1', server.address().port, { settle: 60000, signal: ac.signal }).catch((e) => console.log(e.name));
        setTimeout(() => { ac.abort(); server.close(); }, 50);
      });
    `, { ms: 15_000 });
    expect(run.hung).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe('AbortError');
  });

  addon.test('cancel between the hand-over and the check (same tick): the bare descriptor is closed, the check never runs', async () => {
    const echo = await echoServer();
    const before = await stableFdCount();
    try {
      let ran = false;
      const a = new Awaited(echo.port);
      // On loopback the connection is made inside start(), so the socket is
      // handed over at once and its check is due on a microtask.
      expect(
        a.start(
          settingsWith((run) => {
            ran = true;
            run.finish(run.raw);
          }),
          2000,
        ),
      ).toBeUndefined();
      expect(fdCount()).toBe(before + 1);
      a.cancel();
      expect(fdCount()).toBe(before);
      await settle();
      expect(ran).toBe(false);
      // The echo server (in this process) may have accepted it meanwhile: its end closes too.
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await echo.close();
    }
  });

  test('the settle window running out (its own deadline): open/settled, descriptors back', async () => {
    const quiet = await quietServer();
    const before = await stableFdCount();
    try {
      const r = await probe('127.0.0.1', quiet.port, { settle: 50 });
      expect(r).toMatchObject({ status: 'open', reason: 'settled' });
      expect(r.elapsedMs).toBeGreaterThanOrEqual(45);
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await quiet.close();
    }
  });

  test('probeMany: leaving the loop early closes sockets still connecting and those in a check', async () => {
    const silent = await silentPort();
    const quiet = await quietServer();
    const before = await stableFdCount();
    try {
      const targets = Array.from({ length: 40 }, (_, i) => ({ host: '127.0.0.1', port: i % 2 === 0 ? silent.port : quiet.port }));
      const it = probeMany(targets, { timeout: 10_000, settle: 10_000, concurrency: 40 });
      // Nothing can finish before 10 s: give the checks time to start, then leave.
      const first = Promise.race([it.next(), new Promise((r) => setTimeout(() => r('none'), 200))]);
      expect(await first).toBe('none');
      await it.return?.();
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await silent.close();
      await quiet.close();
    }
  });

  test('a worker torn down with attempts connecting and in a settle check: its sockets are closed', async () => {
    const silent = await silentPort();
    const quiet = await quietServer();
    const before = await stableFdCount();
    try {
      const w = new Worker(
        `const sockprobe = require(${JSON.stringify(libDir)});
         const { parentPort } = require('node:worker_threads');
         for (let i = 0; i < 20; i++) {
           sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 60000, settle: 60000 }).catch(() => {});
           sockprobe.probe('127.0.0.1', ${quiet.port}, { timeout: 60000, settle: 60000 }).catch(() => {});
         }
         setTimeout(() => parentPort.postMessage('started'), 200);`,
        { eval: true },
      );
      await once(w, 'message');
      // The worker shares this process's descriptor table: 40 probe sockets
      // (and the worker's own) are open now.
      expect(fdCount()).toBeGreaterThanOrEqual(before + 40);
      await w.terminate();
      expect(await fdCountSettled(before)).toBe(before);
    } finally {
      await silent.close();
      await quiet.close();
    }
  });
});
