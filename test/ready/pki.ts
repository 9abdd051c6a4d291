// Certificates made by openssl for the readiness tests, in a temp dir, and
// real `openssl s_server` processes serving them on ephemeral loopback ports.
// No faketime: the expired certificate gets its past dates from `openssl ca
// -startdate/-enddate`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
}

export interface Pki {
  dir: string;
  /** The root CA (PEM file); clients trust it with --ca / tls.ca. */
  ca: string;
  /** Leaf certificate and key files per case. */
  valid: { cert: string; key: string };
  expired: { cert: string; key: string };
  selfSigned: { cert: string; key: string };
  wrongName: { cert: string; key: string };
  /** Signed by an intermediate; `chain` is the intermediate the server should send and (in that case) does not. */
  viaIntermediate: { cert: string; key: string; chain: string };
  /** notAfter of the expired certificate, as openssl was given it. */
  expiredNotAfter: Date;
  cleanup(): void;
}

const CA_CONFIG = `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ wrong ]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.test
[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
`;

/** Makes a root CA, an intermediate, and the leaf certificates of every case (EC P-256: quick to make). */
export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-pki-'));
  const f = (name: string): string => path.join(dir, name);
  fs.writeFileSync(f('ca.cnf'), CA_CONFIG);
  fs.writeFileSync(f('index.txt'), '');
  fs.writeFileSync(f('serial'), '1000\n');
  fs.mkdirSync(f('newcerts'));
  const key = (name: string): void => run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name], dir);
  const csr = (keyFile: string, cn: string, out: string): void => run('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-out', out], dir);
  const sign = (csrFile: string, out: string, caCert: string, caKey: string, ext: string, dates: string[]): void =>
    run('openssl', ['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', caCert, '-keyfile', caKey, '-in', csrFile, '-out', out, '-extfile', 'ca.cnf', '-extensions', ext, ...dates], dir);
  key('ca.key');
  run('openssl', ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=sockprobe test root', '-days', '3650', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const days = ['-days', '365'];
  key('valid.key');
  csr('valid.key', 'localhost', 'valid.csr');
  sign('valid.csr', 'valid.pem', 'ca.pem', 'ca.key', 'leaf', days);
  key('expired.key');
  csr('expired.key', 'localhost', 'expired.csr');
  sign('expired.csr', 'expired.pem', 'ca.pem', 'ca.key', 'leaf', ['-startdate', '20200101000000Z', '-enddate', '20210101000000Z']);
  key('wrong.key');
  csr('wrong.key', 'wrong.example.test', 'wrong.csr');
  sign('wrong.csr', 'wrong.pem', 'ca.pem', 'ca.key', 'wrong', days);
  key('inter.key');
  csr('inter.key', 'sockprobe test intermediate', 'inter.csr');
  sign('inter.csr', 'inter.pem', 'ca.pem', 'ca.key', 'intermediate', days);
  key('viaint.key');
  csr('viaint.key', 'localhost', 'viaint.csr');
  sign('viaint.csr', 'viaint.pem', 'inter.pem', 'inter.key', 'leaf', days);
  key('self.key');
  run('openssl', ['req', '-x509', '-new', '-key', 'self.key', '-subj', '/CN=localhost', '-days', '30', '-out', 'self.pem', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  return {
    dir,
    ca: f('ca.pem'),
    valid: { cert: f('valid.pem'), key: f('valid.key') },
    expired: { cert: f('expired.pem'), key: f('expired.key') },
    selfSigned: { cert: f('self.pem'), key: f('self.key') },
    wrongName: { cert: f('wrong.pem'), key: f('wrong.key') },
    viaIntermediate: { cert: f('viaint.pem'), key: f('viaint.key'), chain: f('inter.pem') },
    expiredNotAfter: new Date('2021-01-01T00:00:00Z'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface SServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `openssl s_server` on 127.0.0.1, an ephemeral port; `extra`: more arguments (-WWW, -www, -cert_chain, -alpn...). */
export function sServer(cert: { cert: string; key: string }, extra: string[] = [], cwd?: string): Promise<SServer> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', cert.cert, '-key', cert.key, ...extra], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(cwd === undefined ? {} : { cwd }),
    });
    let out = '';
    const stop = (): Promise<void> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      });
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`openssl s_server did not start: ${out}`));
    }, 10000);
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /ACCEPT [^\n]*:(\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        child.stdout?.removeListener('data', onOut);
        child.stdout?.resume();
        resolve({ port: Number(m[1]), child, stop });
      }
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl s_server exited (${String(code)}): ${out}`));
    });
  });
}
