// MySQL and MariaDB: the server speaks first. Its first packet is either the
// initial handshake (protocol version 10, the server version, a connection id)
// -> ready, or an ERR packet sent instead of the greeting:
//   1040 ER_CON_COUNT_ERROR "Too many connections"            -> not ready, too-many-connections
//   1130 ER_HOST_NOT_PRIVILEGED (this host may not connect),
//   1045 ER_ACCESS_DENIED_ERROR                               -> ready: the server is up and
//        refuses this client, as `mysqladmin ping` counts an access denial as alive
//   any other ERR (1129 ER_HOST_IS_BLOCKED, 1053 shutdown...)  -> not ready, server-error
// Nothing is sent: the check reads the greeting and the runner closes.
import type * as net from 'node:net';
import { converse, notReady, ready, Unexpected, type Conclusion, type Exchange, type Parser } from './exchange';
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

async function talk(ex: Exchange): Promise<Conclusion> {
  const p = await ex.read(packet);
  if (p[0] === 0xff) return fromErr(p);
  if (p[0] !== 10) throw new Unexpected(`a first packet of protocol version ${p[0]!}, not 10 (the MySQL handshake v10)`);
  const [version, at] = cstring(p, 1);
  const connectionId = p.length >= at + 4 ? p.readUInt32LE(at) : 0;
  // MariaDB prefixes "5.5.5-" so that old clients accept its 10.x version.
  const mariadb = /mariadb/i.test(version);
  const server = mariadb ? `MariaDB ${version.replace(/^5\.5\.5-/, '').replace(/-MariaDB.*$/i, '')}` : `MySQL ${version}`;
  return ready(`the server greeted with protocol 10, version ${version}`, { protocol: 10, server_version: version, server, connection_id: connectionId });
}

export const mysql: ProtocolCheck = {
  name: 'mysql',
  defaultPort: 3306,
  run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, talk);
  },
};

/** MariaDB speaks the same handshake; the same check under its own name. */
export const mariadb: ProtocolCheck = { ...mysql, name: 'mariadb' };
