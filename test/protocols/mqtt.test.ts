// The mqtt check against mosquitto: accepted, and refused for want of
// credentials (allow_anonymous false). (Over its max_connections mosquitto
// resets the new connection at once, often before the client's connect
// completes: nothing a protocol verdict adds to.) CONNACK 0x03 (server
// unavailable) is not something mosquitto can be made to send, so that one is
// a scripted peer, and says so.
import * as net from 'node:net';
import { mqtt } from '../../src/checks/mqtt';
import { needs } from '../preconditions';
import { stopAll } from '../servers/harness';
import { mosquitto, startMosquitto } from '../servers/brokers';
import { runCheck } from './connect';

afterAll(stopAll);

needs(mosquitto.requirement).describe('mqtt check against mosquitto', () => {
  test('anonymous allowed: CONNACK 0 is ready, then DISCONNECT is sent', async () => {
    const server = await startMosquitto();
    const v = await runCheck(mqtt, server.port);
    expect(v).toMatchObject({ ready: true, facts: { return_code: 0, session_present: false } });
    expect(v.sent).toMatch(/^\\x10.\\x00\\x04MQTT\\x04\\x02\\x00\\x1e\\x00\\x16sockprobe-[0-9a-f]{12}\\xe0\\x00$/);
    expect(v.received).toBe(' \\x02\\x00\\x00');
    await server.stop();
  });

  test('allow_anonymous false: CONNACK 5 (not authorized) is alive without credentials, auth-failed with wrong ones', async () => {
    const server = await startMosquitto(['allow_anonymous false']);
    expect(await runCheck(mqtt, server.port)).toMatchObject({ ready: true, facts: { return_code: 5, auth_required: true } });
    expect(await runCheck(mqtt, server.port, { user: 'u', password: 'p' })).toMatchObject({ ready: false, reason: 'auth-failed', facts: { return_code: 5 } });
    await server.stop();
  });
});

test('scripted broker: CONNACK 0x03 (server unavailable) is not ready, server-error', async () => {
  const server = net.createServer((s) => {
    s.once('data', () => s.end(Buffer.from([0x20, 0x02, 0x00, 0x03])));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const v = await runCheck(mqtt, (server.address() as net.AddressInfo).port);
    expect(v).toMatchObject({ ready: false, reason: 'server-error', facts: { return_code: 3 } });
    expect(v.detail).toMatch(/server unavailable/);
  } finally {
    server.close();
  }
});
