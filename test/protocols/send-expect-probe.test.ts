// The generic send/expect check through the public API (probe() with
// { check: { 'send-expect': { steps } } }) against a real redis-server: an
// exchange that matches keeps `open` and carries the evidence; one whose
// expected line never comes is not-ready / no-reply at the deadline, with what was
// sent and the first bytes received. (exchange.test.ts tests the module on a
// plain socket; the exporter's query_response tests use it through its config.)
import { probe } from '../../src';
import { needs } from '../preconditions';
import { stopAll } from '../servers/harness';
import { redisServer, startRedis } from '../servers/redis';

afterAll(stopAll);

needs(redisServer.requirement).describe("probe() with a 'send-expect' check, against redis-server", () => {
  test('PING, then +PONG expected: open, with what was sent and received', async () => {
    const server = await startRedis();
    const r = await probe('127.0.0.1', server.port, { timeout: 5000, check: { 'send-expect': { steps: [{ send: 'PING\r\n', expect: /^\+PONG$/ }] } } });
    expect(r.status).toBe('open');
    if (r.status !== 'open') return;
    expect(r.check?.name).toBe('send-expect');
    expect(r.check?.sent).toContain('PING');
    expect(r.check?.received).toContain('+PONG');
  });

  test('an expected line that never comes: waited for until the deadline (as query_response), then not-ready / no-reply with the evidence', async () => {
    const server = await startRedis();
    const r = await probe('127.0.0.1', server.port, { timeout: 1500, check: { 'send-expect': { steps: [{ send: 'PING\r\n', expect: 'HELLO' }] } } });
    expect(r.status).toBe('not-ready');
    if (r.status !== 'not-ready') return;
    expect(r.reason).toBe('no-reply');
    expect(r.check.sent).toContain('PING');
    expect(r.check.received).toContain('+PONG');
  });

  test('bad steps: TypeError / RangeError before any connection', async () => {
    await expect(probe('127.0.0.1', 1, { check: { 'send-expect': { steps: [] } } })).rejects.toThrow(RangeError);
    await expect(probe('127.0.0.1', 1, { check: { 'send-expect': { steps: 'PING' as unknown as [] } } })).rejects.toThrow(TypeError);
  });
});
