// MySQL and MariaDB: the server speaks first. Its first packet is either the
// initial handshake (protocol version 10, the server version, a connection id)
// -> ready, or an ERR packet sent instead of the greeting:
//   1040 ER_CON_COUNT_ERROR "Too many connections"            -> not ready, too-many-connections
//   1130 ER_HOST_NOT_PRIVILEGED (this host may not connect),
//   1045 ER_ACCESS_DENIED_ERROR                               -> ready: the server is up and
//        refuses this client, as `mysqladmin ping` counts an access denial as alive
//   any other ERR (1129 ER_HOST_IS_BLOCKED, 1053 shutdown...)  -> not ready, server-error
// Without a user, nothing is sent: the check reads the greeting and the runner
// closes. With a `user` option (and `password`), it goes on as `mysqladmin
// ping` does: a HandshakeResponse41 with mysql_native_password, and the reply:
//   OK                                          -> ready
//   ERR 1040                                    -> too-many-connections (a server also
//        checks its limit after a non-admin login, past the slot kept for an admin)
//   ERR 1045                                    -> auth-failed (mysqladmin ping would call
//        the server alive; sockprobe says the credentials it was given were refused)
//   an auth switch to a plugin other than mysql_native_password -> ready (fact auth_plugin)
import { createHash } from 'node:crypto';
import type * as net from 'node:net';
import { converse, notReady, ready, stringOption, Unexpected, type Conclusion, type Exchange, type Parser } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

/** One packet: a 3-byte little-endian length, a sequence id, the payload. */
const packet: Parser<Buffer> = (buf) => {
  if (buf.length < 4) return undefined;
  const length = buf.readUIntLE(0, 3);
  if (length === 0 || length > 1 << 16) throw new Unexpected(`a packet length of ${length}: not a MySQL greeting`);
  if (buf.length < 4 + length) return undefined;
  return { value: Buffer.from(buf.subarray(4, 4 + length)), used: 4 + length };
};

function cstring(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Unexpected('a greeting whose server version has no terminating NUL');
  return [buf.toString('utf8', at, end), end + 1];
}

function fromErr(payload: Buffer): Conclusion {
  const code = payload.length >= 3 ? payload.readUInt16LE(1) : 0;
  // With CLIENT_PROTOCOL_41 the message follows '#' and a 5-character SQLSTATE; a greeting-time ERR has none.
  const hasState = payload[3] === 0x23;
  const sqlstate = hasState ? payload.toString('latin1', 4, 9) : '';
  const text = payload.toString('utf8', hasState ? 9 : 3);
  const facts = { error_code: code, message: text, ...(sqlstate === '' ? {} : { sqlstate }) };
  const said = `ERROR ${code}${sqlstate === '' ? '' : ` (${sqlstate})`}: ${text}`;
  if (code === 1040) return notReady('too-many-connections', `the server refused the connection: ${said}`, facts);
  if (code === 1130 || code === 1045) return ready(`the server is up and refuses this client: ${said}`, facts);
  return notReady('server-error', `the server answered ${said}`, facts);
}

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); empty for an empty password. */
export function nativePassword(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const mix = sha1(scramble, sha1(stage1));
  return Buffer.from(stage1.map((b, i) => b ^ mix[i]!));
}

function framed(sequence: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = sequence;
  return Buffer.concat([head, payload]);
}

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_LONG_FLAG = 0x4;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;

/** The 20-byte scramble of a v10 greeting (auth-plugin-data parts 1 and 2), read after the version at `at`. */
function scrambleOf(p: Buffer, at: number): Buffer {
  const part1 = p.subarray(at + 4, at + 12);
  const dataLength = p[at + 4 + 8 + 1 + 2 + 1 + 2 + 2] ?? 0;
  const start2 = at + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
  const part2 = p.subarray(start2, start2 + Math.max(12, dataLength - 8 - 1));
  return Buffer.concat([part1, part2]);
}

async function authenticate(ex: Exchange, scramble: Buffer, user: string, password: string, facts: Record<string, string | number | boolean>): Promise<Conclusion> {
  const auth = nativePassword(password, scramble);
  const head = Buffer.alloc(32);
  head.writeUInt32LE(CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, 0);
  head.writeUInt32LE(1 << 24, 4);
  head[8] = 33; // utf8_general_ci
  ex.send(framed(1, Buffer.concat([head, Buffer.from(`${user}\0`, 'utf8'), Buffer.from([auth.length]), auth, Buffer.from('mysql_native_password\0')])));
  let sequence = 2;
  for (let round = 0; round < 3; round++) {
    const reply = await ex.read(packet);
    sequence += 2;
    if (reply[0] === 0x00) return ready(`the server accepted user ${user}`, { ...facts, authenticated: true });
    if (reply[0] === 0xff) {
      const c = fromErr(reply);
      if (c.facts?.error_code === 1045) return notReady('auth-failed', c.detail.replace('the server is up and refuses this client', 'the server refused the credentials'), { ...facts, ...c.facts });
      return { ...c, facts: { ...facts, ...c.facts } };
    }
    if (reply[0] === 0xfe) {
      const [plugin, at] = cstring(reply, 1);
      if (plugin !== 'mysql_native_password') return ready(`the server is up and asks for the ${plugin} authentication plugin`, { ...facts, auth_plugin: plugin });
      const fresh = reply.subarray(at, reply[reply.length - 1] === 0 ? reply.length - 1 : reply.length);
      ex.send(framed(sequence - 1, nativePassword(password, fresh)));
      continue;
    }
    throw new Unexpected(`a reply starting with 0x${reply[0]!.toString(16)} to the handshake response`);
  }
  throw new Unexpected('more than three authentication rounds');
}

async function talk(ex: Exchange, user: string | undefined, password: string): Promise<Conclusion> {
  const p = await ex.read(packet);
  if (p[0] === 0xff) return fromErr(p);
  if (p[0] !== 10) throw new Unexpected(`a first packet of protocol version ${p[0]!}, not 10 (the MySQL handshake v10)`);
  const [version, at] = cstring(p, 1);
  const connectionId = p.length >= at + 4 ? p.readUInt32LE(at) : 0;
  // MariaDB prefixes "5.5.5-" so that old clients accept its 10.x version.
  const mariadb = /mariadb/i.test(version);
  const server = mariadb ? `MariaDB ${version.replace(/^5\.5\.5-/, '').replace(/-MariaDB.*$/i, '')}` : `MySQL ${version}`;
  const facts = { protocol: 10, server_version: version, server, connection_id: connectionId };
  if (user !== undefined) return authenticate(ex, scrambleOf(p, at), user, password, facts);
  return ready(`the server greeted with protocol 10, version ${version}`, facts);
}

export const mysql: ProtocolCheck = {
  name: 'mysql',
  defaultPort: 3306,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const user = stringOption(ctx.options, 'user');
    const password = stringOption(ctx.options, 'password') ?? '';
    return converse(socket, ctx.signal, (ex) => talk(ex, user, password));
  },
};

/** MariaDB speaks the same handshake; the same check under its own name. */
export const mariadb: ProtocolCheck = { ...mysql, name: 'mariadb' };
