// MQTT 3.1.1: CONNECT (clean session, a random client id, keep-alive 30 s,
// optional user name and password) and the broker's CONNACK return code:
//   0 accepted                         -> ready (then DISCONNECT, so the broker logs a clean goodbye)
//   3 server unavailable               -> not ready, server-error
//   4 bad user name or password,
//   5 not authorized                   -> without credentials given: ready, the broker is up and
//                                         wants credentials (fact auth_required); with credentials
//                                         given: not ready, auth-failed
//   1 unacceptable protocol version,
//   2 identifier rejected              -> not ready, unexpected-reply (the broker does not take
//                                         an MQTT 3.1.1 client)
import { randomBytes } from 'node:crypto';
import type * as net from 'node:net';
import { converse, notReady, ready, stringOption, Unexpected, type Conclusion, type Exchange, type Parser } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

function utf8Field(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A CONNECT packet for MQTT 3.1.1 (protocol level 4), clean session. */
export function connectPacket(clientId: string, keepAlive: number, username?: string, password?: string): Buffer {
  let flags = 0x02; // clean session
  if (username !== undefined) flags |= 0x80;
  if (password !== undefined) flags |= 0x40;
  const keep = Buffer.alloc(2);
  keep.writeUInt16BE(keepAlive);
  const body = Buffer.concat([
    utf8Field('MQTT'),
    Buffer.from([4, flags]),
    keep,
    utf8Field(clientId),
    ...(username === undefined ? [] : [utf8Field(username)]),
    ...(password === undefined ? [] : [utf8Field(password)]),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

const CONNACK: Parser<Buffer> = (buf) => {
  if (buf.length < 1) return undefined;
  if (buf[0] !== 0x20) throw new Unexpected(`a packet of type ${buf[0]! >> 4} where CONNACK (type 2) was due`);
  if (buf.length < 4) return undefined;
  if (buf[1] !== 2) throw new Unexpected(`a CONNACK of remaining length ${buf[1]!}, not 2 (MQTT 3.1.1)`);
  return { value: Buffer.from(buf.subarray(0, 4)), used: 4 };
};

const RETURN_CODES: Record<number, string> = {
  0: 'connection accepted',
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

async function talk(ex: Exchange, username: string | undefined, password: string | undefined): Promise<Conclusion> {
  const clientId = `sockprobe-${randomBytes(6).toString('hex')}`;
  ex.send(connectPacket(clientId, 30, username, password));
  const ack = await ex.read(CONNACK);
  const code = ack[3]!;
  const words = RETURN_CODES[code] ?? 'a reserved return code';
  const said = `CONNACK return code ${code} (${words})`;
  const facts = { return_code: code, session_present: (ack[2]! & 1) === 1 };
  switch (code) {
    case 0:
      ex.send(Buffer.from([0xe0, 0x00])); // DISCONNECT
      return ready(`the broker accepted the connection: ${said}`, facts);
    case 3:
      return notReady('server-error', `the broker is unavailable: ${said}`, facts);
    case 4:
    case 5:
      if (username !== undefined || password !== undefined) return notReady('auth-failed', `the broker refused the credentials: ${said}`, facts);
      return ready(`the broker is up and requires credentials: ${said}`, { ...facts, auth_required: true });
    default:
      return notReady('unexpected-reply', `the broker does not take this MQTT 3.1.1 client: ${said}`, facts);
  }
}

export const mqtt: ProtocolCheck = {
  name: 'mqtt',
  defaultPort: 1883,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const username = stringOption(ctx.options, 'user');
    const password = stringOption(ctx.options, 'password');
    return converse(socket, ctx.signal, (ex) => talk(ex, username, password));
  },
};
