// MariaDB (Debian's mariadb-server: mariadbd), on an ephemeral loopback port,
// as nobody when the tests are root. Without `initSql` it starts on an empty
// data directory with --skip-grant-tables (the greeting needs no grants, and
// this saves mariadb-install-db's ~6 s). With `initSql`, mariadb-install-db
// makes the grant tables first and the SQL runs at start (--init-file): how a
// test gets a real non-admin user.
import * as path from 'node:path';
import { freePort, run, serverBinary, serverDir, serverUser, startServer, writeOwned, type Server } from './harness';

export const mariadbd = serverBinary('mariadbd', 'mariadb-server');
export const installDb = serverBinary('mariadb-install-db', 'mariadb-server');

/** Starts mariadbd with `extra` options (e.g. ['--max-connections=1']), with grant tables and `initSql` when given. */
export async function startMariadb(extra: readonly string[] = [], initSql?: string): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('mariadb', user);
  const port = await freePort();
  const grants: string[] = ['--skip-grant-tables'];
  if (initSql !== undefined) {
    await run(installDb.path(), ['--no-defaults', `--datadir=${dir}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { cwd: dir, user });
    grants[0] = `--init-file=${writeOwned(dir, 'init.sql', initSql, user)}`;
  }
  return startServer({
    name: 'mariadbd',
    cmd: mariadbd.path(),
    args: [
      '--no-defaults',
      `--datadir=${dir}`,
      `--socket=${path.join(dir, 'mysqld.sock')}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      ...grants,
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=8M',
      '--connect-timeout=60',
      ...extra,
    ],
    port,
    dir,
    user,
    timeoutMs: 30000,
  });
}
