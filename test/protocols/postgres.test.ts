// The postgres check against PostgreSQL itself: a primary (trust, SCRAM for
// one user, SSL on), a standby with hot_standby = off (57P03 for every
// client), and a copy at max_connections = 1 (53300). pg_isready, run on the
// same servers, is the reference for what "ready" means.
import * as tls from 'node:tls';
import { Exchange } from '../../src/checks/exchange';
import { postgres, postgresSslRequest, startupMessage } from '../../src/checks/postgres';
import { needs, openssl } from '../preconditions';
import { stopAll } from '../servers/harness';
import { initdb, pgIsready, startPrimary, startSingleConnection, startStandbyHotStandbyOff, type Cluster } from '../servers/postgres';
import { connect, runCheck } from './connect';

const lab = needs(initdb.requirement, openssl);

afterAll(stopAll);

lab.describe('postgres check against PostgreSQL', () => {
  let primary: Cluster;
  beforeAll(async () => {
    primary = await startPrimary();
  }, 120000);

  test('the primary (trust): ready, with server_version, and a Terminate sent; pg_isready agrees', async () => {
    const v = await runCheck(postgres, primary.server.port);
    expect(v).toMatchObject({ ready: true, facts: { auth: 'trust', pg_isready: 'accepting connections' } });
    expect(String(v.facts.server_version)).toMatch(/^\d+\.\d+/);
    expect(v.sent).toMatch(/user\\x00postgres\\x00database\\x00postgres\\x00/);
    expect(v.sent).toMatch(/X\\x00\\x00\\x00\\x04$/);
    expect(await pgIsready(primary.server.port)).toBe(0);
  });

  test('a user who must authenticate (SCRAM): the authentication request alone means ready', async () => {
    const v = await runCheck(postgres, primary.server.port, { user: 'needpw' });
    expect(v).toMatchObject({ ready: true, facts: { auth: 'sasl', sasl: expect.stringMatching(/SCRAM-SHA-256/) } });
    expect(v.received).toMatch(/^R/);
  });

  test('a database that does not exist: an ErrorResponse other than 57P03 is ready (the server answers), SQLSTATE kept', async () => {
    const v = await runCheck(postgres, primary.server.port, { database: 'no_such_db' });
    expect(v).toMatchObject({ ready: true, facts: { sqlstate: '3D000', pg_isready: 'accepting connections' } });
    expect(v.detail).toMatch(/database "no_such_db" does not exist/);
  });

  test('SSLRequest: the primary answers S, a TLS handshake follows on the same socket, and the check runs over TLS', async () => {
    const socket = await connect(primary.server.port);
    try {
      const prelude = await postgresSslRequest(socket, AbortSignal.timeout(10000));
      expect(prelude).toMatchObject({ ok: true, received: 'S', sent: '\\x00\\x00\\x00\\x08\\x04\\xd2\\x16/' });
      expect(socket.listenerCount('data')).toBe(0);
      const secure = tls.connect({ socket, rejectUnauthorized: false, servername: 'localhost' });
      secure.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      const v = await postgres.run(secure, { signal: AbortSignal.timeout(10000), host: '127.0.0.1', options: {} });
      expect(v).toMatchObject({ ready: true, facts: { auth: 'trust' } });
      secure.destroy();
    } finally {
      socket.destroy();
    }
  });

  lab.describe('a standby with hot_standby = off', () => {
    let standby: Cluster;
    beforeAll(async () => {
      standby = await startStandbyHotStandbyOff(primary);
    }, 120000);

    test('answers 57P03 "not accepting connections": not ready, starting-up; pg_isready says rejecting (exit 1)', async () => {
      const v = await runCheck(postgres, standby.server.port);
      expect(v).toMatchObject({ ready: false, reason: 'starting-up', facts: { sqlstate: '57P03', pg_isready: 'rejecting connections' } });
      expect(v.detail).toMatch(/the database system is not accepting connections/);
      expect(v.detail).toMatch(/Hot standby mode is disabled/);
      expect(v.received).toMatch(/^E/);
      expect(await pgIsready(standby.server.port)).toBe(1);
    });
  });

  lab.describe('max_connections = 1, the one slot taken', () => {
    let single: Cluster;
    beforeAll(async () => {
      single = await startSingleConnection(primary);
    }, 120000);

    test('answers 53300 "too many clients": not ready, too-many-connections (pg_isready still says accepting, exit 0)', async () => {
      // The one session: a StartupMessage, read up to ReadyForQuery, kept open.
      const held = await connect(single.server.port);
      const ex = new Exchange(held, AbortSignal.timeout(10000));
      ex.send(startupMessage('postgres', 'postgres'));
      await ex.read((buf) => (buf.includes(Buffer.from([0x5a, 0, 0, 0, 5])) ? { value: true, used: buf.length } : undefined));
      ex.close();
      try {
        const v = await runCheck(postgres, single.server.port);
        expect(v).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { sqlstate: '53300', pg_isready: 'accepting connections' } });
        expect(v.detail).toMatch(/too many clients/);
        expect(await pgIsready(single.server.port)).toBe(0);
      } finally {
        held.destroy();
      }
    });

    test('SSLRequest to a server with ssl = off: N, so no TLS (tls-handshake)', async () => {
      const socket = await connect(single.server.port);
      try {
        const prelude = await postgresSslRequest(socket, AbortSignal.timeout(10000));
        expect(prelude).toMatchObject({ ok: false, verdict: { ready: false, reason: 'tls-handshake', received: 'N' } });
      } finally {
        socket.destroy();
      }
    });
  });
});
