// PostgreSQL (Debian's postgresql-15: initdb, postgres, pg_basebackup and
// pg_isready in /usr/lib/postgresql/15/bin, not on PATH). initdb refuses to
// run as root, so when the tests are root every step runs as nobody in a
// directory nobody owns.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { freePort, PG_BIN_DIRS, run, serverBinary, serverDir, serverUser, startServer, waitUntil, type Server } from './harness';

export const initdb = serverBinary('initdb', 'postgresql', PG_BIN_DIRS, true);
const bin = (name: string): string => path.join(path.dirname(initdb.path()), name);

/** pg_isready's exit status against 127.0.0.1:port: 0 accepting, 1 rejecting, 2 no response, 3 no attempt. */
export function pgIsready(port: number, user = 'postgres'): Promise<number> {
  const child = spawn(bin('pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-t', '5'], { stdio: 'ignore' });
  return new Promise((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (status) => resolve(status ?? -1));
  });
}

const HBA = [
  'local all all trust',
  'host replication all 127.0.0.1/32 trust',
  'host all needpw 127.0.0.1/32 scram-sha-256',
  'host all all 127.0.0.1/32 trust',
  '',
].join('\n');

export interface Cluster {
  server: Server;
  /** The cluster's parent directory (data is in `${dir}/data`). */
  dir: string;
}

/** Starts postgres on `dir/data` with `settings` (-c name=value), waiting until pg_isready's status is `expect`. */
async function startPostgres(name: string, dir: string, settings: Record<string, string>, expect: number): Promise<Server> {
  const port = await freePort();
  const user = serverUser();
  const args = ['-D', path.join(dir, 'data')];
  for (const [k, v] of Object.entries({ port: String(port), listen_addresses: '127.0.0.1', unix_socket_directories: dir, fsync: 'off', ...settings })) args.push('-c', `${k}=${v}`);
  return startServer({
    name,
    cmd: bin('postgres'),
    args,
    port,
    dir,
    user,
    stopSignal: 'SIGINT', // fast shutdown: SIGTERM would wait for clients to leave
    ready: async (s) =>
      waitUntil(`${name} to answer pg_isready with ${expect}`, 30000, async () => {
        if (s.child.exitCode !== null) throw new Error('postgres exited');
        return (await pgIsready(port)) === expect;
      }),
  });
}

/** initdb (trust, a pg_hba.conf that also asks user needpw for SCRAM) and a running primary with SSL on. */
export async function startPrimary(): Promise<Cluster> {
  const user = serverUser();
  const dir = serverDir('pg-primary', user);
  await run(initdb.path(), ['-D', path.join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { cwd: dir, user });
  fs.writeFileSync(path.join(dir, 'data', 'pg_hba.conf'), HBA);
  // A self-signed certificate for the SSLRequest test; postgres wants its key 0600 and its own.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.crt'], {
    cwd: path.join(dir, 'data'),
    user,
  });
  const server = await startPostgres('postgres (primary)', dir, { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' }, 0);
  return { server, dir };
}

/** A copy of the primary made by pg_basebackup; with `standby`, -R makes it a standby of the primary. */
async function basebackup(primary: Cluster, name: string, standby: boolean): Promise<string> {
  const user = serverUser();
  const dir = serverDir(name, user);
  const args = ['-h', '127.0.0.1', '-p', String(primary.server.port), '-U', 'postgres', '-D', path.join(dir, 'data'), '-X', 'stream', '-c', 'fast', '--no-sync'];
  await run(bin('pg_basebackup'), standby ? [...args, '-R'] : args, { cwd: dir, user });
  return dir;
}

/** A standby of `primary` started with hot_standby = off: it answers every client with 57P03. */
export async function startStandbyHotStandbyOff(primary: Cluster): Promise<Cluster> {
  const dir = await basebackup(primary, 'pg-standby', true);
  const server = await startPostgres('postgres (standby, hot_standby=off)', dir, { hot_standby: 'off' }, 1);
  return { server, dir };
}

/** A second primary (a copy of the first) with max_connections = 1 and no superuser-reserved slots, SSL off. */
export async function startSingleConnection(primary: Cluster): Promise<Cluster> {
  const dir = await basebackup(primary, 'pg-single', false);
  const server = await startPostgres('postgres (max_connections=1)', dir, { max_connections: '1', superuser_reserved_connections: '0', ssl: 'off' }, 0);
  return { server, dir };
}
