// The redis check against redis-server itself, in each state it can be put in:
// serving, wanting a password, at maxclients, a replica whose master is down,
// and loading its dataset (slowed down with the debug config key-load-delay).
import { redis } from '../../src/checks/redis';
import { needs } from '../preconditions';
import { closedPortNumber, stopAll, waitUntil } from '../servers/harness';
import { redisServer, startLoadingRedis, startRedis } from '../servers/redis';
import { hold, runCheck } from './connect';

const lab = needs(redisServer.requirement);

afterAll(stopAll);

lab.describe('redis check against redis-server', () => {
  test('a serving redis-server answers +PONG: ready', async () => {
    const server = await startRedis();
    const v = await runCheck(redis, server.port);
    expect(v).toMatchObject({ ready: true, facts: { reply: 'PONG' } });
    expect(v.reason).toBeUndefined();
    expect(v.sent).toBe('*1\\r\\n$4\\r\\nPING\\r\\n');
    expect(v.received).toBe('+PONG\\r\\n');
    await server.stop();
  });

  test('requirepass: -NOAUTH is alive (ready, auth_required); the right password gets +PONG, a wrong one is auth-failed', async () => {
    const server = await startRedis(['--requirepass', 's3cret']);
    const v = await runCheck(redis, server.port);
    expect(v).toMatchObject({ ready: true, facts: { error: 'NOAUTH', auth_required: true } });
    expect(v.received).toMatch(/^-NOAUTH Authentication required/);
    expect(await runCheck(redis, server.port, { password: 's3cret' })).toMatchObject({ ready: true, facts: { reply: 'PONG', authenticated: true } });
    const wrong = await runCheck(redis, server.port, { password: 'nope' });
    expect(wrong).toMatchObject({ ready: false, reason: 'auth-failed', facts: { error: 'WRONGPASS' } });
    await server.stop();
  });

  test('maxclients reached: -ERR max number of clients reached is too-many-connections', async () => {
    const server = await startRedis(['--maxclients', '1']);
    const held = await hold(server.port, 1, (first) => first.toString('latin1') === '+PONG\r\n', 'PING\r\n');
    try {
      const v = await runCheck(redis, server.port);
      expect(v).toMatchObject({ ready: false, reason: 'too-many-connections' });
      expect(v.received).toBe('-ERR max number of clients reached\\r\\n');
    } finally {
      held.close();
    }
    await server.stop();
  });

  test('a replica whose master is down, with replica-serve-stale-data no: -MASTERDOWN is server-error', async () => {
    const master = await closedPortNumber();
    const server = await startRedis(['--replicaof', '127.0.0.1', String(master), '--replica-serve-stale-data', 'no']);
    const v = await runCheck(redis, server.port);
    expect(v).toMatchObject({ ready: false, reason: 'server-error', facts: { error: 'MASTERDOWN' } });
    expect(v.detail).toMatch(/MASTERDOWN Link with MASTER is down/);
    await server.stop();
  });

  test('while redis-server loads its dataset it answers -LOADING (not ready, loading); once loaded, +PONG', async () => {
    const loader = await startLoadingRedis();
    try {
      const v = await runCheck(redis, loader.port);
      expect(v).toMatchObject({ ready: false, reason: 'loading', facts: { error: 'LOADING' } });
      expect(v.received).toMatch(/^-LOADING Redis is loading the dataset in memory\\r\\n$/);
      await waitUntil('redis-server to finish loading', 60000, async () => (await runCheck(redis, loader.port)).ready);
      expect(await runCheck(redis, loader.port)).toMatchObject({ ready: true, facts: { reply: 'PONG' } });
    } finally {
      await loader.stop();
    }
  }, 90000);
});
