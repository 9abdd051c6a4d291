// A peer that accepts and resets at once (a proxy whose backend is down).
//
// When the peer's RST is already there at the probe's first look at its
// socket, the probe must say refused / reset-after-accept / ECONNRESET, never
// a plain 'reset' (which would claim nothing listens). The engine's first look
// happens inside connect() (SO_ERROR, then TCP_INFO, right after EINPROGRESS),
// and on loopback the whole handshake is processed inside connect(), before
// the peer has even accepted: there the probe truthfully reads open (the
// loopback tests below pin that down with a peer that resets on cue, after
// probe() returned, so the order is certain). The RST-at-the-first-look case
// runs in the network lab: the router drops the first SYN, the client's
// kernel sends it again from its retransmission timer (~1 s) and the
// handshake completes then, asynchronously; the probing process blocks its JS
// thread past that, so the SYN-ACK, the accept and the RST all happen before
// the poll callback takes its look. (netem would do as a delay, but this
// kernel has no sch_netem; the dropped SYN needs only nftables.)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { probe, type ProbeOptions, type ProbeResult } from '../../src';
import { ADDR, describeLab, newLab, type Lab, type Listener } from './netns';
import { engineCan, engineNative, needs } from '../preconditions';

jest.setTimeout(30000);

function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const pick = (r: ProbeResult): unknown => ({ status: r.status, reason: r.reason, code: r.code });

/** Whether a promise has already settled (resolved) when this is called: no event-loop turn in between. */
async function settledAtOnce(p: Promise<unknown>): Promise<boolean> {
  const notYet = Symbol('not yet');
  return (await Promise.race([p, Promise.resolve(notYet)])) !== notYet;
}

describe('loopback: the handshake completes inside connect(), so a peer that accepts and resets after it reads open without settle, reset-after-accept with settle', () => {
  let child: ChildProcess;
  /** Accepts and resets at once. */
  let resetPort: number;
  /** Accepts, then resets one accepted connection per line read on stdin (the next one accepted if none is waiting). */
  let onCuePort: number;

  beforeAll(async () => {
    // The listeners run in another process: they accept (and reset) only
    // after the probe's connect() has returned.
    const script = `
      const net = require('node:net');
      const held = [];
      let cues = 0;
      const pair = () => { while (cues > 0 && held.length > 0) { cues--; held.shift().resetAndDestroy(); } };
      const onCue = net.createServer((c) => { c.on('error', () => {}); held.push(c); pair(); });
      const reset = net.createServer((c) => { c.on('error', () => {}); c.resetAndDestroy(); });
      require('node:readline').createInterface({ input: process.stdin }).on('line', () => { cues++; pair(); });
      reset.listen(0, '127.0.0.1', () => onCue.listen(0, '127.0.0.1', () =>
        console.log(reset.address().port + ' ' + onCue.address().port)));`;
    child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    [resetPort, onCuePort] = line.toString().trim().split(' ').map(Number) as [number, number];
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    }
  });

  /** Has the on-cue listener reset the connection it accepted (or accepts next). */
  const cueReset = (): void => {
    child.stdin!.write('reset\n');
  };

  needs(engineNative('learns every outcome from the event loop, never inside connect()')).test('without settle: open, syn-ack, known when probe() returns; the peer resets after that', async () => {
    const pending = probe('127.0.0.1', onCuePort, { timeout: 5000 });
    // The engine's first look, inside probe(), found the handshake complete.
    const atOnce = await settledAtOnce(pending);
    cueReset();
    expect(pick(await pending)).toEqual({ status: 'open', reason: 'syn-ack', code: null });
    expect(atOnce).toBe(true);
  });

  test('with settle: the socket goes to JS and the settle check sees the reset: reset-after-accept', async () => {
    const pending = probe('127.0.0.1', onCuePort, { timeout: 5000, settle: 3000 });
    cueReset();
    expect(pick(await pending)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
  });

  test('a peer that resets at once, with settle, the JS thread blocked right after connect(): reset-after-accept', async () => {
    const pending = probe('127.0.0.1', resetPort, { timeout: 5000, settle: 500 });
    block(300);
    expect(pick(await pending)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
  });
});

const libDir = path.join(__dirname, '..', '..', 'lib');

/**
 * Probes from inside the client namespace (the compiled lib), blocking that
 * process's JS thread for `blockMs` right after probe() returned, i.e. right
 * after connect() was issued and the engine took its first look. `atOnce`:
 * whether that first look already ended the probe.
 */
async function probeBlocked(lab: Lab, port: number, options: ProbeOptions, blockMs: number): Promise<{ r: ProbeResult; atOnce: boolean }> {
  const script =
    `const { probe } = require(${JSON.stringify(libDir)});\n` +
    '(async () => {\n' +
    `  const pending = probe(${JSON.stringify(ADDR.server)}, ${port}, ${JSON.stringify(options)});\n` +
    "  const notYet = Symbol('not yet');\n" +
    '  const atOnce = (await Promise.race([pending, Promise.resolve(notYet)])) !== notYet;\n' +
    `  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${blockMs});\n` +
    '  const r = await pending;\n' +
    '  process.stdout.write(JSON.stringify({ r, atOnce }));\n' +
    '})().then(() => process.exit(0),\n' +
    '  (e) => { process.stderr.write(String(e && e.stack ? e.stack : e)); process.exit(1); });\n';
  const child = spawn('ip', ['netns', 'exec', lab.client, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`probe in the client namespace failed (${String(code)}): ${err}`);
  return JSON.parse(out) as { r: ProbeResult; atOnce: boolean };
}

// One port per test: each has its own first-SYN drop rule.
const P = { noSettle: 7200, settle: 7201 } as const;

describeLab('network lab: the RST after the accept is already there at the first look', () => {
  let lab: Lab;
  const listeners: Listener[] = [];

  beforeAll(async () => {
    lab = newLab();
    lab.setup();
    // The router drops the first SYN to each port (a quota of 100 bytes lets
    // exactly one 60-byte SYN match); the client's kernel sends it again from
    // its retransmission timer (~1 s), and the handshake completes then, long
    // after connect() returned and the engine first looked (SYN_SENT).
    const firstSynDrop = (port: number): string =>
      `ip daddr ${ADDR.server} tcp dport ${port} tcp flags & (syn | ack) == syn quota until 100 bytes counter drop`;
    lab.nft(
      lab.router,
      `table ip firstsyn {
        chain forward {
          type filter hook forward priority -10; policy accept;
          ${firstSynDrop(P.noSettle)}
          ${firstSynDrop(P.settle)}
        }
      }`,
    );
    listeners.push(await lab.listen('reset', P.noSettle));
    listeners.push(await lab.listen('reset', P.settle));
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    lab?.teardown();
  });

  /** SYNs the router dropped on their way to `port`. */
  function droppedSyns(port: number): number {
    const rules = lab.exec(lab.router, 'nft', ['list', 'table', 'ip', 'firstsyn']);
    const m = new RegExp(`dport ${port} .*counter packets (\\d+)`).exec(rules);
    if (m === null) throw new Error(`no drop rule for port ${port} in:\n${rules}`);
    return Number(m[1]);
  }

  // It counts the retransmitted SYN in TCP_INFO.
  needs(engineCan('tcpInfo')).test('the handshake completes from the SYN retransmission timer and the RST is there at the first poll callback: refused, reset-after-accept, not a missing listener', async () => {
    // Blocked well past the ~1 s retransmission: by the time the poll callback
    // runs, the SYN-ACK came back, the server accepted and its RST arrived.
    const { r, atOnce } = await probeBlocked(lab, P.noSettle, { timeout: 8000 }, 2500);
    // A plain 'reset' would say nothing listens there, which is false: the peer accepted.
    expect(pick(r)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
    // The scenario was the one intended: the first look (inside connect()) found
    // the handshake pending, exactly one SYN was dropped and the kernel sent it again.
    expect(atOnce).toBe(false);
    expect(droppedSyns(P.noSettle)).toBe(1);
    expect(r.status === 'refused' ? r.tcp?.synRetransmits : undefined).toBe(1);
  });

  test('the same with settle: reset-after-accept', async () => {
    const { r, atOnce } = await probeBlocked(lab, P.settle, { timeout: 8000, settle: 500 }, 2500);
    expect(pick(r)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
    expect(atOnce).toBe(false);
    expect(droppedSyns(P.settle)).toBe(1);
  });
});
