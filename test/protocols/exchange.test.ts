// The exchange every module speaks through, and the checks that have no
// server here: how a FIN, an RST, an abort and garbage end an exchange (each
// peer is scripted, and says so), AMQP 0-9-1 (RabbitMQ's start-up does not fit
// the CI budget, so its Connection.Start is scripted), and send/expect, which
// runs against redis-server and sshd where they are installed.
import * as net from 'node:net';
import { amqp } from '../../src/checks/amqp';
import { Exchange, printable } from '../../src/checks/exchange';
import { postgres } from '../../src/checks/postgres';
import { redis } from '../../src/checks/redis';
import { sendExpect, sendExpectCheck, validateSteps } from '../../src/checks/send-expect';
import { ssh } from '../../src/checks/ssh';
import { needs } from '../preconditions';
import { stopAll } from '../servers/harness';
import { redisServer, startRedis } from '../servers/redis';
import { connect, runCheck } from './connect';

afterAll(stopAll);

/** A scripted peer: `onConnection` gets each accepted socket. */
async function peer(onConnection: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('exchange endings (scripted peers)', () => {
  test('scripted: a FIN before any reply is closed-before-reply, with what was sent', async () => {
    const p = await peer((s) => s.once('data', () => s.end()));
    try {
      const v = await runCheck(redis, p.port);
      expect(v).toMatchObject({ ready: false, reason: 'closed-before-reply', sent: '*1\\r\\n$4\\r\\nPING\\r\\n', received: '' });
    } finally {
      p.close();
    }
  });

  test('scripted: an RST before any reply is reset-before-reply', async () => {
    const p = await peer((s) => s.once('data', () => s.resetAndDestroy()));
    try {
      expect(await runCheck(redis, p.port)).toMatchObject({ ready: false, reason: 'reset-before-reply' });
    } finally {
      p.close();
    }
  });

  test('scripted: a partial reply then FIN is closed-before-reply, the partial bytes kept as evidence', async () => {
    const p = await peer((s) => s.end('SSH-2.0-half'));
    try {
      const v = await runCheck(ssh, p.port);
      expect(v).toMatchObject({ ready: false, reason: 'closed-before-reply', received: 'SSH-2.0-half' });
      expect(v.detail).toMatch(/partial reply/);
    } finally {
      p.close();
    }
  });

  test('scripted: a silent peer and an abort: the check rejects with the signal\'s reason, listeners removed', async () => {
    const p = await peer(() => undefined);
    try {
      const ac = new AbortController();
      const reason = new Error('deadline');
      setTimeout(() => ac.abort(reason), 50);
      await expect(runCheck(postgres, p.port, {}, ac.signal)).rejects.toBe(reason);
      // Already aborted before the check starts: the same, at once.
      await expect(runCheck(redis, p.port, {}, AbortSignal.abort(reason))).rejects.toBe(reason);
    } finally {
      p.close();
    }
  });

  test('scripted: bytes that are not the protocol are unexpected-reply, printable', async () => {
    const p = await peer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    try {
      const pg = await runCheck(postgres, p.port);
      expect(pg).toMatchObject({ ready: false, reason: 'unexpected-reply', received: 'HTTP/1.1 400 Bad Request\\r\\n\\r\\n' });
      const r = await runCheck(redis, p.port);
      expect(r).toMatchObject({ ready: false, reason: 'unexpected-reply' });
    } finally {
      p.close();
    }
  });

  test('printable renders control bytes as escapes and stops at the limit', () => {
    expect(printable(Buffer.from([0x41, 0x0d, 0x0a, 0x00, 0xff, 0x5c, 0x09]))).toBe('A\\r\\n\\x00\\xff\\\\\\t');
    expect(printable(Buffer.alloc(300, 0x00)).length).toBeLessThanOrEqual(256);
  });

  test('one read at a time; reads after close reject; bad option types are TypeErrors', async () => {
    const p = await peer(() => undefined);
    const socket = await connect(p.port);
    try {
      const ex = new Exchange(socket, AbortSignal.timeout(5000));
      const first = ex.readLine();
      await expect(ex.readLine()).rejects.toThrow(/one read at a time/);
      ex.close();
      await expect(first).rejects.toThrow(/closed/);
      await expect(ex.readLine()).rejects.toThrow(/closed/);
      await expect(redis.run(socket, { signal: AbortSignal.timeout(1000), host: '127.0.0.1', options: { password: 42 } })).rejects.toThrow(TypeError);
    } finally {
      socket.destroy();
      p.close();
    }
  });
});

describe('amqp (scripted broker: RabbitMQ is not started here)', () => {
  /** Connection.Start as RabbitMQ 3.10 sends it: version 0-9, server-properties, mechanisms, locales. */
  function connectionStart(): Buffer {
    const longstr = (s: string): Buffer => {
      const b = Buffer.from(s);
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      return Buffer.concat([n, b]);
    };
    const entry = (k: string, type: string, v: Buffer): Buffer => Buffer.concat([Buffer.from([k.length]), Buffer.from(k), Buffer.from(type), v]);
    const caps = Buffer.concat([entry('publisher_confirms', 't', Buffer.from([1]))]);
    const capsLen = Buffer.alloc(4);
    capsLen.writeUInt32BE(caps.length);
    const table = Buffer.concat([entry('capabilities', 'F', Buffer.concat([capsLen, caps])), entry('product', 'S', longstr('RabbitMQ')), entry('version', 'S', longstr('3.10.8'))]);
    const tableLen = Buffer.alloc(4);
    tableLen.writeUInt32BE(table.length);
    const payload = Buffer.concat([Buffer.from([0, 10, 0, 10, 0, 9]), tableLen, table, longstr('PLAIN AMQPLAIN'), longstr('en_US')]);
    const head = Buffer.from([1, 0, 0, 0, 0, 0, 0]);
    head.writeUInt32BE(payload.length, 3);
    return Buffer.concat([head, payload, Buffer.from([0xce])]);
  }

  test('scripted: the 0-9-1 header answered with Connection.Start is ready, with product and version', async () => {
    let got: Buffer = Buffer.alloc(0);
    const p = await peer((s) =>
      s.once('data', (d: Buffer) => {
        got = d;
        s.write(connectionStart());
      }),
    );
    try {
      const v = await runCheck(amqp, p.port);
      expect(got.toString('latin1')).toBe('AMQP\x00\x00\x09\x01');
      expect(v).toMatchObject({ ready: true, sent: 'AMQP\\x00\\x00\\t\\x01', facts: { product: 'RabbitMQ', version: '3.10.8', version_major: 0, version_minor: 9, mechanisms: 'PLAIN AMQPLAIN' } });
    } finally {
      p.close();
    }
  });

  test('scripted: a broker answering with its own protocol header (AMQP 1.0) is unexpected-reply', async () => {
    const p = await peer((s) => s.once('data', () => s.end(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'))));
    try {
      const v = await runCheck(amqp, p.port);
      expect(v).toMatchObject({ ready: false, reason: 'unexpected-reply', received: 'AMQP\\x00\\x01\\x00\\x00' });
      expect(v.detail).toMatch(/version 1-0-0/);
    } finally {
      p.close();
    }
  });
});

describe('send/expect', () => {
  test('steps are validated: TypeError for wrong types, RangeError for none', () => {
    expect(() => validateSteps('PING')).toThrow(TypeError);
    expect(() => validateSteps([])).toThrow(RangeError);
    expect(() => validateSteps([{}])).toThrow(RangeError);
    expect(() => validateSteps([{ expect: 42 }])).toThrow(TypeError);
    expect(() => sendExpectCheck([{ send: 5 as unknown as string }])).toThrow(TypeError);
  });

  needs(redisServer.requirement).test('against redis-server: PING then /^\\+PONG$/ is ready; expecting what never comes is unexpected-reply once the peer closes', async () => {
    const server = await startRedis();
    const ok = await runCheck(sendExpect, server.port, { steps: [{ send: 'PING\r\n', expect: /^\+PONG$/ }, { send: 'ECHO hi\r\n', expect: 'hi' }] });
    expect(ok).toMatchObject({ ready: true, facts: { step1: '+PONG', step2: 'hi' } });
    const bad = await runCheck(sendExpectCheck([{ send: 'PING\r\n', expect: 'PONG' }, { send: 'QUIT\r\n', expect: 'never' }]), server.port);
    expect(bad).toMatchObject({ ready: false, reason: 'unexpected-reply' });
    expect(bad.detail).toMatch(/step 2 expected a line matching "never"; the peer closed after 1 other line\(s\), the last "\+OK"/);
    expect(bad.received).toMatch(/^\+PONG\\r\\n\+OK\\r\\n$/);
    await server.stop();
  });
});
