import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { probe } from '../src';
import { libDir, openListener, silentPort } from './helpers';

function worker(code: string): Worker {
  return new Worker(`const sockprobe = require(${JSON.stringify(libDir)});\n${code}`, { eval: true });
}

describe('worker_threads', () => {
  test('probe() works inside a worker, and in several at once', async () => {
    const l = await openListener();
    try {
      const workers = Array.from({ length: 3 }, () =>
        worker(`
          const { parentPort } = require('node:worker_threads');
          sockprobe.probe('127.0.0.1', ${l.port}).then((r) => parentPort.postMessage(r.status));`),
      );
      const statuses = await Promise.all(workers.map(async (w) => ((await once(w, 'message')) as [string])[0]));
      expect(statuses).toEqual(['open', 'open', 'open']);
      await Promise.all(workers.map((w) => w.terminate()));
    } finally {
      await l.close();
    }
  });

  test('terminating a worker with probes in flight closes them and crashes nothing', async () => {
    const silent = await silentPort();
    try {
      const w = worker(`
        const { parentPort } = require('node:worker_threads');
        for (let i = 0; i < 50; i++) sockprobe.probe('127.0.0.1', ${silent.port}, { timeout: 60000 });
        setTimeout(() => parentPort.postMessage('started'), 100);`);
      await once(w, 'message');
      const code = await w.terminate();
      expect(code).toBe(1);
      // The main thread's own instance is unaffected.
      const r = await probe('127.0.0.1', silent.port, { timeout: 300 });
      expect(r.status).toBe('timeout');
    } finally {
      await silent.close();
    }
  });
});
