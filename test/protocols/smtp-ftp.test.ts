// The smtp and ftp checks against real servers from Debian: aiosmtpd
// (python3-aiosmtpd, with STARTTLS) and pyftpdlib (python3-pyftpdlib, whose
// own connection limit answers 421). A 421 from an SMTP server and FTP's 120
// ("service ready in nnn minutes") are scripted peers, and say so.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ftp } from '../../src/checks/ftp';
import { smtp, smtpStartTls } from '../../src/checks/smtp';
import { needs, openssl } from '../preconditions';
import { stopAll } from '../servers/harness';
import { aiosmtpd, pyftpdlib, startFtp, startSmtp } from '../servers/brokers';
import { connect, runCheck } from './connect';

afterAll(stopAll);

/** A scripted peer that greets every connection with `greeting` and closes. */
async function greeter(greeting: string): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(greeting);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

needs(aiosmtpd.requirement, openssl).describe('smtp check against aiosmtpd', () => {
  test('220 greeting: ready, the banner kept, QUIT sent', async () => {
    const server = await startSmtp();
    const v = await runCheck(smtp, server.port);
    expect(v).toMatchObject({ ready: true, sent: 'QUIT\\r\\n', facts: { code: 220, banner: expect.stringMatching(/Python SMTP/) } });
    await server.stop();
  });

  test('STARTTLS prelude: EHLO lists STARTTLS, 220 to STARTTLS, then a real TLS handshake on the same socket', async () => {
    const server = await startSmtp();
    const socket = await connect(server.port);
    try {
      const prelude = await smtpStartTls(socket, AbortSignal.timeout(10000));
      expect(prelude).toMatchObject({ ok: true, facts: { starttls: true } });
      if (!prelude.ok) throw new Error('unreachable');
      expect(prelude.sent).toBe('EHLO localhost\\r\\nSTARTTLS\\r\\n');
      const secure = tls.connect({ socket, rejectUnauthorized: false, servername: 'localhost' });
      secure.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      expect(secure.getProtocol()).toMatch(/^TLSv1\.[23]$/);
      secure.destroy();
    } finally {
      socket.destroy();
    }
    await server.stop();
  });
});

test('scripted SMTP peer: 421 "too many connections" is too-many-connections; 554 is server-error', async () => {
  const busy = await greeter('421 mail.example Too many connections, try again later\r\n');
  const refused = await greeter('554 No SMTP service here\r\n');
  try {
    expect(await runCheck(smtp, busy.port)).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { code: 421 } });
    expect(await runCheck(smtp, refused.port)).toMatchObject({ ready: false, reason: 'server-error', facts: { code: 554 } });
  } finally {
    busy.close();
    refused.close();
  }
});

needs(pyftpdlib.requirement).describe('ftp check against pyftpdlib', () => {
  test('220 greeting: ready, QUIT sent', async () => {
    const server = await startFtp();
    const v = await runCheck(ftp, server.port);
    expect(v).toMatchObject({ ready: true, sent: 'QUIT\\r\\n', facts: { code: 220, banner: expect.stringMatching(/pyftpdlib/) } });
    await server.stop();
  });

  test('over its max_cons pyftpdlib answers 421 Too many connections: too-many-connections', async () => {
    // pyftpdlib compares max_cons with the size of its socket map, which holds its own listener too:
    // at max_cons 1 every client is over the limit.
    const server = await startFtp(1);
    const v = await runCheck(ftp, server.port);
    expect(v).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { code: 421 } });
    expect(v.received).toMatch(/^421 Too many connections/);
    await server.stop();
  });
});

test('scripted FTP peer: 120 "service ready in nnn minutes" is starting-up, a multi-line 220 is read whole', async () => {
  const later = await greeter('120 Service ready in 5 minutes.\r\n');
  const multi = await greeter('220-Welcome\r\n  to the archive\r\n220 ready\r\n');
  try {
    expect(await runCheck(ftp, later.port)).toMatchObject({ ready: false, reason: 'starting-up', facts: { code: 120 } });
    expect(await runCheck(ftp, multi.port)).toMatchObject({ ready: true, facts: { banner: 'Welcome   to the archive ready' } });
  } finally {
    later.close();
    multi.close();
  }
});
