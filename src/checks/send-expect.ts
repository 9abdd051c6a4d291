// send/expect: a generic exchange for every other line protocol, as
// blackbox_exporter's query_response. Steps run in order; each may send bytes
// and may expect a line: the lines received are read one by one until one
// matches (a RegExp is tested against the line without its \r\n; a string must
// appear in it). Every step matched -> ready, with the matched lines as facts.
// A step whose expectation is not met says which step and what came instead:
//   the peer ended after sending lines that did not match -> unexpected-reply
//   the peer ended (FIN / RST) having sent nothing in that step -> closed-/reset-before-reply
//   the deadline while waiting -> the runner's no-reply (the lines read so far are in `received`)
import type * as net from 'node:net';
import { converse, PeerEnded, printable, ready, Unexpected, type Conclusion, type Exchange } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

export interface Step {
  /** Bytes to write (a string is sent as UTF-8). */
  send?: string | Uint8Array;
  /** A line to wait for: a RegExp tested against each line, or a string that must appear in it. */
  expect?: RegExp | string;
}

/** Validates `steps` (TypeError for a wrong type, RangeError for an empty list or an empty step). */
export function validateSteps(steps: unknown): readonly Step[] {
  if (!Array.isArray(steps)) throw new TypeError(`steps must be an array of { send?, expect? }, got ${typeof steps}`);
  if (steps.length === 0) throw new RangeError('steps must hold at least one step');
  return steps.map((s: unknown, i): Step => {
    if (typeof s !== 'object' || s === null) throw new TypeError(`steps[${i}] must be an object`);
    const { send, expect } = s as Record<string, unknown>;
    if (send !== undefined && typeof send !== 'string' && !(send instanceof Uint8Array)) throw new TypeError(`steps[${i}].send must be a string or bytes`);
    if (expect !== undefined && typeof expect !== 'string' && !(expect instanceof RegExp)) throw new TypeError(`steps[${i}].expect must be a RegExp or a string`);
    if (send === undefined && expect === undefined) throw new RangeError(`steps[${i}] has neither send nor expect`);
    return { ...(send === undefined ? {} : { send }), ...(expect === undefined ? {} : { expect }) };
  });
}

const describeExpect = (e: RegExp | string): string => (typeof e === 'string' ? JSON.stringify(e) : String(e));

function matches(expect: RegExp | string, line: string): boolean {
  if (typeof expect === 'string') return line.includes(expect);
  expect.lastIndex = 0; // a /g or /y RegExp keeps state between tests
  return expect.test(line);
}

async function talk(ex: Exchange, steps: readonly Step[]): Promise<Conclusion> {
  const facts: Record<string, string | number | boolean> = {};
  for (const [i, step] of steps.entries()) {
    if (step.send !== undefined) ex.send(typeof step.send === 'string' ? Buffer.from(step.send, 'utf8') : Buffer.from(step.send));
    if (step.expect === undefined) continue;
    const seen: string[] = [];
    for (;;) {
      let line: string;
      try {
        line = await ex.readLine();
      } catch (error) {
        if (!(error instanceof PeerEnded)) throw error;
        // The last line may lack its newline when the peer closes.
        const tail = ex.takePending().toString('latin1').replace(/\r$/, '');
        if (tail !== '' && matches(step.expect, tail)) {
          line = tail;
        } else {
          if (tail !== '') seen.push(tail);
          if (seen.length === 0) throw error;
          throw new Unexpected(`step ${i + 1} expected a line matching ${describeExpect(step.expect)}; the peer closed after ${seen.length} other line(s), the last "${printable(seen[seen.length - 1]!, 80)}"`);
        }
      }
      if (matches(step.expect, line)) {
        facts[`step${i + 1}`] = printable(line, 256);
        break;
      }
      seen.push(line);
    }
  }
  return ready(`every step matched (${steps.length} step${steps.length === 1 ? '' : 's'})`, facts);
}

/** A send/expect check over `steps`. */
export function sendExpectCheck(steps: readonly Step[]): ProtocolCheck {
  const valid = validateSteps(steps);
  return {
    name: 'send-expect',
    defaultPort: 0,
    run(socket: net.Socket, ctx: ProtocolContext) {
      return converse(socket, ctx.signal, (ex) => talk(ex, valid));
    },
  };
}

/** The same check taking its steps from the options (`options.steps`). */
export const sendExpect: ProtocolCheck = {
  name: 'send-expect',
  defaultPort: 0,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const steps = validateSteps(ctx.options.steps);
    return converse(socket, ctx.signal, (ex) => talk(ex, steps));
  },
};
