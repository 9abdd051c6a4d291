// Message brokers and small daemons from Debian, each on an ephemeral loopback
// port in a temp dir, as nobody when the tests are root: mosquitto, nats-server,
// OpenSSH's sshd (host key made by ssh-keygen in the temp dir), and Python's
// aiosmtpd (python3-aiosmtpd: SMTP with STARTTLS) and pyftpdlib
// (python3-pyftpdlib: FTP), both real server implementations packaged by Debian.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, pythonWith, run, serverBinary, serverDir, serverUser, startServer, tool, writeOwned, type Server } from './harness';

export const mosquitto = serverBinary('mosquitto', 'mosquitto');
export const natsServer = serverBinary('nats-server', 'nats-server');
export const sshd = serverBinary('sshd', 'openssh-server');
export const sshKeygen = tool('ssh-keygen', 'openssh-client');
export const aiosmtpd = pythonWith('aiosmtpd', 'python3-aiosmtpd');
export const pyftpdlib = pythonWith('pyftpdlib', 'python3-pyftpdlib');

/** mosquitto with `lines` added to its listener's configuration (e.g. 'allow_anonymous false'). */
export async function startMosquitto(lines: readonly string[] = ['allow_anonymous true']): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('mosquitto', user);
  const port = await freePort();
  const conf = writeOwned(dir, 'mosquitto.conf', [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', ...lines, ''].join('\n'), user);
  return startServer({ name: 'mosquitto', cmd: mosquitto.path(), args: ['-c', conf], port, dir, user });
}

/** nats-server with `lines` added to its configuration (e.g. 'max_connections: 1'). */
export async function startNats(lines: readonly string[] = []): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('nats', user);
  const port = await freePort();
  const conf = writeOwned(dir, 'nats.conf', [`listen: 127.0.0.1:${port}`, ...lines, ''].join('\n'), user);
  return startServer({ name: 'nats-server', cmd: natsServer.path(), args: ['-c', conf], port, dir, user });
}

/** sshd in the foreground with a fresh ed25519 host key and `options` (-o), no configuration file. */
export async function startSshd(options: readonly string[] = []): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('sshd', user);
  const port = await freePort();
  const key = path.join(dir, 'host_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key], { cwd: dir, user });
  // sshd re-executes itself, so it wants its own absolute path.
  const args = ['-D', '-e', '-f', '/dev/null', '-h', key, '-p', String(port), '-o', 'ListenAddress=127.0.0.1', '-o', 'PidFile=none'];
  for (const o of options) args.push('-o', o);
  return startServer({ name: 'sshd', cmd: sshd.path(), args, port, dir, user });
}

/** A self-signed certificate and key for localhost in `dir` (openssl), readable by `user`. */
export async function selfSigned(dir: string, user?: { uid: number; gid: number }): Promise<{ cert: string; key: string }> {
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', 'key.pem', '-out', 'cert.pem'], { cwd: dir, user });
  return { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
}

/**
 * aiosmtpd (Sink handler: accepts and discards), offering STARTTLS with a self-signed certificate (CN only),
 * or with `pem` (copied in, for a certificate Go's TLS accepts too: it wants a SAN).
 */
export async function startSmtp(pem?: { cert: string; key: string }): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('smtp', user);
  const port = await freePort();
  const { cert, key } =
    pem === undefined
      ? await selfSigned(dir, user)
      : { cert: writeOwned(dir, 'cert.pem', fs.readFileSync(pem.cert, 'utf8'), user, 0o644), key: writeOwned(dir, 'key.pem', fs.readFileSync(pem.key, 'utf8'), user) };
  return startServer({
    name: 'aiosmtpd',
    cmd: aiosmtpd.path(),
    args: ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Sink', '--tlscert', cert, '--tlskey', key, '--no-requiretls'],
    port,
    dir,
    user,
  });
}

/** pyftpdlib's FTPServer (anonymous, read-only on its temp dir) with at most `maxCons` connections (0: no limit). */
export async function startFtp(maxCons = 0): Promise<Server> {
  const user = serverUser();
  const dir = serverDir('ftp', user);
  const port = await freePort();
  const script = [
    'import sys',
    'from pyftpdlib.authorizers import DummyAuthorizer',
    'from pyftpdlib.handlers import FTPHandler',
    'from pyftpdlib.servers import FTPServer',
    'a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])',
    'h = FTPHandler; h.authorizer = a',
    's = FTPServer(("127.0.0.1", int(sys.argv[2])), h)',
    's.max_cons = int(sys.argv[3])',
    's.serve_forever()',
  ].join('\n');
  return startServer({ name: 'pyftpdlib', cmd: pyftpdlib.path(), args: ['-c', script, dir, String(port), String(maxCons)], port, dir, user });
}
