// Lifecycle: environments that go away with probes in flight (worker.terminate(),
// process.exit()), the addon in several workers at once, and probe promises
// dropped without being awaited and then collected. No crash, no leak, no hang.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { inFlight } from '../../src/engine';
import { probe } from '../../src';
import { closedPort, fdCount, fdCountSettled, libDir, openListener, silentPort } from '../helpers';
import { lastJson, runNode } from './support';

jest.setTimeout(120_000);

function worker(code: string): Worker {
  return new Worker(`const sockprobe = require(${JSON.stringify(libDir)});\n${code}`, { eval: true });
}

// Closing is synchronous in the addon, but a terminated worker's own handles
// (its MessagePort, its loop's eventfd) go a moment later.
const settleFds = (expected: number): Promise<number> => fdCountSettled(expected);

describe('lifecycle', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let silent: Awaited<ReturnType<typeof silentPort>>;
  let closed: number;
  beforeAll(async () => {
    open = await openListener();
    silent = await silentPort();
    closed = await closedPort();
  });
  afterAll(async () => {
    await open.close();
    await silent.close();
  });

  test('workers terminated with probes in flight, 10 rounds of 4: their sockets close with them', async () => {
    const before = fdCount();
    for (let round = 0; round < 10; round++) {
      const workers = Array.from({ length: 4 }, (_v, w) =>
        worker(`
          const { parentPort } = require('node:worker_threads');
          const ps = [];
          for (let i = 0; i < 30; i++) {
            ps.push(sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 60000 }));             // waiting for a SYN-ACK
            ps.push(sockprobe.probe('127.0.0.1', ${open.port}, { timeout: 60000, settle: 60000 })); // settling
            ps.push(sockprobe.probe('localhost', ${silent.port}, { timeout: 60000, family: 4 }));  // resolving, then waiting
          }
          ps.forEach((p) => p.catch(() => undefined));
          // Terminate at a different moment each round.
          setTimeout(() => parentPort.postMessage('started'), ${(round % 3) * 20 + w});`),
      );
      await Promise.all(workers.map((w) => once(w, 'message')));
      const codes = await Promise.all(workers.map((w) => w.terminate()));
      expect(codes).toEqual([1, 1, 1, 1]);
    }
    expect(await settleFds(before)).toBe(before);
    // The main thread's instance is unaffected.
    expect(inFlight()).toBe(0);
    expect((await probe('127.0.0.1', open.port)).status).toBe('open');
  });

  test('a worker terminated while it is starting probes in a tight loop', async () => {
    const before = fdCount();
    for (let round = 0; round < 5; round++) {
      const w = worker(`
        const { parentPort } = require('node:worker_threads');
        parentPort.postMessage('go');
        for (;;) { for (let i = 0; i < 50; i++) sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 60000 }).catch(() => {}); 
          const t = Date.now(); while (Date.now() - t < 1) {} if (globalThis.stop) break; }`);
      await once(w, 'message');
      await new Promise((r) => setTimeout(r, 30 + round * 10));
      await w.terminate();
    }
    expect(await settleFds(before)).toBe(before);
  });

  test('the addon in 6 workers at once, each probing concurrently, and exiting normally', async () => {
    const before = fdCount();
    const workers = Array.from({ length: 6 }, () =>
      worker(`
        const { parentPort } = require('node:worker_threads');
        const ports = [${open.port}, ${closed}, ${silent.port}];
        // Generous deadlines for the answering ports: six isolates starting on two
        // cores can keep a loop away from its poll phase for a long time.
        Promise.all(Array.from({ length: 150 }, (_, i) => sockprobe.probe('127.0.0.1', ports[i % 3], { timeout: i % 3 === 2 ? 300 : 20000 })))
          .then((rs) => { const c = {}; for (const r of rs) c[r.status] = (c[r.status] || 0) + 1; parentPort.postMessage(c); });`),
    );
    const exited = workers.map(async (w) => ((await once(w, 'exit')) as [number])[0]);
    const counts = await Promise.all(workers.map(async (w) => ((await once(w, 'message')) as [Record<string, number>])[0]));
    const exits = await Promise.all(exited);
    expect(exits).toEqual(Array(6).fill(0));
    for (const c of counts) expect(c).toEqual({ open: 50, refused: 50, timeout: 50 });
    expect(await settleFds(before)).toBe(before);
  });

  test('a worker that calls process.exit() with probes in flight', async () => {
    const before = fdCount();
    const w = worker(`
      for (let i = 0; i < 100; i++) sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 60000 });
      setTimeout(() => process.exit(7), 50);`);
    const [code] = (await once(w, 'exit')) as [number];
    expect(code).toBe(7);
    expect(await settleFds(before)).toBe(before);
  });

  // Node unloads an addon (dlclose) with the last environment that loaded it. When only
  // workers load sockprobe, each worker's exit unloads it, and a libuv close callback
  // of the addon still queued then ran unmapped code: SIGSEGV (native/closer.h).
  test.each(['epoll', 'uv'])(
    'the addon loaded only in worker_threads, never in the main thread: their exits unload it, no crash (%s backend)',
    async (backend) => {
      // Some probes still in flight when the worker goes (a silent port, a long timeout);
      // half the workers are terminated, half leave by process.exit() from inside.
      const inWorker = `
        const { parentPort, workerData } = require('node:worker_threads');
        const { probe } = require(${JSON.stringify(libDir)});
        for (let k = 0; k < 20; k++) probe('127.0.0.1', ${silent.port}, { timeout: 60000 });
        Promise.all([probe('127.0.0.1', ${open.port}), probe('127.0.0.1', ${closed})]).then(
          (r) => { parentPort.postMessage(r.map((x) => x.status).join()); if (workerData.exit) process.exit(0); },
          (e) => parentPort.postMessage(String(e)));`;
      const run = await runNode(
        `
        const { Worker } = require('node:worker_threads');
        const { once } = require('node:events');
        (async () => {
          for (let i = 0; i < 12; i++) {
            const w = new Worker(${JSON.stringify(inWorker)}, { eval: true, workerData: { exit: i % 2 === 0 } });
            const exited = once(w, 'exit');
            const [m] = await once(w, 'message');
            if (m !== 'open,refused') throw new Error('worker ' + i + ': ' + m);
            if (i % 2) await w.terminate();
            await exited;
          }
          console.log('ok');
        })().catch((e) => { console.error(e); process.exit(2); });
        `,
        { ms: 60_000, env: { ...process.env, SOCKPROBE_ENGINE: backend } },
      );
      expect({ hung: run.hung, code: run.code, signal: run.signal, stdout: run.stdout.trim(), stderr: run.stderr }).toEqual({
        hung: false,
        code: 0,
        signal: null,
        stdout: 'ok',
        stderr: '',
      });
    },
  );

  test('process.exit() with probes in flight: exits at once, with its code, no crash', async () => {
    for (const where of ['timer', 'inside-a-completion', 'beforeExit-free']) {
      const run = await runNode(
        `
        const { probe } = require(${JSON.stringify(libDir)});
        for (let i = 0; i < 200; i++) probe('127.0.0.1', ${silent.port}, { timeout: 60000 });
        for (let i = 0; i < 50; i++) probe('127.0.0.1', ${open.port}, { timeout: 60000, settle: 60000 });
        ${
          where === 'timer'
            ? 'setTimeout(() => process.exit(5), 100);'
            : where === 'inside-a-completion'
              ? `probe('127.0.0.1', ${closed}).then(() => process.exit(5));`
              : 'process.exit(5);'
        }
        `,
        { ms: 15_000 },
      );
      expect({ where, hung: run.hung, code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({
        where,
        hung: false,
        code: 5,
        signal: null,
        stderr: '',
      });
    }
  });

  test('promises dropped without being awaited are collected once their probes end (--expose-gc)', async () => {
    const run = await runNode(
      `
      const { probe } = require(${JSON.stringify(libDir)});
      const { inFlight } = require(${JSON.stringify(`${libDir}/engine.js`)});
      const fs = require('node:fs');
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      const ports = [${open.port}, ${closed}, ${silent.port}];
      let collected = 0;
      const registry = new FinalizationRegistry(() => { collected++; });
      const N = 6000;
      async function main() {
        // The environment's epoll set is made by its first probe and lives as
        // long as the environment: take the baseline after it exists.
        await probe('127.0.0.1', ports[0]);
        // Let what that first probe left to Node's loop finish before counting.
        await new Promise((r) => setTimeout(r, 200));
        const fd0 = fds();
        global.gc();
        const heap0 = process.memoryUsage().heapUsed;
        // In a function of its own, so no local of main() can hold the last one.
        function fire(i) {
          const ac = new AbortController();
          // Dropped at once: nobody keeps the promise or awaits it.
          const p = probe('127.0.0.1', ports[i % 3], { timeout: 20, signal: ac.signal });
          if (i % 10 === 0) { p.catch(() => {}); ac.abort(); }
          registry.register(p, i);
        }
        for (let b = 0; b < N / 300; b++) {
          for (let i = 0; i < 300; i++) fire(i);
          await new Promise((r) => setTimeout(r, 40));
        }
        const t0 = Date.now();
        while (inFlight() > 0 && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 10));
        for (let i = 0; i < 10 && collected < N; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 20));
        }
        global.gc();
        const heap1 = process.memoryUsage().heapUsed;
        console.log(JSON.stringify({ N, collected, inFlight: inFlight(), fdDelta: fds() - fd0, heapGrowthMB: (heap1 - heap0) / 1048576 }));
      }
      main();
      `,
      { execArgv: ['--expose-gc', '--unhandled-rejections=strict'], ms: 60_000 },
    );
    expect(run.hung).toBe(false);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = lastJson<{ N: number; collected: number; inFlight: number; fdDelta: number; heapGrowthMB: number }>(run);
    console.log(`dropped promises: ${JSON.stringify(out)}`);
    expect(out.inFlight).toBe(0);
    expect(out.fdDelta).toBe(0);
    // Every dropped promise was collected: nothing (router, addon) kept them alive.
    expect(out.collected).toBe(out.N);
    expect(out.heapGrowthMB).toBeLessThan(8);
  });
});
