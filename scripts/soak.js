#!/usr/bin/env node
// `npm run soak`: a long run of mixed probes, sampling RSS, heap and the
// descriptor count as it goes; they must stay flat. Not in CI.
//
//   npm run soak -- [--lab] [--probes N] [--minutes M] [--concurrency C] [--samples S]
//   (defaults: 1,000,000 probes, no time limit, 256 at a time, 20 samples)
//
// Loopback mix per 20 probes: 8 open, 7 refused (RST), 2 timeout (5 ms
// deadline at a silent port), 2 aborted in flight, 1 open with a 2 ms settle window.
// With --lab (`npm run soak:lab`; root, ip and nft, see soak-lab.js) the run
// happens in a client network namespace, against a server behind a router
// namespace. Mix per 20, IPv4 + IPv6: 5+1 open, 4+1 refused (RST from the
// server), 4+1 blocked (ICMP admin-prohibited from the router), 1+1 timeout
// (20 ms deadline at a port the router drops), 1+1 aborted in flight there.
// Ends with a verdict: RSS growth after warm-up under 32 MB, heap growth under
// 16 MB, no more descriptors than at the start, nothing in flight. Exit 1 if
// not (2 if the lab cannot be built).
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const lib = path.join(__dirname, '..', 'lib');
const { silentPort } = require('./silent-port');
const { probe } = require(lib);
const { native } = require(path.join(lib, 'binding.js'));

function arg(name, fallback, parse = Number) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? parse(process.argv[i + 1]) : fallback;
}
const total = arg('probes', 1_000_000);
const minutes = arg('minutes', Infinity);
const concurrency = arg('concurrency', 256);
const sampleCount = arg('samples', 20);
// Set by soak-lab.js when it runs this script inside the client namespace.
const labTargets = arg('lab-targets', null, JSON.parse);

const fds = () => fs.readdirSync('/proc/self/fd').length;
const mb = (n) => Math.round((n / 1048576) * 10) / 10;

// The kinds of probe a mix is made of, each a function that starts one.
const connect = (host, port, extra) => () => probe(host, port, { timeout: 5000, ...extra });
const deadline = (host, port, ms) => () => probe(host, port, { timeout: ms });
const aborted = (host, port) => () => {
  const ac = new AbortController();
  const p = probe(host, port, { timeout: 5000, signal: ac.signal });
  setTimeout(() => ac.abort(), 1);
  return p;
};
const times = (n, start) => Array(n).fill(start);

async function loopbackMix() {
  const server = net.createServer((s) => s.on('error', () => undefined).destroy()).listen(0, '127.0.0.1', 4096);
  await once(server, 'listening');
  const open = server.address().port;
  const gone = net.createServer().listen(0, '127.0.0.1');
  await once(gone, 'listening');
  const closed = gone.address().port;
  gone.close();
  const silent = await silentPort();
  const h = '127.0.0.1';
  return {
    slots: [...times(8, connect(h, open)), ...times(7, connect(h, closed)), ...times(2, deadline(h, silent.port, 5)),
      ...times(2, aborted(h, silent.port)), connect(h, open, { settle: 2 })],
    close: () => { server.close(); silent.close(); },
  };
}

/** t: { v4, v6, open, closed, prohibited, dropped } from soak-lab.js. */
function labMix(t) {
  const { v4, v6, open, closed, prohibited, dropped } = t;
  return {
    slots: [...times(5, connect(v4, open)), ...times(4, connect(v4, closed)), ...times(4, connect(v4, prohibited)),
      deadline(v4, dropped, 20), aborted(v4, dropped),
      connect(v6, open), connect(v6, closed), connect(v6, prohibited), deadline(v6, dropped, 20), aborted(v6, dropped)],
    close: () => undefined,
  };
}

async function main() {
  const mix = labTargets ? labMix(labTargets) : await loopbackMix();
  const { slots } = mix;
  // libuv keeps a spare descriptor (/dev/null) from its first stream on: make
  // that stdout now (the lab mix opens no stream of its own), not after the baseline.
  process.stdout.write('');
  await new Promise((r) => setTimeout(r, 200)); // let the setup's closes land before the baseline

  const counts = {};
  const samples = [];
  const t0 = Date.now();
  const endAt = t0 + minutes * 60_000;
  const fd0 = fds();
  let started = 0;
  let done = 0;
  let nextSample = 0;
  const sample = () => {
    const m = process.memoryUsage();
    const s = { probes: done, seconds: Math.round((Date.now() - t0) / 100) / 10, rssMB: mb(m.rss), heapMB: mb(m.heapUsed), fds: fds(), inFlight: native.inFlight() };
    samples.push(s);
    console.log(JSON.stringify(s));
  };
  sample();
  const step = Math.max(1, Math.floor(total / sampleCount));
  nextSample = step;

  async function one(i) {
    try {
      const r = await slots[i % slots.length]();
      const key = `${r.status}/${r.reason}`;
      counts[key] = (counts[key] || 0) + 1;
    } catch (e) {
      counts[e.name] = (counts[e.name] || 0) + 1;
    }
  }

  async function lane() {
    while (started < total && Date.now() < endAt) {
      const i = started++;
      await one(i);
      done++;
      if (done >= nextSample) {
        nextSample += step;
        sample();
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  await new Promise((r) => setTimeout(r, 100));
  if (global.gc) global.gc();
  sample();

  mix.close();
  const seconds = (Date.now() - t0) / 1000;
  const warm = samples[Math.min(2, samples.length - 1)];
  const last = samples[samples.length - 1];
  const rssGrowth = last.rssMB - warm.rssMB;
  const heapGrowth = last.heapMB - warm.heapMB;
  const maxRss = Math.max(...samples.map((s) => s.rssMB));
  const verdict = {
    where: labTargets ? 'lab' : 'loopback',
    probes: done,
    seconds: Math.round(seconds),
    perSecond: Math.round(done / seconds),
    counts,
    fdsAtStart: fd0,
    fdsAtEnd: last.fds,
    fdsMax: Math.max(...samples.map((s) => s.fds)),
    rssAfterWarmupMB: warm.rssMB,
    rssEndMB: last.rssMB,
    rssMaxMB: maxRss,
    rssGrowthMB: Math.round(rssGrowth * 10) / 10,
    heapGrowthMB: Math.round(heapGrowth * 10) / 10,
    inFlightAtEnd: last.inFlight,
  };
  // Descriptors: none more than at the start (a leak only adds; setup may still be closing some).
  const flat = rssGrowth < 32 && heapGrowth < 16 && last.fds <= fd0 && last.inFlight === 0;
  console.log(JSON.stringify({ ...verdict, flat }));
  process.exitCode = flat ? 0 : 1;
}

const running = process.argv.includes('--lab')
  ? require('./soak-lab').main(__filename, process.argv.slice(2).filter((a) => a !== '--lab')).then((code) => { process.exitCode = code; })
  : main();
running.catch((e) => {
  console.error(e);
  process.exit(1);
});
