// `npm run soak:lab` (or `npm run soak -- --lab`): the soak of soak.js, run
// inside a network lab of three namespaces that exist only for this run, with
// the address plan of test/lab/netns.ts:
//
//   client sp-soak-PID-c  c0 198.18.1.2 2001:db8:1::2  routes 198.18.0.0/16, 2001:db8::/40 via the router
//   router sp-soak-PID-r  r0 198.18.1.1 2001:db8:1::1  forwards; nftables: port 7004 rejected with
//                         r1 198.18.2.1 2001:db8:2::1  ICMP admin-prohibited, port 7009 dropped
//   server sp-soak-PID-s  s0 198.18.2.2 2001:db8:2::2  7000 accepts and closes (test/lab/server.js), 7001 nothing
//
// Only the namespaces carry traffic: this process runs ip, nft and the
// children, and sends nothing itself. Needs Linux, root (CAP_NET_ADMIN and
// CAP_SYS_ADMIN), ip (iproute2) and nft (nftables): without them it exits 2
// with the reason. The namespaces and what runs in them are deleted at the
// end, on SIGINT/SIGTERM, and by a watchdog if this process is killed.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

const TARGETS = { v4: '198.18.2.2', v6: '2001:db8:2::2', open: 7000, closed: 7001, prohibited: 7004, dropped: 7009 };
const serverJs = path.join(__dirname, '..', 'test', 'lab', 'server.js');

class Unavailable extends Error {}

function run(cmd, args, input) {
  try {
    return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.toString().trim() || e.message}`);
  }
}

function preflight() {
  if (process.platform !== 'linux') throw new Unavailable('network namespaces need Linux');
  const capEff = BigInt(`0x${/^CapEff:\s*(\w+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]}`);
  const missing = [['CAP_NET_ADMIN', 12n], ['CAP_SYS_ADMIN', 21n]].filter(([, bit]) => !((capEff >> bit) & 1n));
  if (missing.length > 0) throw new Unavailable(`needs root: ${missing.map(([name]) => name).join(' and ')} missing`);
  for (const [tool, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Unavailable(`${tool} is not installed (package ${pkg}) or not on PATH`);
    }
  }
}

// Kills what runs in the namespaces "$@" and deletes them; the same shell for
// the teardown and for the watchdog, which waits for this process ("$0") first.
const REMOVE = 'for ns in "$@"; do for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p"; done; ip netns del "$ns" 2>/dev/null; done; true';

function setup(c, r, s) {
  for (const ns of [c, r, s]) {
    run('ip', ['netns', 'add', ns]);
    run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  }
  const ip = [
    ...[c, r, s].map((ns) => `-n ${ns} link set lo up`),
    `-n ${c} link add c0 type veth peer name r0 netns ${r}`,
    `-n ${s} link add s0 type veth peer name r1 netns ${r}`,
    `-n ${c} addr add 198.18.1.2/24 dev c0`, `-n ${c} addr add 2001:db8:1::2/64 dev c0 nodad`,
    `-n ${r} addr add 198.18.1.1/24 dev r0`, `-n ${r} addr add 2001:db8:1::1/64 dev r0 nodad`,
    `-n ${r} addr add 198.18.2.1/24 dev r1`, `-n ${r} addr add 2001:db8:2::1/64 dev r1 nodad`,
    `-n ${s} addr add 198.18.2.2/24 dev s0`, `-n ${s} addr add 2001:db8:2::2/64 dev s0 nodad`,
    ...[[c, 'c0'], [r, 'r0'], [r, 'r1'], [s, 's0']].map(([ns, dev]) => `-n ${ns} link set ${dev} up`),
    `-n ${c} route add 198.18.0.0/16 via 198.18.1.1`, `-n ${c} -6 route add 2001:db8::/40 via 2001:db8:1::1`,
    `-n ${s} route add 198.18.0.0/15 via 198.18.2.1`, `-n ${s} -6 route add 2001:db8::/32 via 2001:db8:2::1`,
  ];
  for (const line of ip) run('ip', line.split(' '));
  // The router answers every blocked SYN: ICMP errors are otherwise rate-limited
  // (per destination about one a second, and 1000/s in all), and the rest would time out.
  run('ip', ['netns', 'exec', r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1',
    'net.ipv4.icmp_ratemask=0', 'net.ipv6.icmp.ratemask=']);
  const { v4, v6, prohibited, dropped } = TARGETS;
  run('ip', ['netns', 'exec', r, 'nft', '-f', '-'], `table inet soak {
    chain forward {
      type filter hook forward priority 0; policy accept;
      ip daddr ${v4} tcp dport ${prohibited} reject with icmp type admin-prohibited
      ip6 daddr ${v6} tcp dport ${prohibited} reject with icmpv6 type admin-prohibited
      tcp dport ${dropped} drop
    }
  }`);
}

/** Starts test/lab/server.js (mode close: accept, then FIN) in the server namespace; resolves once it listens. */
async function listen(children, ns, host) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, serverJs, 'close', host, String(TARGETS.open)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`listener on ${host} exited (${code})`)));
  });
}

/** Runs soak.js with `args` in the client namespace of a fresh lab; resolves to its exit code. */
async function main(soakJs, args) {
  const id = `sp-soak-${process.pid}`;
  const names = [`${id}-c`, `${id}-r`, `${id}-s`];
  const children = [];
  let reaper;
  const teardown = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    execFileSync('sh', ['-c', REMOVE, 'sh', ...names], { stdio: 'ignore' });
    if (reaper?.exitCode === null) reaper.kill('SIGKILL');
  };
  const onSignal = (signal, code) => () => {
    console.error(`soak --lab: ${signal}, deleting ${names.join(' ')}`);
    teardown();
    process.exit(code);
  };
  try {
    preflight();
    teardown(); // leftovers of an earlier run with this pid
    process.on('exit', teardown);
    process.on('SIGINT', onSignal('SIGINT', 130));
    process.on('SIGTERM', onSignal('SIGTERM', 143));
    reaper = spawn('sh', ['-c', `while kill -0 "$0" 2>/dev/null; do sleep 1; done; ${REMOVE}`, String(process.pid), ...names],
      { detached: true, stdio: 'ignore' });
    reaper.unref();
    setup(...names);
    await listen(children, names[2], TARGETS.v4);
    await listen(children, names[2], TARGETS.v6);
  } catch (e) {
    teardown();
    console.error(`soak --lab: ${e instanceof Unavailable ? 'cannot run' : 'lab setup failed'}: ${e.message}`);
    return 2;
  }
  try {
    console.error(`soak --lab: namespaces ${names.join(' ')} ready; probing from ${names[0]}`);
    const soak = spawn('ip', ['netns', 'exec', names[0], process.execPath, '--expose-gc', soakJs, ...args,
      '--lab-targets', JSON.stringify(TARGETS)], { stdio: 'inherit' });
    children.push(soak);
    const [code, signal] = await once(soak, 'exit');
    return code ?? (signal ? 1 : 0);
  } finally {
    teardown();
  }
}

module.exports = { main };
