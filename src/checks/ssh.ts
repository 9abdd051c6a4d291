// SSH: the server speaks first (RFC 4253 4.2). It may send other lines before
// its identification string; the first line that starts with "SSH-" is it:
//   SSH-2.0-<software> [comments], or SSH-1.99- (2.0 and 1.x)  -> ready, facts software/comments
//   SSH-1.x only                                                -> unexpected-reply
// OpenSSH past MaxStartups closes without a banner: closed-before-reply.
// Nothing is sent.
import type * as net from 'node:net';
import { converse, ready, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

async function talk(ex: Exchange): Promise<Conclusion> {
  for (let i = 0; i < 20; i++) {
    const line = await ex.readLine(255);
    if (!line.startsWith('SSH-')) continue;
    const m = /^SSH-([0-9.]+)-(\S+)(?: (.*))?$/.exec(line);
    if (m === null) throw new Unexpected('an identification string that is not SSH-protoversion-softwareversion');
    const [, proto, software, comments] = m;
    if (proto !== '2.0' && proto !== '1.99') throw new Unexpected(`the server speaks SSH protocol ${proto!} only, not 2.0`);
    return ready(`the server identified as ${line}`, { protocol: proto!, software: software!, ...(comments === undefined ? {} : { comments }) });
  }
  throw new Unexpected('no SSH identification string in the first 20 lines');
}

export const ssh: ProtocolCheck = {
  name: 'ssh',
  defaultPort: 22,
  run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, talk);
  },
};
