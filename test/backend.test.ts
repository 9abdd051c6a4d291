// The readiness backends (native/backend_epoll.cc, native/backend_uv.cc), how
// one is chosen (useBackend, SOCKPROBE_ENGINE=uv), and the platform tables the
// addon exports for TypeScript (errnoNames, capabilities). Real sockets on
// loopback; a worker_thread gives each case a fresh environment (its own
// engine), since this file's own environment has probed already.
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import * as os from 'node:os';
import * as path from 'node:path';
import nodeGypBuild = require('node-gyp-build');
import { native } from '../src/binding';
import { closedPort, libDir, openListener, silentPort } from './helpers';

type Extra = { useBackend(name: unknown): void; backends: string[]; errnoNames: Record<number, string>; capabilities: string[] };
// This file tests the addon itself. Under SOCKPROBE_ENGINE=node sockprobe does
// not load it, so the file loads the built binary directly there.
const addon = (process.env['SOCKPROBE_ENGINE'] === 'node' ? nodeGypBuild(path.join(__dirname, '..')) : native) as typeof native & Extra;

function inWorker(code: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const sockprobe = require(${JSON.stringify(libDir)});
     const { native } = require(${JSON.stringify(libDir + '/binding')});
     (async () => { ${code} })().then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`,
    { eval: true, env },
  );
  return once(w, 'message').then(async ([m]) => {
    await w.terminate();
    return m;
  });
}

describe('readiness backends', () => {
  test('both are compiled on Linux, epoll first (the default); `backend` names the one in use', () => {
    expect(addon.backends).toEqual(process.platform === 'linux' ? ['epoll', 'uv'] : ['uv']);
    expect(addon.backend).toBe(process.env['SOCKPROBE_ENGINE'] === 'uv' ? 'uv' : addon.backends[0]);
  });

  test.each(['epoll', 'uv'])('the %s backend probes open, refused and silent ports in a worker', async (engine) => {
    const l = await openListener();
    const closed = await closedPort();
    const silent = await silentPort();
    try {
      const r = await inWorker(
        `const open = await sockprobe.probe('127.0.0.1', ${l.port});
         const refused = await sockprobe.probe('127.0.0.1', ${closed});
         const silent = await sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 200 });
         // Many at once, through the backend's batches.
         const many = [];
         for await (const x of sockprobe.probeMany(Array.from({ length: 100 }, (_, i) => ({ host: '127.0.0.1', port: i % 2 ? ${l.port} : ${silent.port} })), { timeout: 300 })) many.push(x.status);
         return { backend: native.backend, open: open.status, refused: refused.status, silent: silent.status,
                  manyOpen: many.filter((s) => s === 'open').length, manyTimeout: many.filter((s) => s === 'timeout').length, inFlight: native.inFlight() };`,
        { ...process.env, SOCKPROBE_ENGINE: engine === 'uv' ? 'uv' : '' },
      );
      expect(r).toEqual({ backend: engine, open: 'open', refused: 'refused', silent: 'timeout', manyOpen: 50, manyTimeout: 50, inFlight: 0 });
    } finally {
      await Promise.all([l.close(), silent.close()]);
    }
  });

  test('useBackend: a TypeError for a non-string, an Error for an unknown name or once a probe has started', async () => {
    const closed = await closedPort();
    const r = await inWorker(
      `const out = {};
       const t = (f) => { try { f(); return 'ok'; } catch (e) { return e.constructor.name + ': ' + e.message; } };
       out.number = t(() => native.useBackend(1));
       out.unknown = t(() => native.useBackend('kqueue'));
       out.same = t(() => native.useBackend(native.backend));
       out.before = native.backend;
       out.switch = t(() => native.useBackend('uv'));
       out.after = native.backend;
       await sockprobe.probe('127.0.0.1', ${closed});
       out.late = t(() => native.useBackend('epoll'));
       out.lateSame = t(() => native.useBackend('uv'));
       out.still = native.backend;
       return out;`,
      { ...process.env, SOCKPROBE_ENGINE: '' },
    );
    expect(r).toEqual({
      number: expect.stringMatching(/^TypeError: sockprobe: useBackend\(name\) takes a backend name, one of 'epoll', 'uv'$/),
      unknown: "Error: sockprobe: no readiness backend named 'kqueue' in this build (it has 'epoll', 'uv')",
      same: 'ok',
      before: 'epoll',
      switch: 'ok',
      after: 'uv',
      late: "Error: sockprobe: useBackend('epoll') must be called before the first probe starts (the 'uv' backend is in use)",
      lateSame: 'ok',
      still: 'uv',
    });
  });
});

describe('platform tables', () => {
  test("errnoNames names this OS's errno numbers as Node's os.constants.errno does", () => {
    const names = addon.errnoNames;
    for (const name of ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES', 'EADDRNOTAVAIL', 'ECONNRESET', 'EMFILE']) {
      const n = (os.constants.errno as Record<string, number>)[name] as number;
      expect([name, names[n]]).toEqual([name, name]);
    }
    // Every entry agrees with Node's table wherever Node names the number.
    const node = new Map(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
    const entries = Object.entries(names);
    expect(entries.length).toBeGreaterThan(50);
    for (const [n, name] of entries) {
      const fromNode = node.get(Number(n));
      if (fromNode !== undefined && fromNode !== name) {
        // Aliases share a number (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP): the name must still be that number's.
        expect([n, (os.constants.errno as Record<string, number>)[name]]).toEqual([n, Number(n)]);
      }
    }
  });

  test('capabilities lists what this platform can tell', () => {
    expect(Array.isArray(addon.capabilities)).toBe(true);
    expect(addon.capabilities).toEqual(expect.arrayContaining(['sndbuf', 'rcvbuf', 'localAddress', 'ttl', 'unixSockets']));
    if (process.platform === 'linux') expect(addon.capabilities).toEqual(expect.arrayContaining(['tcpInfo', 'icmpQueue', 'neighbour', 'queues']));
  });
});
