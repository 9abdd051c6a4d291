'use strict';
// Run by the official Windows node.exe under wine (test/windows.test.ts drives it): the
// packed sockprobe tarball, unpacked, used the way a Windows application would use it.
// Plain JavaScript, no jest: node.exe runs this file as is.
//
//   node.exe run.js CONFIG.json
//
// CONFIG: { pkg: the unpacked package dir, silentPort: a port whose SYNs are dropped (a
// listener with a full accept queue, made on the Linux side: wine shares the host's
// network stack), unixPath: a Unix socket the Linux side listens on (or null),
// handlesExe: test/windows/handles.c built for Windows, leakProbes: how many probes the
// leak check runs }.
//
// Writes one JSON object to stdout: { node, arch, platform, binaryPath, checks: [{ key, name,
// ok, detail }] } (stdout must be a file: node.exe under wine crashes when it is a pipe). Each
// check has a deadline of its own, so one that hangs is reported and the others still run.
// Exits 0 when every check passed, 1 otherwise.
const assert = require('node:assert');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const report = {
  node: process.version,
  arch: process.arch,
  platform: process.platform,
  binaryPath: null,
  checks: [],
};

/** A listener on 127.0.0.1 that accepts and closes at once. */
async function openListener() {
  const server = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { port: server.address().port, server, close: () => new Promise((r) => server.close(() => r())) };
}

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort() {
  const l = await openListener();
  await l.close();
  return l.port;
}

async function check(key, name, ms, body) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    const detail = await Promise.race([body(), deadline]);
    report.checks.push({ key, name, ok: true, detail: detail ?? null });
  } catch (error) {
    report.checks.push({
      key,
      name,
      ok: false,
      detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the package's CLI with this node.exe; resolves with its exit status and output. */
function cli(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(config.pkg, 'bin', 'sockprobe'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: out.trim() }));
  });
}

/** The process's handle count as Windows (wine) keeps it: handles.exe asks NtQuerySystemInformation. */
function handleCount() {
  const out = execFileSync(config.handlesExe, [String(process.pid)], { encoding: 'utf8' });
  const n = Number(out.trim().split(/\s+/)[0]);
  assert.ok(Number.isInteger(n) && n > 0, `handles.exe said ${JSON.stringify(out)}`);
  return n;
}

/** Node's own libuv handles (sockets, timers, polls) from the diagnostic report. */
function libuvHandles() {
  return process.report.getReport().libuv.filter((h) => h.type !== 'loop').length;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  let sp;
  await check('require', 'require() the packed package', 30_000, async () => {
    sp = require(config.pkg);
    assert.strictEqual(typeof sp.probe, 'function');
    try {
      report.binaryPath = require(path.join(config.pkg, 'lib', 'binding.js')).binaryPath;
    } catch (error) {
      report.binaryPath = `not loaded: ${error.message}`;
    }
    return { binaryPath: report.binaryPath, engine: typeof sp.engine === 'function' ? sp.engine() : undefined };
  });
  if (sp === undefined) return;

  const listener = await openListener();
  try {
    await check('open', 'open: a real loopback listener', 20_000, async () => {
      const r = await sp.probe('127.0.0.1', listener.port, { timeout: 10_000 });
      assert.strictEqual(r.status, 'open', JSON.stringify(r));
      assert.strictEqual(r.reason, 'syn-ack', JSON.stringify(r));
      assert.strictEqual(r.port, listener.port);
      return r;
    });

    await check('check', 'a probe with a check (settle): the check runs on the connected socket', 20_000, async () => {
      // A listener that keeps its connections open and quiet: the settle window ends 'settled'.
      const held = [];
      const quiet = net.createServer((s) => held.push(s)).listen(0, '127.0.0.1');
      await new Promise((r) => quiet.once('listening', r));
      try {
        const r = await sp.probe('127.0.0.1', quiet.address().port, { timeout: 10_000, settle: 200 });
        assert.strictEqual(r.status, 'open', JSON.stringify(r));
        assert.strictEqual(r.reason, 'settled', JSON.stringify(r));
        return r;
      } finally {
        for (const s of held) s.destroy();
        quiet.close();
      }
    });

    const refusedPort = await closedPort();
    await check('refused', 'refused: a closed loopback port', 20_000, async () => {
      const r = await sp.probe('127.0.0.1', refusedPort, { timeout: 10_000 });
      assert.strictEqual(r.status, 'refused', JSON.stringify(r));
      assert.strictEqual(r.reason, 'reset', JSON.stringify(r));
      assert.strictEqual(r.code, 'ECONNREFUSED', JSON.stringify(r));
      assert.strictEqual(typeof r.errno, 'number', JSON.stringify(r));
      return r;
    });

    await check('timeout', 'timeout: a silent port (full accept queue)', 20_000, async () => {
      const r = await sp.probe('127.0.0.1', config.silentPort, { timeout: 1500 });
      assert.strictEqual(r.status, 'timeout', JSON.stringify(r));
      return r;
    });

    await check('abort', 'abort: AbortError when the signal fires mid-probe', 20_000, async () => {
      const ac = new AbortController();
      const pending = sp.probe('127.0.0.1', config.silentPort, { timeout: 10_000, signal: ac.signal });
      setTimeout(() => ac.abort(), 200);
      const started = Date.now();
      await assert.rejects(pending, (e) => e instanceof sp.AbortError && e.name === 'AbortError');
      const ms = Date.now() - started;
      assert.ok(ms < 5000, `the abort took ${ms} ms`);
      return { abortedAfterMs: ms };
    });

    await check('explain', 'explain() on a refused port', 30_000, async () => {
      const d = await sp.explain(`127.0.0.1:${refusedPort}`, { timeout: 10_000 });
      assert.strictEqual(d.ok, false, JSON.stringify(d));
      const probeStep = d.steps.find((s) => s.step === 'probe');
      assert.ok(probeStep !== undefined, JSON.stringify(d.steps));
      assert.strictEqual(probeStep.result.status, 'refused', JSON.stringify(probeStep));
      assert.ok(typeof d.cause.code === 'string' && typeof d.cause.text === 'string', JSON.stringify(d.cause));
      return { cause: d.cause, next: d.next, steps: d.steps.map((s) => `${s.step}: ${s.verdict}: ${s.summary}`) };
    });

    await check('inspect', 'inspect() on a live socket: a clear ERR_SOCKPROBE_UNSUPPORTED (Node gives no SOCKET on Windows)', 20_000, async () => {
      const server = net.createServer(() => undefined).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const socket = net.connect(server.address().port, '127.0.0.1');
      try {
        await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        socket.write('hello');
        let thrown;
        try {
          sp.inspect(socket);
        } catch (error) {
          thrown = error;
        }
        assert.ok(thrown instanceof Error, 'inspect() returned on Windows');
        assert.strictEqual(thrown.code, 'ERR_SOCKPROBE_UNSUPPORTED', String(thrown));
        assert.match(thrown.message, /not available on Windows/);
        // The socket is untouched: it still works.
        assert.strictEqual(socket.destroyed, false);
        return { code: thrown.code, message: thrown.message };
      } finally {
        socket.destroy();
        server.close();
      }
    });

    await check('unix', '{ path } target: a Unix socket', 20_000, async () => {
      const missing = path.join(path.dirname(config.unixPath), 'none.sock');
      const outcome = async (p) => {
        try {
          return { result: await sp.probe({ path: p }, { timeout: 5000 }) };
        } catch (error) {
          return { error: { name: error.name, code: error.code, message: error.message } };
        }
      };
      const live = await outcome(config.unixPath);
      const absent = await outcome(missing);
      // Winsock has AF_UNIX since Windows 10 1803; wine 8 does not: socket() fails with
      // WSAEAFNOSUPPORT. Either the probe works, or the platform's refusal is said plainly
      // (a local error at the socket stage, EAFNOSUPPORT) or thrown as a clear error: never
      // a crash, a hang or a made-up outcome.
      const unsupported = (o) =>
        o.error !== undefined
          ? /unix|path|AF_UNIX|support/i.test(o.error.message)
          : o.result.status === 'local-error' && o.result.stage === 'socket' && /AFNOSUPPORT$/.test(o.result.code);
      if (unsupported(live)) {
        assert.ok(unsupported(absent), JSON.stringify(absent));
        return { supported: false, live, absent };
      }
      assert.ok(live.result !== undefined, JSON.stringify(live));
      assert.strictEqual(live.result.status, 'open', JSON.stringify(live.result));
      assert.ok(absent.result !== undefined && absent.result.status !== 'open', JSON.stringify(absent));
      return { supported: true, live, absent };
    });

    await check('cli', 'CLI: exit 0 for an open port, 1 for a refused one', 30_000, async () => {
      const open = await cli([`127.0.0.1:${listener.port}`]);
      const refused = await cli([`127.0.0.1:${refusedPort}`]);
      assert.strictEqual(open.code, 0, open.out);
      assert.strictEqual(refused.code, 1, refused.out);
      assert.match(refused.out, /refused the connection/, refused.out);
      return { open, refused };
    });

    await check('leak', `no handle leak over ${config.leakProbes} probes`, 300_000, async () => {
      const round = async (n) => {
        for (let i = 0; i < n; i += 50) {
          const batch = [];
          for (let j = i; j < Math.min(n, i + 50); j++) {
            batch.push(sp.probe('127.0.0.1', j % 2 === 0 ? listener.port : refusedPort, { timeout: 10_000 }));
          }
          const results = await Promise.all(batch);
          // What each status should be is checked above; here only that every probe ended.
          for (const r of results) assert.strictEqual(typeof r.status, 'string', JSON.stringify(r));
        }
      };
      // Warm up (Winsock's providers, the addon's per-environment state, Node's lazy handles), then
      // wait for the count to stop moving before taking the baseline.
      await round(100);
      const settled = async () => {
        let last = handleCount();
        for (let i = 0; i < 20; i++) {
          await sleep(250);
          const now = handleCount();
          if (now === last) return now;
          last = now;
        }
        return last;
      };
      const before = await settled();
      const uvBefore = libuvHandles();
      await round(config.leakProbes);
      const after = await settled();
      const uvAfter = libuvHandles();
      // One leaked socket per probe would be hundreds of handles; Windows' own threads and
      // events may move the count by a few.
      assert.ok(after - before <= 20, `handles: ${before} before, ${after} after ${config.leakProbes} probes`);
      assert.ok(uvAfter <= uvBefore, `libuv handles: ${uvBefore} before, ${uvAfter} after`);
      return { probes: config.leakProbes, handlesBefore: before, handlesAfter: after, libuvBefore: uvBefore, libuvAfter: uvAfter };
    });
  } finally {
    await listener.close();
  }
}

main()
  .catch((error) => report.checks.push({ key: 'run', name: 'run.js', ok: false, detail: String(error && error.stack) }))
  .finally(() => {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exitCode = report.checks.every((c) => c.ok) ? 0 : 1;
  });
