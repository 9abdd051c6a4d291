// The settle check: the first check that runs on a connected socket. For
// `settle` ms after the handshake it watches what the peer does: stays quiet,
// speaks first, closes (FIN) or resets. A proxy whose backend is down accepts
// and then closes or resets; this tells it from a live service.
import * as os from 'node:os';
import type { RawOutcome } from './binding';
import type { Check, CheckRun } from './attempt';

const E = os.constants.errno;

/** A check that reports what the peer did in the first `ms` after connecting (raw.settle). */
export function settleCheck(ms: number): Check {
  return (run: CheckRun): void => {
    const { socket } = run;
    const started = performance.now();
    const stop = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('close', stop);
    };
    const end = (settle: NonNullable<RawOutcome['settle']>, errno: number): void => {
      stop();
      const raw = run.raw;
      raw.settle = settle;
      raw.settleErrno = errno;
      raw.elapsedNs += Math.round((performance.now() - started) * 1e6);
      run.finish(raw);
    };
    const onData = (): void => end('data', 0);
    const onEnd = (): void => end('fin', 0);
    const onError = (error: NodeJS.ErrnoException): void => {
      const code = error.code ?? '';
      end('reset', (E as Record<string, number | undefined>)[code] ?? E.ECONNRESET);
    };
    const timer = setTimeout(() => end('quiet', 0), ms);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    // Closed from outside (an abort, a cancel): no window left to wait for.
    socket.on('close', stop);
  };
}
