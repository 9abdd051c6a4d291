// NATS: the server speaks first, one line `INFO {json}`; the check then does
// what a client does to finish connecting: CONNECT (verbose off, optional user
// and password) and PING, and waits for PONG.
//   INFO ... PONG                                  -> ready, facts server_id/name/version
//   -ERR 'maximum connections exceeded'            -> not ready, too-many-connections (nats-server
//                                                     sends it after its INFO, then closes)
//   -ERR 'Authorization Violation'                 -> without credentials: ready, the server is up
//                                                     and wants them (auth_required); with: auth-failed
//   any other -ERR                                 -> not ready, server-error
//   a first line that is not INFO {json}           -> unexpected-reply
import type * as net from 'node:net';
import { converse, notReady, ready, stringOption, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

function fromErr(line: string, credentials: boolean, facts: Record<string, string | number | boolean>): Conclusion {
  const text = line.slice(4).trim().replace(/^'(.*)'$/, '$1');
  const all = { ...facts, error: text };
  if (/maximum connections/i.test(text)) return notReady('too-many-connections', `the server refused the connection: -ERR '${text}'`, all);
  if (/authorization violation|authentication/i.test(text)) {
    if (credentials) return notReady('auth-failed', `the server refused the credentials: -ERR '${text}'`, all);
    return ready(`the server is up and requires credentials: -ERR '${text}'`, { ...all, auth_required: true });
  }
  return notReady('server-error', `the server answered -ERR '${text}'`, all);
}

async function talk(ex: Exchange, user: string | undefined, password: string | undefined): Promise<Conclusion> {
  const credentials = user !== undefined || password !== undefined;
  const first = await ex.readLine(64 * 1024 - 1);
  if (first.startsWith('-ERR')) return fromErr(first, credentials, {});
  const m = /^INFO\s+(\{.*\})\s*$/i.exec(first);
  if (m === null) throw new Unexpected('the first line is not INFO {json}');
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(m[1]!) as Record<string, unknown>;
  } catch {
    throw new Unexpected('the INFO line does not carry valid JSON');
  }
  const facts: Record<string, string | number | boolean> = {};
  for (const key of ['server_id', 'server_name', 'version', 'proto', 'max_payload', 'auth_required', 'tls_required', 'jetstream']) {
    const v = info[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') facts[key] = v;
  }
  const connect: Record<string, unknown> = { verbose: false, pedantic: false, name: 'sockprobe', lang: 'sockprobe', version: '1', protocol: 1 };
  if (user !== undefined) connect.user = user;
  if (password !== undefined) connect.pass = password;
  ex.send(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`);
  for (;;) {
    const line = await ex.readLine(64 * 1024 - 1);
    if (line === 'PONG') {
      return ready(`the server sent INFO${typeof info.version === 'string' ? ` (nats-server ${info.version})` : ''} and answered PING with PONG`, facts);
    }
    if (line.startsWith('-ERR')) return fromErr(line, credentials, facts);
    if (line === '+OK' || line === 'PING' || line.startsWith('INFO')) continue; // an ack, the server's own ping, an updated INFO
    throw new Unexpected(`"${line.slice(0, 80)}" where PONG was due`);
  }
}

export const nats: ProtocolCheck = {
  name: 'nats',
  defaultPort: 4222,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const user = stringOption(ctx.options, 'user');
    const password = stringOption(ctx.options, 'password');
    return converse(socket, ctx.signal, (ex) => talk(ex, user, password));
  },
};
