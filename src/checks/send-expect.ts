// send/expect: a generic exchange for every other line protocol, as
// blackbox_exporter's query_response. Steps run in order; each may send bytes,
// may expect a line (the lines received are read one by one until one
// matches: a RegExp is tested against the line without its \r\n; a string
// must appear in it) or exact bytes (expectBytes), may then send a `reply`
// expanded from the line's match ($1, ${1}, ${name}, as Go's Regexp.Expand)
// and report `labels` expanded the same way (facts `label.<name>`). A step
// with `starttls` ends the plain part: the runner (src/checks/index.ts splits
// the steps) does the TLS handshake with the check's tls options and runs the
// steps after it over TLS. Every step matched -> ready, with the matched
// lines as facts. A step whose expectation is not met says which step and
// what came instead (facts failed_step, failed_expect: line | bytes):
//   the peer ended after sending lines that did not match -> unexpected-reply
//   bytes other than expectBytes                         -> unexpected-reply
//   the peer ended (FIN / RST) having sent nothing in that step -> closed-/reset-before-reply
//   the deadline while waiting -> the runner's no-reply (the lines read so far are in `received`)
import type * as net from 'node:net';
import { converse, notReady, PeerEnded, printable, ready, tlsPrelude, Unexpected, type Conclusion, type Exchange, type TlsPrelude } from './exchange';
import type { ProtocolCheck, ProtocolContext } from './protocol';

export interface Step {
  /** Bytes to write (a string is sent as UTF-8). */
  send?: string | Uint8Array;
  /** A line to wait for: a RegExp tested against each line, or a string that must appear in it. */
  expect?: RegExp | string;
  /** Bytes that must come next, exactly (a string is taken as latin1: one byte per character). Not with `expect`. */
  expectBytes?: string | Uint8Array;
  /** Sent once `expect` matched: a template whose $1, ${1}, ${name} are the match's groups (UTF-8). */
  reply?: string;
  /** Reported as facts `label.<name>` once `expect` matched: templates as `reply`. */
  labels?: Readonly<Record<string, string>>;
  /** After this step, the connection goes over TLS (the check's tls options). */
  starttls?: boolean;
}

/** Validates `steps` (TypeError for a wrong type, RangeError for an empty list or an empty step). */
export function validateSteps(steps: unknown): readonly Step[] {
  if (!Array.isArray(steps)) throw new TypeError(`steps must be an array of { send?, expect? }, got ${typeof steps}`);
  if (steps.length === 0) throw new RangeError('steps must hold at least one step');
  return steps.map((s: unknown, i): Step => {
    if (typeof s !== 'object' || s === null) throw new TypeError(`steps[${i}] must be an object`);
    const { send, expect, expectBytes, reply, labels, starttls } = s as Record<string, unknown>;
    if (send !== undefined && typeof send !== 'string' && !(send instanceof Uint8Array)) throw new TypeError(`steps[${i}].send must be a string or bytes`);
    if (expect !== undefined && typeof expect !== 'string' && !(expect instanceof RegExp)) throw new TypeError(`steps[${i}].expect must be a RegExp or a string`);
    if (expectBytes !== undefined && typeof expectBytes !== 'string' && !(expectBytes instanceof Uint8Array)) throw new TypeError(`steps[${i}].expectBytes must be a string or bytes`);
    if (reply !== undefined && typeof reply !== 'string') throw new TypeError(`steps[${i}].reply must be a string`);
    if (starttls !== undefined && typeof starttls !== 'boolean') throw new TypeError(`steps[${i}].starttls must be a boolean`);
    if (labels !== undefined && (typeof labels !== 'object' || labels === null || Object.values(labels).some((v) => typeof v !== 'string')))
      throw new TypeError(`steps[${i}].labels must be an object of strings`);
    if (expect !== undefined && expectBytes !== undefined) throw new RangeError(`steps[${i}] has both expect and expectBytes`);
    if (expectBytes !== undefined && expectBytes.length === 0) throw new RangeError(`steps[${i}].expectBytes is empty`);
    if ((reply !== undefined || labels !== undefined) && !(expect instanceof RegExp)) throw new RangeError(`steps[${i}]: reply and labels need a RegExp expect (they are expanded from its match)`);
    if (send === undefined && expect === undefined && expectBytes === undefined && starttls !== true) throw new RangeError(`steps[${i}] has neither send nor expect`);
    const step: Step = {};
    if (send !== undefined) step.send = send;
    if (expect !== undefined) step.expect = expect;
    if (expectBytes !== undefined) step.expectBytes = expectBytes;
    if (reply !== undefined) step.reply = reply;
    if (labels !== undefined) step.labels = labels as Record<string, string>;
    if (starttls === true) step.starttls = true;
    return step;
  });
}

/** The steps split at the first `starttls` one: those up to it (the plain prelude) and those after (over TLS); no prelude when none has it. */
export function splitAtStartTls(steps: readonly Step[]): { before: readonly Step[] | undefined; after: readonly Step[] } {
  const at = steps.findIndex((s) => s.starttls === true);
  if (at === -1) return { before: undefined, after: steps };
  if (steps.slice(at + 1).some((s) => s.starttls === true)) throw new RangeError(`steps: only one step may have starttls`);
  return { before: steps.slice(0, at + 1), after: steps.slice(at + 1) };
}

const describeExpect = (e: RegExp | string): string => (typeof e === 'string' ? JSON.stringify(e) : String(e));

/** Go's Regexp.Expand: $1, ${1}, $name, ${name} (a name: the longest run of letters, digits, _), $$ -> $; unknown groups -> ''. */
export function expandTemplate(template: string, match: RegExpExecArray): string {
  return template.replace(/\$(?:\$|\{(\w+)\}|(\w+))/g, (_all: string, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare;
    if (name === undefined) return '$';
    const group = /^\d+$/.test(name) ? match[Number(name)] : match.groups?.[name];
    return group ?? '';
  });
}

function matchLine(expect: RegExp | string, line: string): RegExpExecArray | null | boolean {
  if (typeof expect === 'string') return line.includes(expect);
  expect.lastIndex = 0; // a /g or /y RegExp keeps state between tests
  return expect.exec(line);
}

type Facts = Record<string, string | number | boolean>;

/** Runs `steps`; the index of the first one is `first` (for the words and facts). */
async function talk(ex: Exchange, steps: readonly Step[], first = 0): Promise<Conclusion> {
  const facts: Facts = {};
  for (const [j, step] of steps.entries()) {
    const i = first + j;
    const fail = (error: unknown, kind: 'line' | 'bytes'): Conclusion => {
      const at = { ...facts, failed_step: i + 1, failed_expect: kind };
      if (error instanceof PeerEnded) return notReady(error.reason, `step ${i + 1}: ${error.message}`, at);
      if (error instanceof Unexpected) return notReady('unexpected-reply', error.message, at);
      throw error;
    };
    if (step.send !== undefined) ex.send(typeof step.send === 'string' ? Buffer.from(step.send, 'utf8') : Buffer.from(step.send));
    if (step.expectBytes !== undefined) {
      const want = typeof step.expectBytes === 'string' ? Buffer.from(step.expectBytes, 'latin1') : Buffer.from(step.expectBytes);
      let got: Buffer;
      try {
        got = await ex.readBytes(want.length);
      } catch (error) {
        return fail(error, 'bytes');
      }
      if (!got.equals(want)) return fail(new Unexpected(`step ${i + 1} expected the bytes "${printable(want, 80)}", got "${printable(got, 80)}"`), 'bytes');
      facts[`step${i + 1}`] = printable(got, 256);
    }
    if (step.expect !== undefined) {
      let m: { line: string; match: RegExpExecArray | null };
      try {
        m = await expectLine(ex, step.expect, i);
      } catch (error) {
        return fail(error, 'line');
      }
      facts[`step${i + 1}`] = printable(m.line, 256);
      if (m.match !== null) {
        for (const [name, template] of Object.entries(step.labels ?? {})) facts[`label.${name}`] = expandTemplate(template, m.match);
        if (step.reply !== undefined) ex.send(Buffer.from(expandTemplate(step.reply, m.match), 'utf8'));
      }
    }
  }
  return ready(`every step matched (${steps.length} step${steps.length === 1 ? '' : 's'})`, facts);
}

/** Reads lines until one matches `expect`: the line, and the match of a RegExp. */
async function expectLine(ex: Exchange, expect: RegExp | string, i: number): Promise<{ line: string; match: RegExpExecArray | null }> {
  const seen: string[] = [];
  const hit = (line: string): { line: string; match: RegExpExecArray | null } | null => {
    const m = matchLine(expect, line);
    return m === false || m === null ? null : { line, match: m === true ? null : m };
  };
  for (;;) {
    let line: string;
    try {
      line = await ex.readLine();
    } catch (error) {
      if (!(error instanceof PeerEnded)) throw error;
      // The last line may lack its newline when the peer closes.
      const tail = ex.takePending().toString('latin1').replace(/\r$/, '');
      const m = tail === '' ? null : hit(tail);
      if (m !== null) return m;
      if (tail !== '') seen.push(tail);
      if (seen.length === 0) throw error;
      throw new Unexpected(`step ${i + 1} expected a line matching ${describeExpect(expect)}; the peer closed after ${seen.length} other line(s), the last "${printable(seen[seen.length - 1]!, 80)}"`);
    }
    const m = hit(line);
    if (m !== null) return m;
    seen.push(line);
  }
}

/** A send/expect check over `steps` (without a starttls step). */
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

/** The same check taking its steps from the options (`options.steps`; `options.first`: the number of steps the prelude ran). */
export const sendExpect: ProtocolCheck = {
  name: 'send-expect',
  defaultPort: 0,
  async run(socket: net.Socket, ctx: ProtocolContext) {
    const steps = validateSteps(ctx.options.steps);
    const first = typeof ctx.options.first === 'number' ? ctx.options.first : 0;
    return converse(socket, ctx.signal, (ex) => talk(ex, steps, first));
  },
};

/** The plain steps up to and with the starttls one, as a STARTTLS prelude: ok once they all matched. */
export function sendExpectPrelude(steps: readonly Step[]): (socket: net.Socket, signal: AbortSignal) => Promise<TlsPrelude> {
  return (socket, signal) => tlsPrelude(socket, signal, (ex) => talk(ex, steps));
}
