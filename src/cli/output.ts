// Where the commands write, and how: colour only on a terminal and never
// when NO_COLOR is set, and the verdict marks.
import type { Verdict } from '../explain';

/** Where the CLI writes and what it reads from the environment; the real process by default. */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** https://no-color.org: a NO_COLOR that is present and not empty turns colour off. */
export function colourOn(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const noColor = env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === '');
}

export type Paint = (code: number, text: string) => string;

export function painter(on: boolean): Paint {
  return on ? (code, text) => `\u001b[${code}m${text}\u001b[0m` : (_code, text) => text;
}

/** SGR codes. */
export const GREEN = 32;
export const RED = 31;
export const YELLOW = 33;
export const DIM = 2;
export const BOLD = 1;

const marks: Record<Verdict, { mark: string; colour: number }> = {
  pass: { mark: '✓', colour: GREEN },
  warn: { mark: '!', colour: YELLOW },
  fail: { mark: '✗', colour: RED },
  skip: { mark: '-', colour: DIM },
};

export function mark(verdict: Verdict, paint: Paint): string {
  const m = marks[verdict];
  return paint(m.colour, m.mark);
}
