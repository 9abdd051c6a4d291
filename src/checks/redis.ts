// Redis: what `redis-cli ping` asks. PING (as a RESP array) and the first reply:
//   +PONG                              -> ready
//   -LOADING ...                       -> not ready, loading (the dataset is still being read)
//   -NOAUTH / -WRONGPASS / -NOPERM     -> ready: the server is up and wants credentials
//                                         (fact auth_required); with a password option,
//                                         AUTH comes first and its refusal is auth-failed
//   -ERR max number of clients reached -> not ready, too-many-connections (maxclients)
//   -MASTERDOWN, -BUSY, -MISCONF, any other error -> not ready, server-error
//   anything else                      -> unexpected-reply
import type * as net from 'node:net';
import { converse, notReady, ready, stringOption, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

/** A command as a RESP array of bulk strings. */
export function respCommand(...args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''), 'utf8');
}

/** The error's first word (LOADING, NOAUTH, ERR...) and its text. */
function classifyError(text: string): Conclusion {
  const word = /^\S+/.exec(text)?.[0] ?? '';
  const facts = { error: word };
  switch (word) {
    case 'LOADING':
      return notReady('loading', `the server is loading its dataset: -${text}`, facts);
    case 'NOAUTH':
    case 'WRONGPASS':
    case 'NOPERM':
      return ready(`the server is up and requires authentication: -${text}`, { ...facts, auth_required: true });
    default:
      if (/max(imum)? number of clients/i.test(text)) return notReady('too-many-connections', `the server refused the connection: -${text}`, facts);
      return notReady('server-error', `the server answered an error: -${text}`, facts);
  }
}

async function talk(ex: Exchange, password: string | undefined, username: string | undefined): Promise<Conclusion> {
  if (password !== undefined) {
    ex.send(username === undefined ? respCommand('AUTH', password) : respCommand('AUTH', username, password));
    const auth = await ex.readLine();
    if (auth.startsWith('-')) {
      const c = classifyError(auth.slice(1));
      if (c.ready || /^(WRONGPASS|ERR invalid (username|password))/.test(auth.slice(1))) {
        return notReady('auth-failed', `the server refused the credentials: ${auth}`, { ...c.facts, auth_required: true });
      }
      return c;
    }
    if (!auth.startsWith('+')) throw new Unexpected(`the server answered AUTH with "${auth.slice(0, 80)}"`);
  }
  ex.send(respCommand('PING'));
  const line = await ex.readLine();
  if (line === '+PONG') return ready('the server answered +PONG', { reply: 'PONG', ...(password === undefined ? {} : { authenticated: true }) });
  if (line.startsWith('-')) return classifyError(line.slice(1));
  throw new Unexpected(`the server answered PING with "${line.slice(0, 80)}", not +PONG`);
}

export const redis: ProtocolCheck = {
  name: 'redis',
  defaultPort: 6379,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const password = stringOption(ctx.options, 'password');
    const username = stringOption(ctx.options, 'user');
    return converse(socket, ctx.signal, (ex) => talk(ex, password, username));
  },
};
