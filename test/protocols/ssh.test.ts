// The ssh check against OpenSSH's sshd: its identification string, and what
// it says past MaxStartups.
import { ssh } from '../../src/checks/ssh';
import { needs } from '../preconditions';
import { stopAll } from '../servers/harness';
import { sshd, sshKeygen, startSshd } from '../servers/brokers';
import { hold, runCheck } from './connect';

afterAll(stopAll);

needs(sshd.requirement, sshKeygen).describe('ssh check against sshd', () => {
  test('SSH-2.0-OpenSSH_...: ready, with the software version; nothing sent', async () => {
    const server = await startSshd();
    const v = await runCheck(ssh, server.port);
    expect(v).toMatchObject({ ready: true, sent: '', facts: { protocol: '2.0', software: expect.stringMatching(/^OpenSSH_\d/) } });
    expect(v.received).toMatch(/^SSH-2\.0-OpenSSH_/);
    await server.stop();
  });

  test('MaxStartups 1 with one unauthenticated connection held: "Exceeded MaxStartups" and a close is too-many-connections', async () => {
    const server = await startSshd(['MaxStartups=1']);
    const held = await hold(server.port, 1, (first) => first.toString('latin1').startsWith('SSH-'));
    try {
      const v = await runCheck(ssh, server.port);
      expect(v).toMatchObject({ ready: false, reason: 'too-many-connections', facts: { message: 'Exceeded MaxStartups' } });
      expect(v.received).toBe('Exceeded MaxStartups\\r\\n');
    } finally {
      held.close();
    }
    await server.stop();
  });
});
