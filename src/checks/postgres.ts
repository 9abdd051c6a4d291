// PostgreSQL: pg_isready's question, asked the way libpq asks it. A
// StartupMessage (protocol 3.0, a user and a database) and the first answer:
//   - an authentication request (any method): the server is up -> ready;
//   - an ErrorResponse with SQLSTATE 57P03 (cannot_connect_now: "the database
//     system is starting up", "... is not accepting connections" from a
//     standby with hot_standby = off, "... is shutting down"): pg_isready's
//     REJECT -> not ready, starting-up;
//   - SQLSTATE 53300 (too_many_connections): pg_isready says "accepting
//     connections" here, since libpq's internal_ping() treats every SQLSTATE
//     but 57P03 as up. We say not ready, too-many-connections: no client can
//     get a session. The fact pg_isready records what pg_isready would say;
//   - any other ErrorResponse (no such role or database, a pg_hba.conf
//     rejection): the server is up and answering -> ready, as pg_isready;
//   - anything else: unexpected-reply.
// With AuthenticationOk (trust) the exchange goes on to ReadyForQuery to read
// server_version, then sends Terminate.
//
// postgresSslRequest() is the STARTTLS prelude: SSLRequest, then 'S' (go on
// with a TLS handshake) or 'N' (the server has no SSL).
import type * as net from 'node:net';
import { converse, notReady, ready, stringOption, tlsPrelude, Unexpected, type Conclusion, type Exchange, type Parser, type TlsPrelude } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

const PROTOCOL_3_0 = 196608;
const SSL_REQUEST_CODE = 80877103;

/** The StartupMessage for `user` and `database`. */
export function startupMessage(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0sockprobe\0\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, params]);
}

interface Message {
  type: string;
  body: Buffer;
}

/** One backend message: a type byte, an Int32 length (itself included), the body. */
const message: Parser<Message> = (buf) => {
  if (buf.length < 5) return undefined;
  const type = String.fromCharCode(buf[0]!);
  const length = buf.readInt32BE(1);
  if (!/^[A-Za-z]$/.test(type) || length < 4 || length > 1 << 20) throw new Unexpected('the reply is not a PostgreSQL backend message');
  if (buf.length < 1 + length) return undefined;
  return { value: { type, body: Buffer.from(buf.subarray(5, 1 + length)) }, used: 1 + length };
};

/** An ErrorResponse's or NoticeResponse's fields by their code letter (S, V, C, M, D, H...). */
export function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const code = String.fromCharCode(body[at]!);
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(code, body.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return fields;
}

const AUTH_METHODS: Record<number, string> = {
  0: 'ok',
  2: 'kerberos-v5',
  3: 'password',
  5: 'md5',
  7: 'gss',
  9: 'sspi',
  10: 'sasl',
};

/** What an ErrorResponse before any authentication request says about readiness. */
function fromError(fields: Map<string, string>): Conclusion {
  const sqlstate = fields.get('C') ?? '';
  const text = fields.get('M') ?? '';
  const said = `${fields.get('S') ?? 'ERROR'}: ${text}${fields.has('D') ? ` (${fields.get('D')!})` : ''}`;
  const facts = { sqlstate, message: text };
  if (sqlstate === '57P03') return notReady('starting-up', `the server answered ${said} (SQLSTATE 57P03, cannot_connect_now)`, { ...facts, pg_isready: 'rejecting connections' });
  if (sqlstate === '53300') return notReady('too-many-connections', `the server answered ${said} (SQLSTATE 53300, too_many_connections)`, { ...facts, pg_isready: 'accepting connections' });
  if (sqlstate.length !== 5) return notReady('unexpected-reply', `the server answered ${said} without a SQLSTATE`, { ...facts, pg_isready: 'no response' });
  return ready(`the server is up and refused this session: ${said} (SQLSTATE ${sqlstate})`, { ...facts, pg_isready: 'accepting connections' });
}

async function talk(ex: Exchange, user: string, database: string): Promise<Conclusion> {
  ex.send(startupMessage(user, database));
  const facts: Record<string, string | number | boolean> = {};
  for (;;) {
    const m = await ex.read(message);
    switch (m.type) {
      case 'R': {
        const code = m.body.length >= 4 ? m.body.readInt32BE(0) : -1;
        const method = AUTH_METHODS[code] ?? `code ${code}`;
        if (code !== 0) {
          const mechanisms = code === 10 ? m.body.toString('utf8', 4).split('\0').filter((s) => s !== '').join(',') : '';
          return ready(`the server asked for authentication (${method}${mechanisms === '' ? '' : `: ${mechanisms}`})`, {
            auth: method,
            ...(mechanisms === '' ? {} : { sasl: mechanisms }),
            pg_isready: 'accepting connections',
          });
        }
        facts.auth = 'trust';
        break;
      }
      case 'S': {
        const [name, value] = m.body.toString('utf8').split('\0');
        if (name === 'server_version' && value !== undefined) facts.server_version = value;
        break;
      }
      case 'K':
      case 'N':
      case 'v':
        break; // BackendKeyData, a notice, NegotiateProtocolVersion: read on
      case 'Z':
        ex.send(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
        return ready(`the server accepted a session${facts.server_version === undefined ? '' : ` (PostgreSQL ${String(facts.server_version)})`}`, {
          ...facts,
          pg_isready: 'accepting connections',
        });
      case 'E': {
        const c = fromError(errorFields(m.body));
        return facts.auth === undefined ? c : { ...c, facts: { ...facts, ...c.facts } };
      }
      default:
        throw new Unexpected(`the server sent a '${m.type}' message where an authentication request or an error was due`);
    }
  }
}

export const postgres: ProtocolCheck = {
  name: 'postgres',
  defaultPort: 5432,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const user = stringOption(ctx.options, 'user') ?? 'postgres';
    const database = stringOption(ctx.options, 'database') ?? user;
    return converse(socket, ctx.signal, (ex) => talk(ex, user, database));
  },
};

/** The STARTTLS prelude: SSLRequest; 'S' means go on with a TLS handshake, 'N' that the server has no SSL. */
export function postgresSslRequest(socket: net.Socket, signal: AbortSignal): Promise<TlsPrelude> {
  return tlsPrelude(socket, signal, async (ex) => {
    const req = Buffer.alloc(8);
    req.writeInt32BE(8, 0);
    req.writeInt32BE(SSL_REQUEST_CODE, 4);
    ex.send(req);
    const answer = await ex.read<string | Message>((buf) => {
      if (buf.length === 0) return undefined;
      return buf[0] === 0x45 ? message(buf) : { value: String.fromCharCode(buf[0]!), used: 1 }; // 'E': an ErrorResponse
    });
    if (answer === 'S') return ready('the server agreed to SSL (S)', { ssl: 'S' });
    if (answer === 'N') return notReady('tls-handshake', 'the server does not accept SSL connections (answered N to SSLRequest)', { ssl: 'N' });
    if (typeof answer !== 'string') {
      const c = fromError(errorFields(answer.body));
      return c.ready ? notReady('server-error', c.detail, c.facts) : c;
    }
    throw new Unexpected(`the server answered ${JSON.stringify(answer)} to SSLRequest, neither S nor N`);
  });
}
