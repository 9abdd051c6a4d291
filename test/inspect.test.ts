// inspect() on real loopback connections, compared with what `ss -tin` prints
// for the same 4-tuple. Nothing is mocked.
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { inspect, type SocketSnapshot } from '../src';
import { native } from '../src/binding';
import { TCP_STATE, tcpStateName } from '../src/tcp-states';
import { fdCount, tmpDir } from './helpers';
import { nativeEngine, needs, openssl, ss as ssTool, type Gate } from './preconditions';

/** One socket's line pair from `ss -tinH`, the numbers this test compares. */
interface SsLine {
  state: string;
  recvQ: number;
  sendQ: number;
  rttUs?: number;
  rttVarUs?: number;
  mss?: number;
  rcvMss?: number;
  cwnd?: number;
  bytesAcked?: number;
  bytesReceived?: number;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** `ss -tin` for exactly this 4-tuple. */
function ss(socket: net.Socket): SsLine {
  const args = ['-tinH', 'state', 'all', 'src', hostPort(socket.localAddress!, socket.localPort!), 'dst', hostPort(socket.remoteAddress!, socket.remotePort!)];
  const out = execFileSync('ss', args, { encoding: 'utf8' });
  const [head, info = ''] = out.split('\n').filter((l) => l.trim() !== '');
  if (head === undefined) throw new Error(`ss printed nothing for ${args.join(' ')}`);
  const [state = '', recvQ = 'NaN', sendQ = 'NaN'] = head.trim().split(/\s+/);
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(info);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const rtt = /\brtt:([\d.]+)\/([\d.]+)/.exec(info);
  return {
    state,
    recvQ: Number(recvQ),
    sendQ: Number(sendQ),
    rttUs: rtt ? Math.round(Number(rtt[1]) * 1000) : undefined,
    rttVarUs: rtt ? Math.round(Number(rtt[2]) * 1000) : undefined,
    mss: num(/(?:^|\s)mss:(\d+)/),
    rcvMss: num(/\brcvmss:(\d+)/),
    cwnd: num(/\bcwnd:(\d+)/),
    bytesAcked: num(/\bbytes_acked:(\d+)/),
    bytesReceived: num(/\bbytes_received:(\d+)/),
  };
}

/**
 * A test whose last part compares inspect() with ss(8). With ss installed (and
 * `gate`'s requirements met) it runs once, comparing. Without ss the inspect()
 * part runs as a test of its own and the comparison is reported as a skipped
 * test (a failing one with SOCKPROBE_LAB=required), never as passed.
 */
function testComparingWithSs(gate: Gate, title: string, ssTitle: string, body: (compare: boolean) => Promise<void>): void {
  const withSs = needs(...gate.requirements, ssTool);
  if (withSs.ok) {
    test(`${title}; ${ssTitle}`, () => body(true));
    return;
  }
  gate.test(`${title} (without the ss comparison)`, () => body(false));
  withSs.test(`${title}; ${ssTitle}`, () => body(true));
}

/** Allows the small drift between two reads of a value the kernel may update in between. */
function near(actual: number | undefined, expected: number | undefined, slack: number): void {
  expect(actual).toBeDefined();
  expect(expected).toBeDefined();
  expect(Math.abs((actual ?? 0) - (expected ?? 0))).toBeLessThanOrEqual(slack);
}

async function until<T>(read: () => T, ok: (v: T) => boolean, what: string, ms = 10000, every = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
  close(): Promise<void>;
}

/** A connected pair on loopback; the server side is paused on accept (it reads nothing until resumed). */
async function pair(host = '127.0.0.1', onServer?: (s: net.Socket) => void): Promise<Pair> {
  const listener = net.createServer({ pauseOnConnect: true });
  listener.listen(0, host);
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect({ port: (listener.address() as net.AddressInfo).port, host });
  await once(client, 'connect');
  const [server] = await accepted;
  onServer?.(server);
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise<void>((r) => listener.close(() => r()));
    },
  };
}

/** Sends `data` through an echoing peer and resolves with what came back. */
async function echo(socket: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  socket.write(data);
  await done;
  return Buffer.concat(chunks);
}

/** This process's descriptor of the UDP socket bound to `port`, found through /proc (no Node internals). */
function socketFdOfUdpPort(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const line = fs
    .readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`));
  const inode = line?.trim().split(/\s+/)[9];
  if (inode === undefined) throw new Error(`no UDP socket on port ${port} in /proc/net/udp`);
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${name}`) === `socket:[${inode}]`) return Number(name);
    } catch {
      // a descriptor closed while we looked
    }
  }
  throw new Error(`no descriptor for socket inode ${inode}`);
}

/** Waits until no segment moves for 200 ms (delayed ACKs sent, nothing in flight). */
async function quiet(socket: net.Socket): Promise<void> {
  let last = '';
  await until(
    () => {
      const s = inspect(socket);
      return JSON.stringify([s.segsOut, s.segsIn, s.unacked, s.sendQueue]);
    },
    (now) => {
      const same = now === last && now.endsWith(',0,0]');
      last = now;
      return same;
    },
    'a quiet connection',
    20000,
    200,
  );
}

function noUndefinedValues(snap: SocketSnapshot): void {
  for (const [key, value] of Object.entries(snap)) expect([key, value]).not.toEqual([key, undefined]);
}

// inspect() reads socket options through the addon: the node engine has none to read them with.
const addon = needs(nativeEngine);

addon.describe('inspect() on loopback connections', () => {
  testComparingWithSs(needs(), 'an established connection: inspect() values', 'they match ss -tin for the same 4-tuple', async (compare) => {
    const p = await pair();
    try {
      p.server.pipe(p.server);
      p.server.resume();
      expect((await echo(p.client, Buffer.from('hello'))).toString()).toBe('hello');
      // Let the last ACK settle so nothing moves between the two reads.
      await quiet(p.client);
      const snap = inspect(p.client);
      noUndefinedValues(snap);
      expect(snap.fd).toBe((p.client as unknown as { _handle: { fd: number } })._handle.fd);
      expect(snap.family).toBe(4);
      expect(snap.error).toBeNull();
      expect(snap.peerClosed).toBe(false);
      expect(snap.state).toBe('established');
      expect(snap.sndbuf).toBeGreaterThan(0);
      expect(snap.rcvbuf).toBeGreaterThan(0);
      expect(snap.tcpInfoBytes).toBeGreaterThanOrEqual(104);
      expect(snap.rttUs).toBeGreaterThan(0);
      expect(snap.sndMss).toBeGreaterThan(0);
      expect(snap.sndCwnd).toBeGreaterThan(0);
      // Nothing outstanding (totalRetrans is not checked: on a loaded machine a
      // tail-loss probe may resend a segment even on loopback).
      expect(snap.retransmits).toBe(0);
      expect(snap.lost).toBe(0);
      expect(snap.unacked).toBe(0);
      expect(snap.sendQueue).toBe(0);
      expect(snap.recvQueue).toBe(0);
      // bytes_acked counts the SYN; 5 data bytes went each way.
      expect(snap.bytesAcked).toBe(6);
      expect(snap.bytesReceived).toBe(5);
      if (compare) {
        const s = ss(p.client);
        const again = inspect(p.client);
        expect(s.state).toBe('ESTAB');
        expect(s.recvQ).toBe(snap.recvQueue);
        expect(s.sendQ).toBe(snap.sendQueue);
        near(snap.rttUs, s.rttUs, Math.max(50, (s.rttUs ?? 0) / 4));
        near(snap.rttVarUs, s.rttVarUs, Math.max(50, (s.rttVarUs ?? 0) / 4));
        expect(snap.sndMss).toBe(s.mss);
        expect(snap.rcvMss).toBe(s.rcvMss);
        near(snap.sndCwnd, s.cwnd, 2);
        expect(snap.bytesAcked).toBe(s.bytesAcked);
        expect(snap.bytesReceived).toBe(s.bytesReceived);
        // Nothing moved on an idle connection between the reads.
        expect(again.rttUs).toBe(snap.rttUs);
        expect(again.bytesAcked).toBe(snap.bytesAcked);
      }
    } finally {
      await p.close();
    }
  });

  test('IPv6 connection and the server side of a pair', async () => {
    const p = await pair('::1');
    try {
      const c = inspect(p.client);
      const s = inspect(p.server);
      expect(c.family).toBe(6);
      expect(s.family).toBe(6);
      expect(c.state).toBe('established');
      expect(s.state).toBe('established');
      expect(c.fd).not.toBe(s.fd);
    } finally {
      await p.close();
    }
  });

  testComparingWithSs(needs(), 'receive and send queues', 'they match ss Recv-Q / Send-Q', async (compare) => {
    const p = await pair();
    try {
      // The server side is paused on accept: what the client writes waits in its receive queue.
      p.client.write(Buffer.alloc(1000, 1));
      const r = await until(() => inspect(p.server), (s) => s.recvQueue === 1000, 'server recvQueue 1000');
      expect(r.recvQueue).toBe(1000);
      expect(r.bytesReceived).toBe(1000);
      if (compare) expect(ss(p.server).recvQ).toBe(1000);

      // Fill both buffers: the client's send queue grows until the writes stall.
      const chunk = Buffer.alloc(1 << 20, 2);
      for (let i = 0; i < 32; i++) p.client.write(chunk);
      // Stalled: the same Send-Q over ten reads 50 ms apart (the paused peer's window is closed).
      let last = -1;
      let steady = 0;
      const stalled = await until(
        () => inspect(p.client),
        (s) => {
          steady = s.sendQueue === last && (s.sendQueue ?? 0) > 0 ? steady + 1 : 0;
          last = s.sendQueue ?? -1;
          return steady >= 10;
        },
        'a stalled send queue',
        20000,
        50,
      );
      expect(stalled.sendQueue).toBeGreaterThan(0);
      expect(stalled.unsentQueue).toBeLessThanOrEqual(stalled.sendQueue ?? 0);
      const peer = inspect(p.server);
      expect(peer.recvQueue).toBeGreaterThan(1000);
      if (compare) {
        const sc = ss(p.client);
        const sv = ss(p.server);
        const c2 = inspect(p.client);
        const s2 = inspect(p.server);
        // A zero-window probe may move a few bytes between the reads.
        near(c2.sendQueue, sc.sendQ, 4096);
        near(s2.recvQueue, sv.recvQ, 4096);
        console.log(
          `inspect vs ss (stalled): client Send-Q ss=${sc.sendQ} inspect=${String(c2.sendQueue)}; ` +
            `server Recv-Q ss=${sv.recvQ} inspect=${String(s2.recvQueue)}`,
        );
      }
    } finally {
      await p.close();
    }
  });

  test('a peer reset: the pending error is reported and left for the application', async () => {
    const p = await pair();
    try {
      // The server side reads nothing (pauseOnConnect), so the RST waits in the kernel.
      p.client.resetAndDestroy();
      const snap = await until(() => inspect(p.server), (s) => s.error !== null, 'a pending error');
      expect(snap.error).toEqual({ taken: false });
      expect(snap.state).toBe('close');
      // Reading again does not consume it...
      expect(inspect(p.server).error).toEqual({ taken: false });
      // ...so the application still gets the reset when it reads.
      const err = once(p.server, 'error') as Promise<[NodeJS.ErrnoException]>;
      p.server.resume();
      const [e] = await err;
      expect(e.code).toBe('ECONNRESET');
    } finally {
      await p.close();
    }
  });

  test('takeError: SO_ERROR hands over the code and errno (and clears it)', async () => {
    const p = await pair();
    p.server.on('error', () => undefined);
    try {
      p.client.resetAndDestroy();
      await until(() => inspect(p.server), (s) => s.error !== null, 'a pending error');
      const taken = inspect(p.server, { takeError: true });
      expect(taken.error).toEqual({ taken: true, code: 'ECONNRESET', errno: 104 });
      expect(inspect(p.server).error).toBeNull();
      expect(inspect(p.server, { takeError: true }).error).toBeNull();
    } finally {
      await p.close();
    }
  });

  test('a peer FIN shows as peerClosed and close-wait', async () => {
    const p = await pair();
    try {
      p.client.end();
      const snap = await until(() => inspect(p.server), (s) => s.peerClosed, 'peerClosed');
      expect(snap.state).toBe('close-wait');
      expect(snap.error).toBeNull();
    } finally {
      await p.close();
    }
  });

  test('100,000 calls on a live socket change nothing about its traffic', async () => {
    const p = await pair();
    try {
      p.server.pipe(p.server);
      p.server.resume();
      expect((await echo(p.client, Buffer.from('warm-up'))).toString()).toBe('warm-up');
      await quiet(p.client);
      const fds = fdCount();
      const before = inspect(p.client);
      // First 50,000 with the socket idle: not one segment may leave or arrive.
      for (let i = 0; i < 50_000; i++) inspect(p.client);
      const idle = inspect(p.client);
      expect(idle.fd).toBe(before.fd);
      expect(idle.segsOut).toBe(before.segsOut);
      expect(idle.segsIn).toBe(before.segsIn);
      expect(idle.bytesSent).toBe(before.bytesSent);
      expect(idle.bytesReceived).toBe(before.bytesReceived);
      // Then 50,000 more, interleaved with a 4 MiB echo exchange.
      const payload = Buffer.alloc(4 << 20);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
      let calls = 0;
      let stop = false;
      const spin = (async () => {
        while (!stop && calls < 50_000) {
          for (let i = 0; i < 500; i++) inspect(p.client);
          calls += 500;
          await new Promise((r) => setImmediate(r));
        }
      })();
      const back = await echo(p.client, payload);
      stop = calls >= 50_000;
      while (calls < 50_000) {
        inspect(p.client);
        calls++;
      }
      stop = true;
      await spin;
      expect(back.equals(payload)).toBe(true);
      await quiet(p.client);
      const after = inspect(p.client);
      expect(after.fd).toBe(before.fd);
      expect(after.error).toBeNull();
      expect(after.state).toBe('established');
      // bytes_acked / bytes_received count each byte once (bytes_sent would count resends).
      expect(after.bytesAcked! - before.bytesAcked!).toBe(payload.length);
      expect(after.bytesReceived! - before.bytesReceived!).toBe(payload.length);
      expect(fdCount()).toBe(fds);
      expect(p.client.bytesWritten).toBe(7 + payload.length);
    } finally {
      await p.close();
    }
  }, 120_000);
});

describe('inspect() refuses what is not a connected TCP socket', () => {
  test('not a socket, bad options', () => {
    expect(() => inspect({} as net.Socket)).toThrow(TypeError);
    expect(() => inspect(null as unknown as net.Socket)).toThrow(/net.Socket or tls.TLSSocket/);
    expect(() => inspect(new Duplex() as unknown as net.Socket)).toThrow(TypeError);
    const fresh = new net.Socket();
    expect(() => inspect(fresh)).toThrow(/no descriptor/);
    expect(() => inspect(fresh, 'x' as never)).toThrow(/options must be an object/);
    expect(() => inspect(fresh, { takeError: 1 as unknown as boolean })).toThrow(/takeError must be a boolean/);
  });

  test('connecting, then destroyed', async () => {
    const listener = net.createServer((s) => s.destroy());
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    try {
      const c = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1' });
      c.on('error', () => undefined);
      expect(() => inspect(c)).toThrow(/not connected yet/);
      await once(c, 'connect');
      c.destroy();
      expect(() => inspect(c)).toThrow(/destroyed/);
    } finally {
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });

  addon.test('a Unix domain socket and a FIFO are not TCP', async () => {
    const dir = tmpDir();
    const sockPath = path.join(dir, 's.sock');
    const listener = net.createServer(() => undefined);
    listener.listen(sockPath);
    await once(listener, 'listening');
    const c = net.connect(sockPath);
    await once(c, 'connect');
    try {
      expect(() => inspect(c)).toThrow(/Unix domain socket, not TCP/);
      expect(c.destroyed).toBe(false);
    } finally {
      c.destroy();
      await new Promise<void>((r) => listener.close(() => r()));
    }
    const fifo = path.join(dir, 'f');
    execFileSync('mkfifo', [fifo]);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const pipe = new net.Socket({ fd, readable: false, writable: true });
    try {
      expect(() => inspect(pipe)).toThrow(/not a socket/);
    } finally {
      pipe.destroy();
      await once(pipe, 'close');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  addon.test('native layer: bad descriptors give an errno, never a crash', async () => {
    const EBADF = 9;
    const ENOTSOCK = 88;
    const call = native.inspect as (...args: unknown[]) => ReturnType<typeof native.inspect>;
    expect(call(1 << 30, false).errno).toBe(EBADF);
    expect(call(-1, false).errno).toBe(EBADF);
    expect(call(Number.NaN, false).errno).toBe(EBADF);
    expect(call(1.5, false).errno).toBe(EBADF);
    expect(call('3', false).errno).toBe(EBADF);
    expect(call().errno).toBe(EBADF);
    expect(call({}, {}).errno).toBe(EBADF);
    const file = fs.openSync(__filename, 'r');
    try {
      expect(call(file, true)).toEqual({ errno: ENOTSOCK });
    } finally {
      fs.closeSync(file);
    }
    const udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    try {
      const ufd = socketFdOfUdpPort(udp.address().port);
      const raw = native.inspect(ufd, false);
      expect(raw.errno).toBe(0);
      expect(raw.type).toBe(2); // SOCK_DGRAM
      expect(raw.domain).toBe(4);
      expect(raw.tcpi).toBeUndefined();
      expect(raw.sendQueue).toBeUndefined();
    } finally {
      udp.close();
    }
  });
});

addon.describe('inspect() on TLS sockets', () => {
  const withOpenssl = needs(openssl);
  /** A self-signed certificate made by openssl for this run (only the tests gated on openssl call this). */
  let made: { key: Buffer; cert: Buffer } | undefined;
  const certificate = (): { key: Buffer; cert: Buffer } => {
    if (made !== undefined) return made;
    const dir = tmpDir();
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      made = { key: fs.readFileSync(path.join(dir, 'k.pem')), cert: fs.readFileSync(path.join(dir, 'c.pem')) };
      return made;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  testComparingWithSs(withOpenssl, 'client and server TLSSocket, and TLS over a net.Socket passed in', 'the MSS matches ss', async (compare) => {
    const { key, cert } = certificate();
    const accepted: tls.TLSSocket[] = [];
    const server = tls.createServer({ key, cert }, (s) => {
      accepted.push(s);
      s.pipe(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    const raw = net.connect({ port, host: '127.0.0.1' });
    const rawConnected = once(raw, 'connect');
    try {
      await once(c, 'secureConnect');
      expect((await echo(c, Buffer.from('over tls'))).toString()).toBe('over tls');
      const snap = inspect(c);
      expect(snap.state).toBe('established');
      expect(snap.error).toBeNull();
      // More bytes left the socket than the 8 of plaintext: TLS records and handshake.
      expect(snap.bytesAcked).toBeGreaterThan(8);
      if (compare) expect(snap.sndMss).toBe(ss(c).mss);
      const serverSide = accepted[0]!;
      const s = inspect(serverSide);
      expect(s.state).toBe('established');
      expect(s.bytesReceived).toBe(snap.bytesAcked! - 1);

      await rawConnected;
      const wrapped = tls.connect({ socket: raw, rejectUnauthorized: false });
      await once(wrapped, 'secureConnect');
      const w = inspect(wrapped);
      expect(w.state).toBe('established');
      expect(w.fd).not.toBe(snap.fd);
      wrapped.destroy();
    } finally {
      c.destroy();
      raw.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('a TLSSocket over a stream that is not a socket has no descriptor', () => {
    const duplex = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
    const t = new tls.TLSSocket(duplex);
    try {
      expect(() => inspect(t)).toThrow(TypeError);
    } finally {
      t.destroy();
      duplex.destroy();
    }
  });
});

describe('the TCP state table (include/net/tcp_states.h)', () => {
  test('numbers and ss names agree both ways; a number outside the table is unknown', () => {
    const kernel = ['established', 'syn-sent', 'syn-recv', 'fin-wait-1', 'fin-wait-2', 'time-wait', 'close', 'close-wait', 'last-ack', 'listen', 'closing', 'new-syn-recv', 'bound-inactive'];
    expect(Object.entries(TCP_STATE)).toEqual(kernel.map((name, i) => [name, i + 1]));
    kernel.forEach((name, i) => expect(tcpStateName(i + 1)).toBe(name));
    for (const n of [0, 14, -1, 1.5, 255, NaN]) expect(tcpStateName(n)).toBe('unknown');
  });
});
