// `sockprobe scan HOST -p PORTS` as users run it: real processes, real
// listeners, loopback only.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { DEFAULT_SCAN_CONCURRENCY, DEFAULT_SCAN_TIMEOUT_MS } from '../src/cli/scan';
import { cleanEnv, sockprobe, sockprobeOnTty, type Run } from './cli-run';
import { closedPort, openListener, silentPort } from './helpers';
import { needs, ss } from './preconditions';

const ESC = '\u001b[';

interface ScanJson {
  host: string;
  addresses: string[];
  ports: number;
  done: number;
  interrupted: boolean;
  elapsedMs: number;
  counts: Record<string, number>;
  results: { port: number; status: string; reason: string; host: string; attempts: unknown[]; index?: unknown }[];
}

/** '1,2,3': a -p list of these ports. */
function spec(ports: readonly number[]): string {
  return ports.map((p) => String(p)).join(',');
}

describe('sockprobe scan: listeners and closed ports', () => {
  let a: Awaited<ReturnType<typeof openListener>>;
  let b: Awaited<ReturnType<typeof openListener>>;
  let closed: number[];
  let ports: string;
  beforeAll(async () => {
    a = await openListener();
    b = await openListener();
    closed = [await closedPort(), await closedPort(), await closedPort()];
    ports = spec([a.port, ...closed, b.port]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  test('the table lists the open ports, "Not shown" and the counts the refused ones; exit 0', async () => {
    const r = await sockprobe(['scan', '127.0.0.1', '-p', ports]);
    expect(r.stderr).toBe(''); // not a TTY: no progress bar
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('sockprobe scan 127.0.0.1');
    expect(lines[1]).toMatch(/^PORT +STATUS +REASON +FROM +TIME$/);
    const rows = lines.slice(2, 4).map((l) => l.split(/ {2,}/));
    const sorted = [a.port, b.port].sort((x, y) => x - y);
    expect(rows.map((c) => Number(c[0]))).toEqual(sorted);
    for (const c of rows) {
      expect(c.slice(1, 4)).toEqual(['open', 'syn-ack', '-']);
      expect(c[4]).toMatch(/^[0-9.]+ ms$/);
    }
    expect(lines[4]).toBe('Not shown: 3 refused (reset)');
    expect(lines[5]).toMatch(/^5 ports scanned in [0-9.]+ s: 3 refused, 2 open$/);
    expect(lines).toHaveLength(6);
  });

  test('a range: every port probed once, the listeners found', async () => {
    const lo = Math.max(1, Math.min(a.port, b.port) - 10);
    const r = await sockprobe(['scan', '127.0.0.1', '-p', `${lo}-${lo + 19},${a.port},${b.port}`, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as ScanJson;
    const expected = new Set<number>();
    for (let p = lo; p <= lo + 19; p++) expected.add(p);
    expected.add(a.port).add(b.port);
    expect(doc.ports).toBe(expected.size);
    expect(doc.results.map((x) => x.port)).toEqual([...expected].sort((x, y) => x - y));
    const open = doc.results.filter((x) => x.status === 'open').map((x) => x.port);
    expect(open).toEqual(expect.arrayContaining([a.port, b.port]));
  });

  test('--json: one document with every result in port order and the counts', async () => {
    const r = await sockprobe(['scan', '--json', '127.0.0.1', '-p', ports, '-c', '2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as ScanJson;
    expect(doc.host).toBe('127.0.0.1');
    expect(doc.addresses).toEqual(['127.0.0.1']);
    expect([doc.ports, doc.done, doc.interrupted]).toEqual([5, 5, false]);
    expect(doc.counts).toEqual({ refused: 3, open: 2 });
    expect(typeof doc.elapsedMs).toBe('number');
    const all = [a.port, b.port, ...closed].sort((x, y) => x - y);
    expect(doc.results.map((x) => x.port)).toEqual(all);
    for (const x of doc.results) {
      expect(x.status).toBe(x.port === a.port || x.port === b.port ? 'open' : 'refused');
      expect(x.host).toBe('127.0.0.1');
      expect(x.attempts).toHaveLength(1);
      expect(x).not.toHaveProperty('index');
    }
  });

  test('--open lists only the open ports; the counts still cover every port', async () => {
    const text = await sockprobe(['scan', '127.0.0.1', '-p', ports, '--open']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Not shown: 3 refused (reset)');
    expect(text.stdout).toMatch(/5 ports scanned in [0-9.]+ s: 3 refused, 2 open\n$/);
    const json = await sockprobe(['scan', '127.0.0.1', '-p', ports, '--open', '--json']);
    const doc = JSON.parse(json.stdout) as ScanJson;
    expect(doc.results.map((x) => x.status)).toEqual(['open', 'open']);
    expect(doc.counts).toEqual({ refused: 3, open: 2 });
  });

  test('a name: resolved once, shown with its address', async () => {
    const r = await sockprobe(['scan', '-4', 'localhost', '-p', spec([a.port, closed[0] as number])]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('sockprobe scan localhost (127.0.0.1)');
    expect(r.stdout).toMatch(/2 ports scanned in [0-9.]+ s: 1 (open|refused), 1 (open|refused)\n$/);
  });

  test('a host that does not resolve exits 1 with the reason on stderr', async () => {
    // A label over 63 characters fails inside glibc: no packet leaves the machine.
    const r = await sockprobe(['scan', `${'x'.repeat(64)}.invalid`, '-p', '80']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^sockprobe: x+\.invalid does not resolve: .+ \([A-Z_]+\)\n$/);
    const json = await sockprobe(['scan', '--json', `${'x'.repeat(64)}.invalid`, '-p', '80']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ resolved: false });
  });

  test('--quiet prints nothing and still exits 0', async () => {
    const r = await sockprobe(['scan', '-q', '127.0.0.1', '-p', ports]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
  });

  test('on a terminal: a coloured table; never colour with NO_COLOR', async () => {
    const coloured = await sockprobeOnTty(['scan', '127.0.0.1', '-p', ports], cleanEnv());
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toContain(`${ESC}32mopen`);
    const plain = await sockprobeOnTty(['scan', '127.0.0.1', '-p', ports], cleanEnv({ NO_COLOR: '1' }));
    expect(plain.code).toBe(0);
    // The progress bar's erase-line sequence stays; nothing else.
    expect(plain.stdout.split(`\r${ESC}K`).join('')).not.toContain(ESC);
  });
});

describe('sockprobe scan: progress bar on a terminal only', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let silent: Awaited<ReturnType<typeof silentPort>>;
  let closed: number;
  beforeAll(async () => {
    open = await openListener();
    silent = await silentPort();
    closed = await closedPort();
  });
  afterAll(async () => {
    await open.close();
    await silent.close();
  });

  test('redrawn on stderr while a port is pending, then cleared before the table', async () => {
    const args = ['scan', '127.0.0.1', '-p', spec([open.port, closed, silent.port]), '--timeout', '1200'];
    const r = await sockprobeOnTty(args, cleanEnv({ NO_COLOR: '1' }));
    expect(r.code).toBe(0);
    // script(1) puts stdout and stderr on one terminal: the bar, then the erase, then the table.
    const draws = r.stdout.split('\r\u001b[K').filter((s) => s.startsWith('['));
    expect(draws.length).toBeGreaterThanOrEqual(3); // ~10 a second during a 1.2 s wait
    expect(draws.length).toBeLessThan(60);
    expect(draws[0]).toMatch(/^\[\.+\] 0\/3 +0% {2}0 open {2}\d+\/s$/);
    expect(draws.some((d) => /^\[#+\.+\] 2\/3 +66% {2}1 open {2}\d+\/s$/.test(d))).toBe(true);
    const table = r.stdout.slice(r.stdout.lastIndexOf('\r\u001b[K') + 4);
    expect(table).toMatch(/^sockprobe scan 127\.0\.0\.1\r?\n/);
    expect(table).toMatch(new RegExp(`${silent.port} +timeout +no-response +- +1[0-9]{3} ms`));
    expect(table).toMatch(/3 ports scanned in [0-9.]+ s: 1 (open|refused|timeout), 1 (open|refused|timeout), 1 (open|refused|timeout)/);
  });

  test('silent when stderr is not a terminal', async () => {
    const r = await sockprobe(['scan', '127.0.0.1', '-p', spec([open.port, closed, silent.port]), '--timeout', '300']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`${silent.port}  timeout`);
  });
});

/** SYN-SENT sockets to `port` that process `pid` holds, as ss(8) lists them (throws if ss fails: never a silent 0). */
function synSent(port: number, pid: number): number {
  const r = spawnSync('ss', ['-Htnp', 'state', 'syn-sent', `( dport = :${port} )`], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(`ss failed (${String(r.error ?? r.status)}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.includes(`pid=${pid},`)).length;
}

// ss(8) counts the SYNs in flight: without it these are skipped, not passed.
needs(ss).describe('sockprobe scan: Ctrl-C', () => {
  let open: Awaited<ReturnType<typeof openListener>>;
  let silentA: Awaited<ReturnType<typeof silentPort>>;
  let silentB: Awaited<ReturnType<typeof silentPort>>;
  let closed: number;
  beforeAll(async () => {
    [open, silentA, silentB, closed] = await Promise.all([openListener(), silentPort(), silentPort(), closedPort()]);
  });
  afterAll(async () => {
    await Promise.all([open.close(), silentA.close(), silentB.close()]);
  });

  async function interrupt(extra: string[]): Promise<Run & { pid: number }> {
    const args = ['scan', '127.0.0.1', '-p', spec([open.port, closed, silentA.port, silentB.port]), '--timeout', '60000', ...extra];
    let child: ChildProcess | undefined;
    const run = sockprobe(args, { started: (c) => (child = c) });
    // Mid-scan: both silent ports have a SYN in flight from the child.
    const deadline = Date.now() + 15_000;
    while (child?.pid === undefined || synSent(silentA.port, child.pid) + synSent(silentB.port, child.pid) < 2) {
      if (Date.now() > deadline) throw new Error('the scan never reached the silent ports');
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = child.pid;
    child.kill('SIGINT');
    return { ...(await run), pid };
  }

  test('aborts the scan, prints the partial summary, exits 130 and leaves no socket behind', async () => {
    const r = await interrupt([]);
    expect(r.code).toBe(130); // exited by itself with 130, not killed by the signal
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`${open.port}  open`);
    expect(r.stdout).toContain('Not shown: 1 refused (reset)');
    expect(r.stdout).toMatch(/\nInterrupted: 2 of 4 ports scanned in [0-9.]+ s: 1 (open|refused), 1 (open|refused)\n$/);
    expect(synSent(silentA.port, r.pid) + synSent(silentB.port, r.pid)).toBe(0);
  });

  test('--json: the partial document says interrupted', async () => {
    const r = await interrupt(['--json']);
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.stdout) as ScanJson;
    expect([doc.interrupted, doc.ports, doc.done]).toEqual([true, 4, 2]);
    expect(doc.counts).toEqual({ open: 1, refused: 1 });
  });
});

describe('sockprobe scan: usage errors exit 2 with a message on stderr and nothing on stdout', () => {
  const cases: [string, string[], RegExp][] = [
    ['no host', ['scan', '-p', '80'], /scan needs a HOST/],
    ['no ports', ['scan', '127.0.0.1'], /scan needs -p PORTS/],
    ['two hosts', ['scan', '127.0.0.1', '127.0.0.2', '-p', '80'], /scan takes one HOST, got 2/],
    ['port 0', ['scan', '127.0.0.1', '-p', '0-10'], /0 is not a port from 1 to 65535/],
    ['port too large', ['scan', '127.0.0.1', '-p', '65536'], /65536 is not a port/],
    ['backwards range', ['scan', '127.0.0.1', '-p', '90-80'], /runs backwards/],
    ['junk in the list', ['scan', '127.0.0.1', '-p', '80,http'], /'http' is not a port or a range/],
    ['empty entry', ['scan', '127.0.0.1', '-p', '80,,81'], /'' is not a port/],
    ['unknown option', ['scan', '127.0.0.1', '-p', '80', '--bogus'], /Unknown option '--bogus'/],
    ['-p without a value', ['scan', '127.0.0.1', '-p'], /argument missing/],
    ['bad concurrency', ['scan', '127.0.0.1', '-p', '80', '-c', '0'], /--concurrency must be from 1 to 65535/],
    ['concurrency not a number', ['scan', '127.0.0.1', '-p', '80', '--concurrency', 'many'], /--concurrency takes a whole number/],
    ['bad timeout', ['scan', '127.0.0.1', '-p', '80', '--timeout', 'soon'], /--timeout takes a number/],
    ['-4 with -6', ['scan', '-4', '-6', 'localhost', '-p', '80'], /exclude each other/],
    ['-4 with an IPv6 address', ['scan', '-4', '::1', '-p', '80'], /IPv6 address but -4/],
    ['a Unix socket', ['scan', 'unix:/tmp/x.sock', '-p', '80'], /not a Unix socket/],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const r = await sockprobe(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^sockprobe: /);
    expect(r.stderr).toContain("Try 'sockprobe --help'");
  });

  test('--help documents scan, with the defaults it uses', async () => {
    for (const args of [['--help'], ['scan', '--help']]) {
      const r = await sockprobe(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('sockprobe scan [options] HOST -p PORTS');
      expect(r.stdout).toContain(`most probes in flight at once (default ${DEFAULT_SCAN_CONCURRENCY})`);
      expect(r.stdout).toContain(`deadline per port (default ${DEFAULT_SCAN_TIMEOUT_MS})`);
    }
  });

  test('options may come before the scan word; an IPv6 host in brackets', async () => {
    const l = await openListener('::1');
    try {
      // An IPv6 address may be given in brackets, as in a TARGET.
      const r = await sockprobe(['-p', String(l.port), '--json', 'scan', '[::1]']);
      expect(r.code).toBe(0);
      expect((JSON.parse(r.stdout) as ScanJson).host).toBe('::1');
      expect((JSON.parse(r.stdout) as ScanJson).counts).toEqual({ open: 1 });
    } finally {
      await l.close();
    }
  });
});
