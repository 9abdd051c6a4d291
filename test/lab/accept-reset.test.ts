// A peer that accepts and resets at once, when the RST is already there by the
// time the probe first looks at its socket (the lab showed this race without
// `settle`). Made deterministic on loopback: the listener runs in another
// process and this thread blocks right after connect() was issued, so the
// handshake, the accept and the RST all happen before the poll callback runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { probe, type ProbeResult } from '../../src';

let child: ChildProcess;
let port: number;

beforeAll(async () => {
  const script =
    "const s=require('node:net').createServer((c)=>{c.on('error',()=>{});c.resetAndDestroy();});" +
    "s.listen(0,'127.0.0.1',()=>console.log(s.address().port));";
  child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  port = Number(line.toString().trim());
});

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill();
    await exited;
  }
});

function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const pick = (r: ProbeResult): unknown => ({ status: r.status, reason: r.reason, code: r.code });

test('RST after the handshake seen at the first look: reset-after-accept, not a missing listener', async () => {
  const pending = probe('127.0.0.1', port, { timeout: 5000 });
  block(300);
  const r = await pending;
  // A plain 'reset' would say nothing listens there, which is false: the peer accepted.
  expect(pick(r)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
});

test('the same with settle', async () => {
  const pending = probe('127.0.0.1', port, { timeout: 5000, settle: 500 });
  block(300);
  expect(pick(await pending)).toEqual({ status: 'refused', reason: 'reset-after-accept', code: 'ECONNRESET' });
});
