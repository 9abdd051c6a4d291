// The mysql check against MariaDB's mariadbd: its greeting; the ERR 1040 it
// sends instead of the greeting once max_connections + 1 connections are open
// (MariaDB's floor for max_connections is 10, and it keeps one more for an
// admin: the 12th connection gets the ERR); and, with a user, a real login
// (mysql_native_password) and a wrong password.
import { mariadb, mysql } from '../../src/checks/mysql';
import { needs } from '../preconditions';
import { stopAll } from '../servers/harness';
import { installDb, mariadbd, startMariadb } from '../servers/mariadb';
import { hold, runCheck } from './connect';

const lab = needs(mariadbd.requirement);

afterAll(stopAll);

lab.describe('mysql check against mariadbd', () => {
  test('the greeting (protocol 10) is ready, nothing sent; past max_connections the ERR 1040 that replaces it is too-many-connections', async () => {
    const server = await startMariadb(['--max-connections=10']);
    const v = await runCheck(mysql, server.port);
    expect(v).toMatchObject({ ready: true, sent: '', facts: { protocol: 10, server: expect.stringMatching(/^MariaDB \d+\.\d+\.\d+$/) } });
    expect(String(v.facts.server_version)).toMatch(/MariaDB/);
    expect(v.facts.connection_id).toEqual(expect.any(Number));
    expect(v.received).toMatch(/^.\\x00\\x00\\x00\\n5\.5\.5-\d+\.\d+\.\d+-MariaDB/);
    expect((await runCheck(mariadb, server.port)).ready).toBe(true);
    // Each held connection has had its greeting: mariadbd counts it from then on.
    const held = await hold(server.port, 11, (first) => first[4] === 10);
    try {
      const full = await runCheck(mysql, server.port);
      expect(full).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { error_code: 1040 } });
      expect(full.detail).toMatch(/Too many connections/);
      expect(full.received).toMatch(/^\\x17\\x00\\x00\\x00\\xff\\x10\\x04Too many connections$/);
    } finally {
      held.close();
    }
    await server.stop();
  });

  needs(installDb.requirement).test('with a user: a real login (mysql_native_password) is ready; a wrong password is auth-failed (ERR 1045)', async () => {
    const server = await startMariadb([], "CREATE USER 'probe'@'%' IDENTIFIED BY 'pw';\n");
    expect(await runCheck(mysql, server.port, { user: 'probe', password: 'pw' })).toMatchObject({ ready: true, facts: { authenticated: true, protocol: 10 } });
    const wrong = await runCheck(mysql, server.port, { user: 'probe', password: 'not-it' });
    expect(wrong).toMatchObject({ ready: false, reason: 'auth-failed', facts: { error_code: 1045, sqlstate: '28000' } });
    expect(wrong.detail).toMatch(/Access denied for user 'probe'/);
    await server.stop();
  });
});
