// SMTP: the server speaks first (RFC 5321 3.1). Its greeting:
//   220             -> ready (the check then sends QUIT, as check_smtp does)
//   421             -> not ready: too-many-connections when the text says so, else server-error
//                      ("Service not available, closing transmission channel")
//   554 and other codes -> not ready, server-error ("no SMTP service here")
// smtpStartTls() is the STARTTLS prelude (RFC 3207): the 220 greeting, EHLO,
// STARTTLS among the extensions, STARTTLS, and 220 "ready to start TLS".
import type * as net from 'node:net';
import { converse, notReady, ready, readCodedReply, tlsPrelude, type CodedReply, type Conclusion, type Exchange, type TlsPrelude } from './exchange';
import type { NotReadyReason, ProtocolCheck, ProtocolContext } from './protocol';

/** What a greeting other than the ready code means (shared with FTP). */
export function refusal(reply: CodedReply, what: string): Conclusion {
  const text = reply.lines.join(' ');
  const facts = { code: reply.code, banner: text };
  let reason: NotReadyReason = 'server-error';
  if (reply.code === 421 && /too many|connection limit|maximum (number of )?connections/i.test(text)) reason = 'too-many-connections';
  return notReady(reason, `the ${what} greeted with ${reply.code} ${text}`, facts);
}

async function greeting(ex: Exchange): Promise<Conclusion> {
  const reply = await readCodedReply(ex);
  if (reply.code !== 220) return refusal(reply, 'server');
  const banner = reply.lines.join(' ');
  return ready(`the server greeted with 220 ${banner}`, { code: 220, banner });
}

export const smtp: ProtocolCheck = {
  name: 'smtp',
  defaultPort: 25,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    return converse(socket, ctx.signal, async (ex) => {
      const c = await greeting(ex);
      if (c.ready) ex.send('QUIT\r\n');
      return c;
    });
  },
};

/** The STARTTLS prelude: greeting, EHLO `helo`, STARTTLS; ok when the server answered 220 to STARTTLS. */
export function smtpStartTls(socket: net.Socket, signal: AbortSignal, helo = 'localhost'): Promise<TlsPrelude> {
  return tlsPrelude(socket, signal, async (ex) => {
    const c = await greeting(ex);
    if (!c.ready) return c;
    ex.send(`EHLO ${helo}\r\n`);
    const ehlo = await readCodedReply(ex);
    if (ehlo.code !== 250) return notReady('server-error', `the server answered EHLO with ${ehlo.code} ${ehlo.lines.join(' ')}`, { code: ehlo.code });
    if (!ehlo.lines.some((l) => /^STARTTLS\b/i.test(l))) return notReady('tls-handshake', 'the server does not offer STARTTLS in its EHLO reply', { ...c.facts, starttls: false });
    ex.send('STARTTLS\r\n');
    const go = await readCodedReply(ex);
    if (go.code !== 220) return notReady('tls-handshake', `the server answered STARTTLS with ${go.code} ${go.lines.join(' ')}`, { code: go.code });
    return ready(`the server agreed to STARTTLS: 220 ${go.lines.join(' ')}`, { ...c.facts, starttls: true });
  });
}
