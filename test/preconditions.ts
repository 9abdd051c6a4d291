// What a test needs from the machine (root, a tool on PATH, a network
// namespace, a private mount namespace), checked once when jest collects the
// file. A test whose precondition is missing is registered as skipped, with the
// reason in its title and a loud console.warn (test/skip-reporter.js lists them
// again at the end of the run), never run to pass having asserted nothing. With
// SOCKPROBE_LAB=required (set by .ci/run) it is registered as a failing test
// that names what is missing instead.
//
//   const lab = needs(netns, tool('nft', 'nftables'));
//   lab.describe('...', () => { ... });   // or lab.test('...', async () => { ... })
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { engine, type EngineFact } from '../src/engine';
import { unshareHostsArgs } from './helpers';

export const REQUIRED = process.env.SOCKPROBE_LAB === 'required';

/** Marks a skipped test's title; test/skip-reporter.js reads the reason back from it. */
export const SKIP_MARK = '[SKIPPED: ';

export interface Requirement {
  /** What is needed, as a person would say it: "root", "nft (nftables)". */
  readonly name: string;
  /**
   * What the engine running the suite can tell (engineCan(), nativeEngine),
   * not something the machine lacks: a test gated on it is skipped with its
   * reason even with SOCKPROBE_LAB=required (CI runs the suite on every engine).
   */
  readonly ofEngine?: true;
  /** null when it holds here, otherwise why not. Memoized: runs at most once per test file. */
  check(): string | null;
}

/** A requirement whose check runs once; `check` returns null when it holds, else why not. */
export function requirement(name: string, check: () => string | null): Requirement {
  let result: string | null | undefined;
  return {
    name,
    check: () => {
      if (result === undefined) {
        try {
          result = check();
        } catch (error) {
          result = error instanceof Error ? error.message : String(error);
        }
      }
      return result;
    },
  };
}

/** The first unmet requirement of `list` as "name: why", or null when all hold. */
function firstMissing(list: readonly Requirement[]): string | null {
  for (const r of list) {
    const why = r.check();
    if (why !== null) return `${r.name}: ${why}`;
  }
  return null;
}

/** Runs a command; null when it exits 0, else `label` and the first line of what it said. */
function failure(label: string, cmd: string, args: string[], input?: string): string | null {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) return `${label}: ${r.error.message}`;
  if (r.status === 0) return null;
  const said = `${r.stderr}\n${r.stdout}`.trim().split('\n')[0] ?? '';
  return `${label} failed (${String(r.status ?? r.signal)})${said === '' ? '' : `: ${said}`}`;
}

/** The executable file `cmd` names on PATH, or undefined. */
export function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, cmd);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The engine this suite runs on (SOCKPROBE_ENGINE) can report `fact` in
 * results. The node engine (net.Socket) reports none but the local address:
 * a test that asserts TCP_INFO, an ICMP sender or a neighbour entry is gated
 * on the fact, never weakened for the native engines.
 */
export function engineCan(fact: EngineFact): Requirement {
  return {
    ...requirement(`an engine that reports ${fact}`, () =>
      engine().facts.includes(fact) ? null : `the ${engine().name} engine cannot ${ENGINE_CANNOT[fact]}`,
    ),
    ofEngine: true,
  };
}

/** What each fact takes, in the words a skipped test's reason gives. */
const ENGINE_CANNOT: Record<EngineFact, string> = {
  tcpInfo: 'read TCP_INFO (RTT, MSS, SYN retransmissions)',
  tcpConnectionInfo: 'read TCP_CONNECTION_INFO',
  icmpQueue: 'see the ICMP error queue (which ICMP message, from which router): Node reports only the errno',
  icmpError: 'read the ICMP error of a failed connect',
  neighbour: 'read the neighbour (ARP / NDP) entry of the next hop',
  memInfo: "read the socket's memory counters",
  sndbuf: 'read SO_SNDBUF',
  rcvbuf: 'read SO_RCVBUF',
  localAddress: 'read the local address',
  ttl: 'set the hop limit (IP_TTL) of its SYNs, which trace() needs',
};

/**
 * The native addon runs the probes; `why` says what the node engine cannot
 * do that the test needs (the skip reason).
 */
export function engineNative(why: string): Requirement {
  return { ...requirement('the native engine', () => (engine().native ? null : `the ${engine().name} engine ${why}`)), ofEngine: true };
}

/** The addon's own surface: native.start(), inspect(). */
export const nativeEngine: Requirement = engineNative("has no addon: it cannot read a descriptor's socket options (inspect()) or be called directly");

/** The engine does not report `fact`: tests of what the node engine says instead. */
export function engineLacks(fact: EngineFact): Requirement {
  return {
    ...requirement(`an engine without ${fact}`, () => (engine().facts.includes(fact) ? `the ${engine().name} engine reports ${fact}: its own tests say what it tells` : null)),
    ofEngine: true,
  };
}

export const linux = requirement('Linux', () => (process.platform === 'linux' ? null : `this is ${process.platform}`));

export const root = requirement('root (CAP_NET_ADMIN, CAP_SYS_ADMIN)', () => {
  const uid = process.getuid?.();
  return uid === 0 ? null : `running as uid ${String(uid)}`;
});

const tools = new Map<string, Requirement>();

/** A command on PATH; `pkg` is the Debian package that has it, named in the message. */
export function tool(cmd: string, pkg: string): Requirement {
  const key = `${cmd}\0${pkg}`;
  let r = tools.get(key);
  if (r === undefined) {
    r = requirement(`${cmd} (${pkg})`, () => {
      if (onPath(cmd) !== undefined) return null;
      // A user's PATH often lacks the sbin directories that hold ip, tc, sysctl.
      const elsewhere = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => path.join(d, cmd)).find((f) => fs.existsSync(f));
      return elsewhere === undefined ? `not found on PATH (apt-get install ${pkg})` : `not on PATH (${elsewhere} exists: add its directory to PATH)`;
    });
    tools.set(key, r);
  }
  return r;
}

export const ip = tool('ip', 'iproute2');
export const ss = tool('ss', 'iproute2');
export const tc = tool('tc', 'iproute2');
export const nft = tool('nft', 'nftables');
export const openssl = tool('openssl', 'openssl');
export const sysctl = tool('sysctl', 'procps');

/** Runs `body` with a fresh network namespace's name, deleting the namespace afterwards. */
function withScratchNamespace<T>(body: (ns: string) => T): T {
  const ns = `spgate-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const added = failure('ip netns add', 'ip', ['netns', 'add', ns]);
  if (added !== null) throw new Error(added);
  try {
    return body(ns);
  } finally {
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** Root, ip, and a network namespace this process may create (`ip netns add`). */
export const netns = requirement('a network namespace (ip netns add)', () => {
  const missing = firstMissing([linux, root, ip]);
  if (missing !== null) return missing;
  return withScratchNamespace(() => null);
});

/** A network namespace in which nft can load rules (the lab's firewalls). */
export const nftInNetns = requirement('nftables in a network namespace', () => {
  const missing = firstMissing([netns, nft]);
  if (missing !== null) return missing;
  return withScratchNamespace((ns) => failure('nft list ruleset (in a namespace)', 'ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset']));
});

/**
 * Random packet loss in a network namespace: `tc qdisc ... netem` (kernel
 * module sch_netem), or else an nftables `numgen random` drop rule.
 */
export const lossInNetns = requirement('random packet loss in a network namespace (tc netem, or nftables)', () => {
  const missing = firstMissing([netns]);
  if (missing !== null) return missing;
  return withScratchNamespace((ns) => {
    const viaTc =
      firstMissing([tc]) ??
      failure('tc qdisc add ... netem', 'ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'loss', '30%']);
    if (viaTc === null) return null;
    const rules = [
      'table inet spgate {',
      '  chain in {',
      '    type filter hook input priority 0; policy accept;',
      '    tcp dport 7000 numgen random mod 100 < 30 drop',
      '  }',
      '}',
    ].join('\n');
    const viaNft = firstMissing([nft]) ?? failure('nft -f (a numgen random drop rule)', 'ip', ['netns', 'exec', ns, 'nft', '-f', '-'], rules);
    if (viaNft === null) return null;
    return `neither works: ${viaTc}; ${viaNft}`;
  });
});

/**
 * A private mount namespace in which /etc/hosts can be replaced (`unshare -m`
 * as root, `unshare -r -m` otherwise): what helpers.runWithHosts() does.
 */
export const privateHosts = requirement('a private /etc/hosts (unshare -m, mount --bind)', () => {
  const missing = firstMissing([linux, tool('unshare', 'util-linux'), tool('mount', 'mount')]);
  if (missing !== null) return missing;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-gate-'));
  try {
    const hosts = path.join(dir, 'hosts');
    const content = '127.0.0.2 gate.sockprobe.test\n';
    fs.writeFileSync(hosts, content);
    const [cmd, ...args] = unshareHostsArgs(hosts, ['cat', '/etc/hosts']);
    const r = spawnSync(cmd!, args, { encoding: 'utf8' });
    if (r.error) return `${cmd}: ${r.error.message}`;
    if (r.status !== 0) return `${[cmd, ...args.slice(0, 2)].join(' ')} ... failed (${String(r.status ?? r.signal)}): ${r.stderr.trim().split('\n')[0] ?? ''}`;
    return r.stdout === content ? null : 'the bind mount did not replace /etc/hosts';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

type TestFn = (title: string, fn: jest.ProvidesCallback, timeout?: number) => void;
type DescribeFn = (title: string, body: () => void) => void;

export interface Gate {
  /** Every requirement holds here. */
  readonly ok: boolean;
  /** "name: why" for each requirement that does not hold. */
  readonly missing: readonly string[];
  readonly requirements: readonly Requirement[];
  /** jest's test when the requirements hold; else a loud skip, or with SOCKPROBE_LAB=required a failing test. */
  readonly test: TestFn;
  /** jest's describe when the requirements hold; else a loud describe.skip, or with SOCKPROBE_LAB=required a failing test. */
  readonly describe: DescribeFn;
}

function warnSkipped(kind: string, title: string, why: string, ofEngine: boolean): void {
  console.warn(
    `\n*** SKIPPED ${kind} "${title}": missing ${why}. ` +
      (ofEngine
        ? 'This is not a pass: the engine under test cannot tell this; the native engine runs it. ***\n'
        : 'This is not a pass: nothing was tested. Set SOCKPROBE_LAB=required to make it a failure. ***\n'),
  );
}

function requiredError(title: string, why: string): Error {
  return new Error(`SOCKPROBE_LAB=required, but "${title}" cannot run here: missing ${why}`);
}

/** The gate for tests that need every one of `requirements`, checked now (at collection time). */
export function needs(...requirements: Requirement[]): Gate {
  const missing: string[] = [];
  for (const r of requirements) {
    const why = r.check();
    if (why !== null) missing.push(`${r.name}: ${why}`);
  }
  if (missing.length === 0) return { ok: true, missing, requirements, test, describe };
  const why = missing.join('; ');
  const skippedTitle = (title: string): string => `${title} ${SKIP_MARK}${why}]`;
  // Only what the machine lacks fails under SOCKPROBE_LAB=required; what the engine cannot tell is skipped.
  const machineLacks = requirements.some((r) => r.ofEngine !== true && r.check() !== null);
  if (REQUIRED && machineLacks) {
    return {
      ok: false,
      missing,
      requirements,
      test: (title) => {
        test(title, () => {
          throw requiredError(title, why);
        });
      },
      describe: (title) => {
        describe(title, () => {
          test('its preconditions hold (SOCKPROBE_LAB=required)', () => {
            throw requiredError(title, why);
          });
        });
      },
    };
  }
  return {
    ok: false,
    missing,
    requirements,
    test: (title, fn, timeout) => {
      warnSkipped('test', title, why, !machineLacks);
      test.skip(skippedTitle(title), fn, timeout);
    },
    describe: (title, body) => {
      warnSkipped('tests', title, why, !machineLacks);
      describe.skip(skippedTitle(title), body);
    },
  };
}
