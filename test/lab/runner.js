// Runs probes from inside a network namespace: `ip netns exec NS node runner.js SPEC`.
// SPEC (JSON, argv[2]): { lib, hold?: [{ host, port, count, localAddress? }],
//   probes: [{ target: [host, port] | { path }, options? }], parallel?: boolean }
// Opens the `hold` connections first and keeps them open while the probes run
// (to exhaust ports or fill a backlog), then prints one JSON array of results.
// With `holdAfterMs` the probes start first and the holds that many ms later.
'use strict';
const net = require('node:net');

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const { probe } = require(spec.lib);
  const held = [];
  const hold = async () => {
    for (const h of spec.hold ?? []) {
      for (let i = 0; i < h.count; i++) {
        const s = net.connect({ host: h.host, port: h.port, localAddress: h.localAddress });
        s.on('error', () => undefined);
        held.push(s);
        await new Promise((resolve) => {
          s.once('connect', resolve);
          s.once('error', resolve);
          setTimeout(resolve, h.waitMs ?? 1000).unref();
        });
      }
    }
  };
  let holding;
  if (spec.holdAfterMs === undefined) await hold();
  else holding = new Promise((r) => setTimeout(r, spec.holdAfterMs)).then(hold);
  const run = (p) => (Array.isArray(p.target) ? probe(p.target[0], p.target[1], p.options) : probe(p.target, p.options));
  const results = [];
  if (spec.parallel) {
    results.push(...(await Promise.all(spec.probes.map(run))));
  } else {
    for (const p of spec.probes) results.push(await run(p));
  }
  await holding;
  for (const s of held) s.destroy();
  process.stdout.write(JSON.stringify(results));
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error));
    process.exit(1);
  },
);
