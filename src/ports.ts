// parsePorts(): '22,80,8000-8100' -> ports. Its own module, free of the native
// addon, so the CLI can report a bad port list as a usage error without a binary.

import { describeValue } from './describe-value';

const PORT_SPEC = /^(\d+)(?:\s*-\s*(\d+))?$/;

/**
 * Parses a port list such as '22,80,8000-8100' into ports in the order given,
 * without duplicates. TypeError for a non-string, RangeError for a bad entry.
 * Linear in the length of the spec: ranges that repeat or overlap skip the
 * ports already taken instead of walking them again.
 */
export function parsePorts(spec: string): number[] {
  if (typeof spec !== 'string') throw new TypeError(`ports must be a string such as '1-1024,8080', got ${describeValue(spec)}`);
  // nextFree[p]: the lowest port >= p not taken yet (65536: none), with path compression.
  const nextFree = new Int32Array(65537);
  for (let p = 0; p <= 65536; p++) nextFree[p] = p;
  const free = (p: number): number => {
    let root = p;
    while (nextFree[root] !== root) root = nextFree[root] as number;
    while (p !== root) {
      const up = nextFree[p] as number;
      nextFree[p] = root;
      p = up;
    }
    return root;
  };
  const ports: number[] = [];
  const parts = spec.split(',');
  for (const raw of parts) {
    const part = raw.trim();
    const m = PORT_SPEC.exec(part);
    if (m === null) throw new RangeError(`ports: '${part}' is not a port or a range such as 1-1024 (in '${spec}')`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (const p of [lo, hi]) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`ports: ${p} is not a port from 1 to 65535 (in '${spec}')`);
    }
    if (hi < lo) throw new RangeError(`ports: range ${part} runs backwards (in '${spec}')`);
    for (let p = free(lo); p <= hi; p = free(p)) {
      ports.push(p);
      nextFree[p] = p + 1;
    }
  }
  return ports;
}
