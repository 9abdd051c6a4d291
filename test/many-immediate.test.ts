// Probes that end inside start() (a refusal on loopback is known before
// connect() returns) must not let probeMany() or probe() run a whole scan
// without the event loop turning, and must give the same results.
import { probe, probeMany, type ProbeManyResult } from '../src';
import { closedPort, reports } from './helpers';

let closed: number;

beforeAll(async () => {
  closed = await closedPort();
});

test('probeMany lets the event loop turn during a scan of refused loopback ports', async () => {
  const targets = Array.from({ length: 3000 }, () => ({ host: '127.0.0.1', port: closed }));
  let turns = 0;
  const tick = setInterval(() => turns++, 0);
  let count = 0;
  let turnsMidway = -1;
  try {
    for await (const r of probeMany(targets, { concurrency: 32, timeout: 5000 })) {
      expect(r.status).toBe('refused');
      if (++count === 2500) turnsMidway = turns;
    }
  } finally {
    clearInterval(tick);
  }
  expect(count).toBe(3000);
  expect(turnsMidway).toBeGreaterThan(0);
});

test('an abort from a timer stops a scan of refused loopback ports', async () => {
  const targets = Array.from({ length: 200_000 }, () => ({ host: '127.0.0.1', port: closed }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  const seen: ProbeManyResult[] = [];
  await expect(
    (async () => {
      for await (const r of probeMany(targets, { concurrency: 64, timeout: 5000, signal: ac.signal })) seen.push(r);
    })(),
  ).rejects.toMatchObject({ name: 'AbortError' });
  expect(seen.length).toBeLessThan(200_000);
});

test('an immediate refusal has the same shape as one delivered from the loop', async () => {
  const r = await probe('127.0.0.1', closed, { timeout: 2000 });
  // `tcp` where the engine reads TCP_INFO; the node engine cannot, and leaves it out.
  const tcp = reports('tcpInfo') ? ['tcp'] : [];
  expect(Object.keys(r)).toEqual(['status', 'reason', 'code', 'errno', 'address', 'family', 'port', 'elapsedMs', ...tcp, 'host', 'attempts', 'dnsMs']);
  expect(r).toMatchObject({ status: 'refused', reason: 'reset', code: 'ECONNREFUSED', host: '127.0.0.1', dnsMs: 0 });
  expect(r.attempts).toHaveLength(1);
});
