// AMQP 0-9-1 (RabbitMQ): the client sends the protocol header
// "AMQP\x00\x00\x09\x01"; a broker that speaks 0-9-1 answers with a method
// frame on channel 0 carrying Connection.Start (class 10, method 10), whose
// server-properties name the product and version -> ready. A broker that does
// not speak 0-9-1 answers with its own protocol header and closes ->
// unexpected-reply, with the header it offered. Nothing else is sent: the
// runner closes before Connection.StartOk.
import type * as net from 'node:net';
import { converse, ready, Unexpected, type Conclusion, type Exchange, type Parser } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

export const AMQP_0_9_1_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

type Frame = { kind: 'header'; bytes: Buffer } | { kind: 'frame'; type: number; channel: number; payload: Buffer };

const frame: Parser<Frame> = (buf) => {
  if (buf.length < 8) return undefined;
  if (buf.toString('latin1', 0, 4) === 'AMQP') return { value: { kind: 'header', bytes: Buffer.from(buf.subarray(0, 8)) }, used: 8 };
  const size = buf.readUInt32BE(3);
  if (size > 1 << 20) throw new Unexpected('a frame size over 1 MiB: not an AMQP 0-9-1 frame');
  if (buf.length < 7 + size + 1) return undefined;
  if (buf[7 + size] !== 0xce) throw new Unexpected('a frame without the frame-end octet 0xCE');
  return { value: { kind: 'frame', type: buf[0]!, channel: buf.readUInt16BE(1), payload: Buffer.from(buf.subarray(7, 7 + size)) }, used: 8 + size };
};

/** The long strings of a field table, by name (other value types skipped). */
export function fieldTableStrings(table: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  const fixed: Record<string, number> = { t: 1, b: 1, B: 1, s: 2, u: 2, I: 4, i: 4, l: 8, L: 8, f: 4, d: 8, D: 5, T: 8, V: 0 };
  while (at < table.length) {
    const keyLength = table[at]!;
    const key = table.toString('utf8', at + 1, at + 1 + keyLength);
    at += 1 + keyLength;
    const type = String.fromCharCode(table[at]!);
    at += 1;
    if (type === 'S' || type === 'x' || type === 'A' || type === 'F') {
      const length = table.readUInt32BE(at);
      if (type === 'S') out[key] = table.toString('utf8', at + 4, at + 4 + length);
      at += 4 + length;
    } else if (fixed[type] !== undefined) {
      at += fixed[type];
    } else {
      break; // an unknown type: its length cannot be known
    }
  }
  return out;
}

async function talk(ex: Exchange): Promise<Conclusion> {
  ex.send(AMQP_0_9_1_HEADER);
  const f = await ex.read(frame);
  if (f.kind === 'header') {
    const [major, minor, revision] = [f.bytes[5]!, f.bytes[6]!, f.bytes[7]!];
    throw new Unexpected(`the server does not speak AMQP 0-9-1: it answered with its own protocol header (id ${f.bytes[4]!}, version ${major}-${minor}-${revision})`);
  }
  const p = f.payload;
  if (f.type !== 1 || f.channel !== 0 || p.length < 6 || p.readUInt16BE(0) !== 10 || p.readUInt16BE(2) !== 10) {
    throw new Unexpected(`a frame of type ${f.type} on channel ${f.channel} where Connection.Start (method 10,10 on channel 0) was due`);
  }
  const facts: Record<string, string | number | boolean> = { version_major: p[4]!, version_minor: p[5]! };
  try {
    const tableLength = p.readUInt32BE(6);
    const props = fieldTableStrings(p.subarray(10, 10 + tableLength));
    for (const key of ['product', 'version', 'platform', 'cluster_name']) if (props[key] !== undefined) facts[key] = props[key];
    const mechLength = p.readUInt32BE(10 + tableLength);
    facts.mechanisms = p.toString('utf8', 14 + tableLength, 14 + tableLength + mechLength);
  } catch {
    // server-properties that do not parse: Connection.Start was still sent
  }
  const product = facts.product === undefined ? '' : ` from ${String(facts.product)}${facts.version === undefined ? '' : ` ${String(facts.version)}`}`;
  return ready(`the server sent Connection.Start (AMQP ${p[4]!}-${p[5]!})${product}`, facts);
}

export const amqp: ProtocolCheck = {
  name: 'amqp',
  defaultPort: 5672,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, talk);
  },
};
