// NATS: the server speaks first, one line `INFO {json}` -> ready, with the
// server's id, name and version from the JSON. `-ERR 'maximum connections
// exceeded'` (the server's max_connections) -> too-many-connections; any other
// -ERR -> server-error. Nothing is sent.
import type * as net from 'node:net';
import { converse, notReady, ready, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

async function talk(ex: Exchange): Promise<Conclusion> {
  const line = await ex.readLine(64 * 1024 - 1);
  if (line.startsWith('-ERR')) {
    const text = line.slice(4).trim().replace(/^'(.*)'$/, '$1');
    if (/maximum connections/i.test(text)) return notReady('too-many-connections', `the server refused the connection: -ERR '${text}'`, { error: text });
    return notReady('server-error', `the server answered -ERR '${text}'`, { error: text });
  }
  const m = /^INFO\s+(\{.*\})\s*$/i.exec(line);
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
  return ready(`the server sent INFO${typeof info.version === 'string' ? ` (nats-server ${info.version})` : ''}`, facts);
}

export const nats: ProtocolCheck = {
  name: 'nats',
  defaultPort: 4222,
  run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, talk);
  },
};
