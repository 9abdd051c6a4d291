// SSH: the server speaks first (RFC 4253 4.2). It may send other lines before
// its identification string; the first line that starts with "SSH-" is it:
//   SSH-2.0-<software> [comments], or SSH-1.99- (2.0 and 1.x)  -> ready, facts software/comments
//   SSH-1.x only                                                -> unexpected-reply
// A server that closes after other lines only says why in them: OpenSSH past
// MaxStartups sends "Exceeded MaxStartups" and closes -> too-many-connections;
// other lines, or none, then a close -> closed-before-reply (the lines in the
// detail). Nothing is sent.
import type * as net from 'node:net';
import { converse, notReady, PeerEnded, printable, ready, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

async function talk(ex: Exchange): Promise<Conclusion> {
  const before: string[] = [];
  for (let i = 0; i < 20; i++) {
    let line: string;
    try {
      line = await ex.readLine(255);
    } catch (error) {
      if (!(error instanceof PeerEnded) || before.length === 0) throw error;
      const said = before.map((l) => printable(l, 80)).join(' / ');
      if (/MaxStartups|too many/i.test(said)) return notReady('too-many-connections', `the server said "${said}" and closed, before its identification string`, { message: said });
      return notReady(error.reason, `the server said "${said}" and closed, before its identification string`, { message: said });
    }
    if (!line.startsWith('SSH-')) {
      before.push(line);
      continue;
    }
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
  async run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, talk);
  },
};
