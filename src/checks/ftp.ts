// FTP: the server speaks first (RFC 959 5.4, connection establishment):
//   220             -> ready (then QUIT)
//   120 "Service ready in nnn minutes" -> not ready, starting-up
//   421             -> not ready: too-many-connections when the text says so, else server-error
//   other codes     -> not ready, server-error
import type * as net from 'node:net';
import { converse, notReady, ready, readCodedReply } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';
import { refusal } from './smtp';

export const ftp: ProtocolCheck = {
  name: 'ftp',
  defaultPort: 21,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, async (ex) => {
      const reply = await readCodedReply(ex);
      const banner = reply.lines.join(' ');
      if (reply.code === 220) {
        ex.send('QUIT\r\n');
        return ready(`the server greeted with 220 ${banner}`, { code: 220, banner });
      }
      if (reply.code === 120) return notReady('starting-up', `the server is not ready yet: 120 ${banner}`, { code: 120, banner });
      return refusal(reply, 'server');
    });
  },
};
