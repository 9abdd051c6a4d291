// The nats check against nats-server: serving, over max_connections, and
// with authorization required.
import { nats } from '../../src/checks/nats';
import { needs } from '../preconditions';
import { stopAll, waitUntil } from '../servers/harness';
import { natsServer, startNats } from '../servers/brokers';
import { connect, runCheck } from './connect';

afterAll(stopAll);

needs(natsServer.requirement).describe('nats check against nats-server', () => {
  test('INFO, then CONNECT+PING answered with PONG: ready, with server_id and version', async () => {
    const server = await startNats();
    const v = await runCheck(nats, server.port);
    expect(v).toMatchObject({ ready: true, facts: { server_id: expect.stringMatching(/^N[A-Z0-9]+$/), version: expect.stringMatching(/^\d+\.\d+\.\d+/) } });
    expect(v.sent).toMatch(/^CONNECT \{.*\}\\r\\nPING\\r\\n$/);
    expect(v.received).toMatch(/^INFO \{/);
    await server.stop();
  });

  test("max_connections: 1, one held: INFO then -ERR 'maximum connections exceeded' is too-many-connections", async () => {
    const server = await startNats(['max_connections: 1']);
    // The one client, connected for real (its PING answered); retried while the
    // server still counts the start-up probe's connection, which it had closed.
    let held = await connect(server.port);
    await waitUntil('a client slot on nats-server', 10000, async () => {
      if ((await nats.run(held, { signal: AbortSignal.timeout(5000), host: '127.0.0.1', options: {} })).ready) return true;
      held.destroy();
      held = await connect(server.port);
      return false;
    });
    try {
      const v = await runCheck(nats, server.port);
      expect(v).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { error: 'maximum connections exceeded' } });
    } finally {
      held.destroy();
    }
    await server.stop();
  });

  test('authorization with a user: without credentials alive (auth_required), right ones ready, wrong ones auth-failed', async () => {
    const server = await startNats(['authorization { user: probe, password: pw }']);
    expect(await runCheck(nats, server.port)).toMatchObject({ ready: true, facts: { auth_required: true, error: 'Authorization Violation' } });
    expect(await runCheck(nats, server.port, { user: 'probe', password: 'pw' })).toMatchObject({ ready: true });
    expect(await runCheck(nats, server.port, { user: 'probe', password: 'no' })).toMatchObject({ ready: false, reason: 'auth-failed' });
    await server.stop();
  });
});
