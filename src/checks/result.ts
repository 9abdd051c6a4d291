// A check's outcome made part of the result: a ready service keeps its open
// result and gains `check`; one that is not ready becomes a not-ready result
// that keeps every TCP fact of the attempt. classify() calls this for a
// connected attempt whose check reported (raw.check).
import type { NotReadyResult, OpenResult } from '../types';
import type { CheckOutcome } from './runner';

export function withCheck(open: OpenResult, o: CheckOutcome): OpenResult | NotReadyResult {
  if (o.ready) {
    open.check = o.check;
    return open;
  }
  const r: NotReadyResult = {
    status: 'not-ready',
    reason: o.reason ?? 'unexpected-reply',
    code: o.code,
    errno: null,
    address: open.address,
    family: open.family,
    port: open.port,
    elapsedMs: open.elapsedMs,
    connectMs: open.connectMs,
    sndbuf: open.sndbuf,
    rcvbuf: open.rcvbuf,
    local: open.local,
    check: o.check,
  };
  if (open.tcp !== undefined) r.tcp = open.tcp;
  return r;
}
