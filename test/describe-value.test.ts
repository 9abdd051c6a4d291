// The one describer behind every "got ..." of a TypeError, and that the
// argument checks of each module use it.
import * as net from 'node:net';
import { describeValue } from '../src/describe-value';
import { check, expandTargets, healthHandler, inspect, parsePorts, parseTarget, probe, probeMany } from '../src';

describe('describeValue()', () => {
  test.each<[string, unknown, string]>([
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['an array', [1, 2], 'an array'],
    ['a string (its length, never its text)', 'secret', 'a string of length 6'],
    ['a number', 5, 'number 5'],
    ['NaN', NaN, 'number NaN'],
    ['a boolean', true, 'boolean true'],
    ['a bigint', 5n, 'bigint 5'],
    ['a plain object', { a: 1 }, 'object'],
    ['an object without a prototype', Object.create(null) as object, 'object'],
    ['a class instance', new Map(), 'a Map'],
    ['a class instance whose name starts with a vowel', new AbortController(), 'an AbortController'],
    ['a function', () => 1, 'function'],
    ['a symbol', Symbol('s'), 'symbol'],
    [
      'a Proxy whose getPrototypeOf trap throws',
      new Proxy({}, { getPrototypeOf: () => { throw new Error('trap'); } }),
      'object',
    ],
  ])('%s', (_what, value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  test('the argument checks of every module say it the same way', async () => {
    const got = (f: () => unknown): string => {
      try {
        f();
      } catch (error) {
        return (error as Error).message.replace(/^.*, got /, '');
      }
      throw new Error('did not throw');
    };
    const rejected = async (p: Promise<unknown>): Promise<string> => {
      const error = await p.then(() => new Error('resolved'), (e: unknown) => e as Error);
      return error.message.replace(/^.*, got /, '');
    };
    expect(await rejected(probe(5 as never, 80))).toBe('number 5');
    expect(got(() => parsePorts(5 as never))).toBe('number 5');
    expect(got(() => expandTargets(5 as never, '80'))).toBe('number 5');
    expect(got(() => probeMany([5] as never))).toBe('number 5');
    expect(got(() => parseTarget(5 as never))).toBe('number 5');
    expect(got(() => inspect(new Map() as never))).toBe('a Map');
    expect(got(() => healthHandler([], { path: 5 as never }))).toBe('number 5');
    expect(await rejected(check([{ host: '127.0.0.1', port: 5 as never, name: 5 as never }]))).toBe('number 5');
    expect(got(() => healthHandler([], { connections: [{ name: 5 as never, socket: new net.Socket() }] }))).toBe('number 5');
  });
});
